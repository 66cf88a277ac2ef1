"""The one detector API.

Every detector is a scikit-learn style estimator over a multivariate time series
``X`` of shape ``(n_steps, n_metrics)``, rows in time order:

* ``fit(X)`` learns from (mostly normal) training data and calibrates ``threshold_`` on
  the training scores only (peaks over threshold or a target false-alarm rate);
* ``decision_function(X)`` returns one anomaly score per row -- **higher is more
  anomalous** (PyOD's convention, the opposite of scikit-learn's ``IsolationForest``);
* ``predict(X)`` returns 0/1 alerts (score above ``threshold_``);
* ``explain(X)`` returns an ``(n_steps, n_metrics)`` array of non-negative per-metric
  contributions to each row's score; :meth:`culprits` ranks them;
* ``save(path)`` / :func:`load_detector` persist a fitted detector (JSON + ``.npz``, no pickle).

Scores may be smoothed with a causal moving average over ``smoothing`` steps (the mean of
the current and previous raw scores), which works the same online; contributions are
smoothed alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.detect.thresholds import Threshold, fit_threshold
from hpcopt.errors import ConfigError, InputError

from hpcopt.core.params import ParamsMixin, clone
from hpcopt.core.progress import ProgressFn

__all__ = ["BaseDetector", "load_detector", "check_matrix", "causal_mean", "clone"]

def check_matrix(X, *, name: str = "X", n_features: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Validate a 2-D finite float matrix and return it as float64."""
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not numeric: {exc}", hint="convert metrics to numbers first") from None
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    if A.ndim != 2:
        raise InputError(f"{name} must be 2-D (time steps x metrics); got shape {A.shape}")
    if A.shape[0] < min_rows:
        raise InputError(f"{name} has {A.shape[0]} rows; at least {min_rows} needed")
    if n_features is not None and A.shape[1] != n_features:
        raise InputError(f"{name} has {A.shape[1]} metrics but the detector was fitted on {n_features}",
                         hint="score data with the same metrics, in the same order, as the training data")
    bad = ~np.isfinite(A)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"{name} has {int(bad.sum())} NaN/infinite values, "
                         f"first at row {int(r)}, metric {int(c)} (0-based)",
                         hint="fill gaps first (read_matrix(missing='ffill') or resample)")
    return A


def causal_mean(a: np.ndarray, window: int) -> np.ndarray:
    """Moving average over the current and ``window - 1`` previous rows (fewer at the start)."""
    a = np.asarray(a, dtype=np.float64)
    if window <= 1 or a.shape[0] == 0:
        return a
    c = np.cumsum(a, axis=0)
    out = c.copy()
    out[window:] = c[window:] - c[:-window]
    denom = np.minimum(np.arange(1, a.shape[0] + 1), window).astype(np.float64)
    return out / denom.reshape((-1,) + (1,) * (a.ndim - 1))


class BaseDetector(ParamsMixin):
    """Shared machinery: validation, smoothing, threshold calibration, culprits, save/load.

    Subclasses implement ``_fit(X)``, ``_raw_scores(X)`` and may override
    ``_contributions(X)`` (default: occlusion -- the drop in raw score when one metric is
    replaced by its training median). Parameters are ``__init__``'s keyword arguments:
    ``get_params`` / ``set_params`` / ``clone`` come from :class:`hpcopt.core.params.ParamsMixin`.
    """

    #: number of rows a detector needs as context before the first score (sequence models)
    context_ = 0

    @property
    def transductive(self) -> bool:
        """True when a row's score depends on the other rows scored with it (such a
        detector cannot score a stream); wrappers pass on their members' answer."""
        return False

    def __init__(self, *, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                 rate: float = 0.01, smoothing: int = 5, random_state: int | None = 0) -> None:
        self.threshold = threshold
        self.risk = risk
        self.level = level
        self.rate = rate
        self.smoothing = smoothing
        self.random_state = random_state

    # ---- validation
    def _validate_params(self) -> None:
        if self.threshold not in ("pot", "far"):
            raise ConfigError(f"The 'threshold' parameter of {type(self).__name__} must be 'pot' or 'far'; "
                              f"got {self.threshold!r} instead.")
        if not isinstance(self.smoothing, (int, np.integer)) or self.smoothing < 1:
            raise ConfigError(f"The 'smoothing' parameter of {type(self).__name__} must be an int >= 1; "
                              f"got {self.smoothing!r} instead.")

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise ConfigError(f"This {type(self).__name__} instance is not fitted yet; call fit(X) first.")

    # ---- subclass hooks
    def _fit(self, X: np.ndarray, progress: ProgressFn | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _train_raw_scores(self, X: np.ndarray) -> np.ndarray:
        """Raw scores of the training rows, for the threshold: the same as for new rows unless
        a detector's model contains the rows themselves (ECDF-based detectors count them once)."""
        return self._raw_scores(X)

    def _train_contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-metric contributions of the training rows (see :meth:`_train_raw_scores`)."""
        return self._contributions(X)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        base = self._raw_scores(X)
        out = np.empty_like(X)
        for j in range(X.shape[1]):
            Xj = X.copy()
            Xj[:, j] = self.median_[j]
            out[:, j] = np.maximum(base - self._raw_scores(Xj), 0.0)
        return out

    # ---- public API
    def fit(self, X, y=None, *, progress: ProgressFn | None = None) -> "BaseDetector":
        """Learn from ``X`` (labels ``y`` are ignored) and calibrate the threshold on its scores."""
        self._validate_params()
        X = check_matrix(X, name="training data", min_rows=max(10, self.context_ + 2))
        self.n_features_in_ = X.shape[1]
        self.median_ = np.median(X, axis=0)
        self._fit(X, progress)
        self.train_scores_ = causal_mean(self._train_raw_scores(X), self.smoothing)
        self.threshold_: Threshold = fit_threshold(self.train_scores_, self.threshold, risk=self.risk,
                                                   level=self.level, rate=self.rate)
        return self

    def decision_function(self, X) -> np.ndarray:
        """One anomaly score per row (higher = more anomalous)."""
        if not hasattr(self, "n_features_in_"):
            raise ConfigError(f"This {type(self).__name__} instance is not fitted yet; call fit(X) first.")
        X = check_matrix(X, n_features=self.n_features_in_)
        return causal_mean(self._raw_scores(X), self.smoothing)

    def predict(self, X) -> np.ndarray:
        """0/1 alerts: score above the calibrated threshold."""
        self._check_fitted()
        return (self.decision_function(X) > self.threshold_.value).astype(np.int8)

    def explain(self, X) -> np.ndarray:
        """Per-metric non-negative contributions, shape ``(n_steps, n_metrics)``."""
        self._check_fitted()
        X = check_matrix(X, n_features=self.n_features_in_)
        return causal_mean(self._contributions(X), self.smoothing)

    def culprits(self, X, k: int = 5, *, names: list[str] | None = None) -> list[list[tuple[str | int, float]]]:
        """For each row, the ``k`` metrics with the largest contributions, largest first."""
        C = self.explain(X)
        order = np.argsort(-C, axis=1, kind="stable")[:, :k]
        lab = names if names is not None else list(range(C.shape[1]))
        return [[(lab[j], float(C[i, j])) for j in row] for i, row in enumerate(order)]

    @property
    def threshold_value_(self) -> float:
        self._check_fitted()
        return self.threshold_.value

    # ---- persistence (hpcopt.detect.model_file: JSON + .npz in one zip, checksummed)
    def _saved_state(self) -> dict[str, Any]:
        """The attributes a saved file holds; a subclass swaps in plain arrays for objects
        that are not (a torch module, say)."""
        return dict(vars(self))

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_saved_state` on a bare instance; a subclass checks what native
        code would otherwise trust (array shapes, tree indices) and raises on any mismatch."""
        self.__dict__.update(state)

    def save(self, path: str | Path) -> Path:
        """Save the fitted detector to one file (a zip of JSON and .npz with SHA-256
        checksums), atomically; :func:`load_detector` reads it back."""
        from hpcopt.detect.model_file import save_detector

        self._check_fitted()
        return save_detector(self, path)


def load_detector(path: str | Path) -> BaseDetector:
    """Load a detector written by :meth:`BaseDetector.save`; damage is an InputError.

    Pickles written by older hpcopt versions are refused (loading a pickle runs any code
    it holds); re-fit such a detector.
    """
    from hpcopt.detect.model_file import load_detector as _load

    return _load(path)
