"""Detectors backed by PyOD (Zhao, Nasrullah and Li, JMLR 2019; PyOD 2.x) behind the one API.

* ``hbos`` -- histogram-based outlier score (Goldstein and Dengel 2012): per-metric
  histograms of the training data; a row's score is the sum of ``-log`` densities. Each
  row is scored against the training histograms only, so scores are causal and stream.
* ``loda`` -- lightweight on-line detector of anomalies (Pevny 2016): histograms on random
  one-dimensional projections of the training data; causal like HBOS. Seeded by
  ``random_state`` (LODA draws its projections from numpy's global generator, so it is
  seeded around ``fit``).
* ``ecod`` (Li et al., TKDE 2022) and ``copod`` (Li et al., ICDM 2020) -- empirical
  cumulative distribution functions per metric; the per-metric tail scores (PyOD's ``O``)
  are the contributions and sum to the score. PyOD estimates their ECDFs on the training
  data *plus all the rows being scored*, so a row's score depends on the other rows of the
  same call (transductive). By default (``ecdf_reference="train"``) hpcopt scores each row
  as PyOD would score that row alone: the ECDFs are the training data plus the row itself,
  ``(#{train <= x} + 1) / (n + 1)``, and the skewness signs are those of the training data
  plus the row (from the training power sums). The scores are then causal, equal PyOD's
  one-row scores (except where a metric is constant over the training data and the row,
  where PyOD gets NaN and hpcopt counts both tails), and stream. The training rows'
  own scores, on which the threshold is calibrated, count each row once (``#{train <= x} /
  n``, PyOD's in-sample scores): counting it twice would bias the threshold low.
  ``ecdf_reference="train+scored"`` keeps PyOD's batch behaviour (``ecod_batch``,
  ``copod_batch``): fine for batch evaluation (no labels are used) but not causal, so
  :class:`~hpcopt.detect.stream.StreamScorer` refuses it.

Inputs are standardised with the training mean and (floored) standard deviation and clipped
at ``+-clip`` like the other detectors. Install with ``pip install 'hpcopt[detect]'``.
"""

from __future__ import annotations

import warnings

import numpy as np

from hpcopt.detect.base import BaseDetector
from hpcopt.detect.detectors import _check_pos, standard_scale
from hpcopt.errors import ConfigError, require

__all__ = ["PyODDetector", "PYOD_MODELS", "ECDF_MODELS", "ECDF_REFERENCES"]

PYOD_MODELS = {"hbos": ("pyod.models.hbos", "HBOS"), "loda": ("pyod.models.loda", "LODA"),
               "ecod": ("pyod.models.ecod", "ECOD"), "copod": ("pyod.models.copod", "COPOD")}
ECDF_MODELS = ("ecod", "copod")
#: what the ECDFs of ECOD/COPOD are estimated on: the training data plus the scored row
#: (causal), or PyOD's training data plus every row of the call (transductive)
ECDF_REFERENCES = ("train", "train+scored")


class PyODDetector(BaseDetector):
    """A PyOD model (``model``: hbos, loda, ecod, copod) with hpcopt's thresholds, culprits and save/load.

    ``model_params`` go to the PyOD constructor (e.g. ``{"n_bins": 20}``). Contributions:
    PyOD's per-metric tail scores for ECOD/COPOD, occlusion (the drop in score when a metric
    is set to its training median) for HBOS and LODA. ``ecdf_reference`` (ECOD/COPOD only):
    ``"train"`` (causal, the default) or ``"train+scored"`` (PyOD's transductive batch scores).
    """

    def __init__(self, *, model: str = "hbos", model_params: dict | None = None, min_scale: float = 0.01,
                 clip: float = 10.0, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                 rate: float = 0.01, smoothing: int = 5, ecdf_reference: str = "train",
                 random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.model = model
        self.model_params = model_params
        self.ecdf_reference = ecdf_reference
        self.min_scale = min_scale
        self.clip = clip

    @property
    def transductive(self) -> bool:
        """True when a row's score depends on the other rows scored with it (PyOD's batch ECOD, COPOD)."""
        return self.model in ECDF_MODELS and self.ecdf_reference == "train+scored"

    @property
    def _causal_ecdf(self) -> bool:
        return self.model in ECDF_MODELS and self.ecdf_reference == "train"

    def _fit(self, X, progress):
        if self.model not in PYOD_MODELS:
            raise ConfigError(f"The 'model' parameter of PyODDetector must be one of {', '.join(PYOD_MODELS)}; "
                              f"got {self.model!r} instead.")
        if self.ecdf_reference not in ECDF_REFERENCES:
            raise ConfigError(f"The 'ecdf_reference' parameter of PyODDetector must be one of "
                              f"{', '.join(ECDF_REFERENCES)}; got {self.ecdf_reference!r} instead.")
        if self.model not in ECDF_MODELS and self.ecdf_reference != "train":
            raise ConfigError(f"'ecdf_reference' applies to {' and '.join(ECDF_MODELS)} only; {self.model} scores "
                              "every row against its training model already. Leave it at 'train'.")
        _check_pos(self, "min_scale", self.min_scale)
        _check_pos(self, "clip", self.clip)
        self.mean_, self.scale_ = standard_scale(X, self.min_scale)
        if self._causal_ecdf:
            # PyOD's estimator is not needed: the training ECDFs and moments are all there is
            if self.model_params:
                raise ConfigError(f"model_params {sorted(self.model_params)} would have no effect on the causal "
                                  f"{self.model} (PyOD's estimator is not used); use {self.model}_batch to pass "
                                  "them to PyOD")
            Z = self._z(X)
            self.sorted_train_ = np.sort(Z, axis=0)
            self.power_sums_ = np.vstack([Z.sum(axis=0), (Z ** 2).sum(axis=0), (Z ** 3).sum(axis=0)])
            return
        module, cls = PYOD_MODELS[self.model]
        mod = require(module, "detect")
        try:
            est = getattr(mod, cls)(**(self.model_params or {}))
        except TypeError as exc:
            raise ConfigError(f"bad model_params for PyOD {cls}: {exc}") from None
        state = np.random.get_state()
        np.random.seed(0 if self.random_state is None else int(self.random_state))
        try:
            with warnings.catch_warnings():  # scipy warns about metrics constant in training
                warnings.simplefilter("ignore", RuntimeWarning)
                est.fit(self._z(X))
        finally:
            np.random.set_state(state)
        self.estimator_ = est

    @staticmethod
    def _moment_skew_sign(s1, s2, s3, n) -> np.ndarray:
        """Sign of the (biased, as scipy's and PyOD's) skewness from power sums over ``n`` rows;
        0 where the values are constant (PyOD gets NaN there)."""
        mean, e2, e3 = s1 / n, s2 / n, s3 / n
        m2 = e2 - mean ** 2
        m3 = e3 - 3.0 * mean * e2 + 2.0 * mean ** 3
        return np.where(m2 > 1e-24, np.sign(m3), 0.0)

    def _skew_sign(self, Z: np.ndarray | None = None) -> np.ndarray:
        """Each metric's skewness sign over the training rows (``Z`` None) or over the training
        rows plus each row of ``Z`` -- what PyOD computes on the data it is given."""
        s1, s2, s3 = self.power_sums_
        n = self.sorted_train_.shape[0]
        if Z is None:
            return self._moment_skew_sign(s1, s2, s3, n)
        return self._moment_skew_sign(s1 + Z, s2 + Z ** 2, s3 + Z ** 3, n + 1.0)

    def _tail_scores(self, X, *, in_sample: bool = False) -> np.ndarray:
        """Per-metric tail scores ``O`` of ECOD/COPOD: each row against the training ECDFs plus
        itself. ``in_sample=True`` for the training rows themselves, which are already in the
        ECDFs: counted once (``#{train <= x} / n``, PyOD's in-sample scores), not twice, so
        that the threshold calibrated on them is not biased low."""
        Z = self._z(X)
        S = self.sorted_train_
        n = S.shape[0]
        below = np.empty_like(Z)
        above = np.empty_like(Z)
        for j in range(Z.shape[1]):  # #{train <= x} and #{train >= x}, ties included as PyOD counts them
            below[:, j] = np.searchsorted(S[:, j], Z[:, j], side="right")
            above[:, j] = n - np.searchsorted(S[:, j], Z[:, j], side="left")
        extra = 0.0 if in_sample else 1.0
        u_left = -np.log((below + extra) / (n + extra))
        u_right = -np.log((above + extra) / (n + extra))
        sk = self._skew_sign(None if in_sample else Z)
        u_skew = u_left * -np.sign(sk - 1) + u_right * np.sign(sk + 1)
        if self.model == "ecod":
            return np.maximum(u_skew, np.maximum(u_left, u_right))
        return np.maximum(u_skew, (u_left + u_right) / 2.0)

    def _train_raw_scores(self, X):
        if self._causal_ecdf:
            return self._tail_scores(X, in_sample=True).sum(axis=1)
        return super()._train_raw_scores(X)

    def _train_contributions(self, X):
        if self._causal_ecdf:
            return self._tail_scores(X, in_sample=True)
        return super()._train_contributions(X)

    def _restore_state(self, state) -> None:
        super()._restore_state(state)
        if "n_features_in_" not in state:  # an unfitted member or wrapped template
            return
        if self.model not in PYOD_MODELS or self.ecdf_reference not in ECDF_REFERENCES:
            raise ValueError(f"unknown PyOD model {self.model!r} or ecdf_reference {self.ecdf_reference!r}")
        n = int(self.n_features_in_)
        shapes = {"mean_": (n,), "scale_": (n,)}
        if self._causal_ecdf:
            shapes["power_sums_"] = (3, n)
            S = getattr(self, "sorted_train_", None)
            if not isinstance(S, np.ndarray) or S.ndim != 2 or S.shape[1] != n or S.shape[0] < 1 \
                    or np.any(np.diff(S, axis=0) < 0):
                raise ValueError("sorted_train_ must be the sorted training rows, one column per metric")
        else:
            self._check_estimator(n)
        for name, shape in shapes.items():
            a = getattr(self, name, None)
            if not isinstance(a, np.ndarray) or a.shape != shape:
                raise ValueError(f"{name} must be an array of shape {shape}")

    def _check_estimator(self, n: int) -> None:
        """PyOD's HBOS and LODA index their histograms in compiled loops: their shapes must agree."""
        module, cls = PYOD_MODELS[self.model]
        est = getattr(self, "estimator_", None)
        if type(est).__name__ != cls or type(est).__module__ != module:
            raise ValueError(f"estimator_ must be PyOD's {cls} for model {self.model!r}")

        def arr(name, ndim):
            a = getattr(est, name, None)
            if not isinstance(a, np.ndarray) or a.ndim != ndim or a.dtype.kind != "f":
                raise ValueError(f"{cls}.{name} must be a {ndim}-D float array")
            return a

        if self.model == "hbos":
            if isinstance(est.n_bins, str):
                hist, edges = est.hist_, est.bin_edges_
                if not (isinstance(hist, list) and isinstance(edges, list) and len(hist) == len(edges) == n
                        and all(isinstance(h, np.ndarray) and isinstance(e, np.ndarray) and h.ndim == e.ndim == 1
                                and e.size == h.size + 1 for h, e in zip(hist, edges))):
                    raise ValueError("HBOS histograms do not match their bin edges")
            else:
                b = est.n_bins
                if not isinstance(b, int) or arr("hist_", 2).shape != (b, n) or arr("bin_edges_", 2).shape != (b + 1, n):
                    raise ValueError(f"HBOS hist_/bin_edges_ must have shapes ({b}, {n}) and ({b}+1, {n})")
        elif self.model == "loda":
            k, b = est.n_random_cuts, est.n_bins
            if not isinstance(k, int) or not isinstance(b, int) or arr("projections_", 2).shape != (k, n) \
                    or arr("histograms_", 2).shape != (k, b) or arr("limits_", 2).shape != (k, b + 1) \
                    or arr("weights", 1).shape != (k,):
                raise ValueError(f"LODA projections_/histograms_/limits_/weights do not match {k} cuts of {b} bins")
        elif arr("X_train", 2).shape[1] != n:
            raise ValueError(f"{cls}.X_train must have {n} columns")

    def _z(self, X):
        return np.clip((X - self.mean_) / self.scale_, -self.clip, self.clip)

    def _raw_scores(self, X):
        if self._causal_ecdf:
            return self._tail_scores(X).sum(axis=1)
        return np.asarray(self.estimator_.decision_function(self._z(X)), dtype=np.float64)

    def _contributions(self, X):
        if self._causal_ecdf:
            return self._tail_scores(X)
        if self.transductive:
            self.estimator_.decision_function(self._z(X))
            return np.maximum(np.asarray(self.estimator_.O, dtype=np.float64)[-X.shape[0]:], 0.0)
        return super()._contributions(X)
