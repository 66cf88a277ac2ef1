"""Anomaly detection in node telemetry: detectors with one API, label-free thresholds,
culprit metrics, honest evaluation and online scoring.

>>> from hpcopt.detect import make_detector
>>> det = make_detector("pca", random_state=0)          # doctest: +SKIP
>>> det.fit(train).predict(test)                         # doctest: +SKIP
"""

from __future__ import annotations

from hpcopt.detect.base import BaseDetector, load_detector
from hpcopt.detect.detectors import (
    EnsembleDetector,
    IForestDetector,
    MADDetector,
    MetricNormDetector,
    PCADetector,
    RandomDetector,
    RecentredDetector,
)
from hpcopt.detect.defaults import DEFAULT_CONFIG
from hpcopt.detect.thresholds import Threshold, far_threshold, pot_threshold
from hpcopt.core.registry import Registry
from hpcopt.errors import ConfigError

__all__ = ["BaseDetector", "load_detector", "make_detector", "DETECTORS", "DEFAULT_CONFIG", "RandomDetector", "MADDetector",
           "PCADetector", "IForestDetector", "EnsembleDetector", "RecentredDetector",
           "MetricNormDetector", "Threshold", "far_threshold", "pot_threshold"]


def _sequence(**params):
    from hpcopt.detect.sequence import SequenceAEDetector

    return SequenceAEDetector(**params)


def _pyod(model, name=None, **fixed):
    def factory(**params):
        from hpcopt.detect.pyod_detectors import PyODDetector

        if "model" in params:
            raise ConfigError(f"{name or model} is PyOD's {model}; it takes no 'model' parameter. "
                              f"Name the detector you want instead (hbos, loda, ecod, copod).")
        for k, v in fixed.items():  # a named variant is defined by these: never override them silently
            if k in params and params[k] != v:
                raise ConfigError(f"{name} is {model} with {k}={v!r}; got {k}={params[k]!r}. "
                                  f"To change {k}, use {model!r} with {k}={params[k]!r}.")
        return PyODDetector(model=model, **{**params, **fixed})

    factory.__name__ = f"PyODDetector[{model}{''.join(f', {v}' for v in fixed.values())}]"
    return factory


def _metric_norm(base: str, reduce: str):
    """``<base>_<reduce>``: the base detector's per-metric residuals, each normalised on its
    training scale, reduced by ``reduce`` (:class:`MetricNormDetector`)."""

    def factory(**params):
        outer = {k: params.pop(k) for k in _WRAPPER_PARAMS if k in params}
        norm = {k: params.pop(k) for k in ("k", "quantile") if k in params}
        inner = DETECTORS[base](random_state=outer.get("random_state", 0), **params)
        return MetricNormDetector(detector=inner, reduce=reduce, **norm, **outer)

    factory.__name__ = f"MetricNormDetector[{base}, {reduce}]"
    return factory


#: every detector by name (hpcopt.core.registry: "did you mean", plugins "detector.<name>")
DETECTORS: Registry = Registry("detector")
for _name, _factory, _help in (
        ("random", RandomDetector, "random scores: the chance baseline (batch only)"),
        ("mad", MADDetector, "per-metric robust z-scores (median / MAD), optional change term"),
        ("pca", PCADetector, "PCA reconstruction error, optional recentring"),
        ("iforest", IForestDetector, "Isolation Forest"),
        ("ensemble", EnsembleDetector, "train-normalised mean of MAD, PCA and Isolation Forest"),
        ("lstm", _sequence, "LSTM sequence autoencoder (torch)"),
        ("hbos", _pyod("hbos"), "PyOD HBOS (causal)"),
        ("loda", _pyod("loda"), "PyOD LODA (causal)"),
        ("ecod", _pyod("ecod"), "PyOD ECOD, each row against the training ECDFs (causal)"),
        ("copod", _pyod("copod"), "PyOD COPOD, each row against the training ECDFs (causal)"),
        ("ecod_batch", _pyod("ecod", "ecod_batch", ecdf_reference="train+scored"),
         "PyOD ECOD's transductive batch scores (not for streams)"),
        ("copod_batch", _pyod("copod", "copod_batch", ecdf_reference="train+scored"),
         "PyOD COPOD's transductive batch scores (not for streams)")):
    DETECTORS.register(_name, _factory, help=_help)


def _pair(first: str, second: str):
    """An :class:`EnsembleDetector` of two named detectors (train-normalised mean of their scores);
    ``n_threads`` goes to the lstm member; members keep their defaults otherwise (build an
    :class:`EnsembleDetector` directly for other member settings)."""

    def factory(**params):
        outer = {k: params.pop(k) for k in _WRAPPER_PARAMS if k in params}
        threads = {"n_threads": params.pop("n_threads")} if "n_threads" in params else {}
        if params:
            raise ConfigError(f"{first}_{second.split('_')[0]} takes only threshold, smoothing, seed and n_threads "
                              f"parameters; got {sorted(params)}")
        seed = outer.get("random_state", 0)
        members = [DETECTORS[name](random_state=seed, **(threads if name.startswith("lstm") else {}))
                   for name in (first, second)]
        return EnsembleDetector(detectors=members, **outer)

    factory.__name__ = f"EnsembleDetector[{first}, {second}]"
    return factory


for _base in ("lstm", "pca", "mad"):
    for _reduce in ("max", "mean"):
        DETECTORS.register(f"{_base}_{_reduce}", _metric_norm(_base, _reduce),
                           help=f"{_base}'s per-metric residuals on their training scales, reduced by {_reduce}")
DETECTORS.register("lstm_pca", _pair("lstm", "pca"), help="train-normalised mean of lstm and pca")
DETECTORS.register("lstm_pca_max", _pair("lstm_max", "pca_max"), help="train-normalised mean of lstm_max and pca_max")


_WRAPPER_PARAMS = ("threshold", "risk", "level", "rate", "smoothing", "random_state")


def make_detector(name: str, **params) -> BaseDetector:
    """Build a detector by name: random, mad, pca, iforest, ensemble, lstm, and the PyOD-backed
    hbos, loda, ecod, copod (causal) and ecod_batch, copod_batch (PyOD's transductive batch
    scores; see :mod:`hpcopt.detect.pyod_detectors`), and ``lstm_max``,
    ``lstm_mean``, ``pca_max``, ``pca_mean``, ``mad_max``, ``mad_mean``: the base detector's
    per-metric residuals normalised on their training scales and reduced by max or mean
    (:class:`MetricNormDetector`; ``k`` and ``quantile`` go to the wrapper); ``lstm_pca`` and
    ``lstm_pca_max``: :class:`EnsembleDetector` of those two (with ``recenter_window`` the
    whole ensemble is recentred, i.e. both members).

    ``recenter_window=N`` with any detector but ``pca`` (which has it built in) wraps the
    detector in :class:`RecentredDetector` (window ``N``); the threshold, smoothing and
    seed parameters then belong to the wrapper.
    """
    factory = DETECTORS.get(name)
    window = params.pop("recenter_window", None) if name != "pca" else None
    try:
        if window:
            outer = {k: params.pop(k) for k in _WRAPPER_PARAMS if k in params}
            inner = factory(random_state=outer.get("random_state", 0), **params)
            return RecentredDetector(detector=inner, window=int(window), **outer)
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for detector {name!r}: {exc}") from None
