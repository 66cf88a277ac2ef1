"""Thresholds chosen without labels, from training scores only.

* :func:`pot_threshold` -- peaks over threshold (extreme value theory): fit a generalised
  Pareto distribution to the excesses of the scores over a high empirical quantile and
  return the score whose exceedance probability is ``risk`` (Siffer et al., KDD 2017,
  "Anomaly detection in streams with extreme value theory", the batch POT step).
* :func:`far_threshold` -- the empirical ``1 - rate`` quantile: on data like the training
  scores, about ``rate`` of the time steps raise an alert.

Neither ever sees a test label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import numpy as np

from hpcopt.errors import ConfigError, InputError

__all__ = ["Threshold", "pot_threshold", "far_threshold", "fit_threshold"]


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold and how it was obtained."""

    value: float
    method: str
    params: dict
    n_calibration: int
    details: dict

    def as_dict(self) -> dict:
        return asdict(self)


def _check_scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise InputError("no calibration scores")
    if not np.isfinite(s).all():
        raise InputError(f"{int((~np.isfinite(s)).sum())} calibration scores are NaN or infinite")
    return s


def far_threshold(scores, rate: float = 0.01) -> Threshold:
    """The empirical ``1 - rate`` quantile of the calibration scores."""
    if not 0.0 < rate < 1.0:
        raise ConfigError(f"The 'rate' of far_threshold must be in (0, 1); got {rate!r} instead.")
    s = _check_scores(scores)
    value = float(np.quantile(s, 1.0 - rate, method="higher"))
    return Threshold(value, "far", {"rate": rate}, int(s.size), {"calibration_alarm_rate": float((s > value).mean())})


def _gpd_fit(y: np.ndarray) -> tuple[float, float, str]:
    """Fit a GPD with location 0 to positive excesses ``y``; return (shape, scale, how)."""
    from scipy import stats

    mean, var = float(y.mean()), float(y.var())
    try:
        with np.errstate(all="ignore"):
            c, _, scale = stats.genpareto.fit(y, floc=0.0)
        if np.isfinite(c) and np.isfinite(scale) and scale > 0:
            return float(c), float(scale), "mle"
    except Exception:  # pragma: no cover - scipy optimiser failure, fall back below
        pass
    # method of moments (valid for shape < 1/2)
    if var <= 0:
        return 0.0, max(mean, 1e-12), "moments"
    c = 0.5 * (1.0 - mean * mean / var)
    scale = 0.5 * mean * (mean * mean / var + 1.0)
    return float(c), float(scale), "moments"


def pot_threshold(scores, risk: float = 1e-3, level: float = 0.98, min_excesses: int = 20) -> Threshold:
    """Peaks-over-threshold: the score exceeded with probability ``risk`` under a GPD tail.

    ``level`` sets the initial threshold ``t`` (its empirical quantile); excesses over
    ``t`` are fitted by maximum likelihood (scipy's ``genpareto``, location 0; method of
    moments if that fails), and the result is
    ``t + scale/shape * ((risk * n / n_t) ** -shape - 1)`` (``t - scale * log(risk * n / n_t)``
    when the shape is 0). With fewer than ``min_excesses`` excesses, or a ``risk`` not
    below ``1 - level``, it falls back to the empirical ``1 - risk`` quantile and says so.
    """
    if not 0.0 < risk < 1.0:
        raise ConfigError(f"The 'risk' of pot_threshold must be in (0, 1); got {risk!r} instead.")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"The 'level' of pot_threshold must be in (0, 1); got {level!r} instead.")
    s = _check_scores(scores)
    n = s.size
    t = float(np.quantile(s, level))
    y = s[s > t] - t
    params = {"risk": risk, "level": level}
    if y.size < min_excesses or risk >= 1.0 - level:
        value = float(np.quantile(s, 1.0 - risk, method="higher"))
        return Threshold(value, "pot", params, int(n),
                         {"fallback": "empirical quantile", "n_excesses": int(y.size), "initial": t})
    shape, scale, how = _gpd_fit(y)
    r = risk * n / y.size
    if abs(shape) < 1e-8:
        value = t - scale * math.log(r)
    else:
        value = t + scale / shape * (r ** (-shape) - 1.0)
    details = {"initial": t, "n_excesses": int(y.size), "gpd_shape": shape, "gpd_scale": scale, "fit": how}
    if not math.isfinite(value) or value < t:
        value = float(np.quantile(s, 1.0 - risk, method="higher"))
        details["fallback"] = "empirical quantile (GPD quantile not finite)"
    details["calibration_alarm_rate"] = float((s > value).mean())
    return Threshold(float(value), "pot", params, int(n), details)


def fit_threshold(scores, method: str = "pot", *, risk: float = 1e-3, level: float = 0.98,
                  rate: float = 0.01) -> Threshold:
    """Dispatch on ``method``: ``"pot"`` or ``"far"``."""
    if method == "pot":
        return pot_threshold(scores, risk=risk, level=level)
    if method == "far":
        return far_threshold(scores, rate=rate)
    raise ConfigError(f"The 'threshold' parameter must be 'pot' or 'far'; got {method!r} instead.")
