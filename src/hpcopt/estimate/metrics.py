"""Accuracy of runtime estimates, side by side for several estimators."""

from __future__ import annotations

import numpy as np

FREQUENT_USER_JOBS = 10  # completed jobs of the same user known at submit time


def tsafrir_accuracy(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per job min(p, a) / max(p, a) (Tsafrir et al. 2007); 1 when both are 0."""
    p = np.maximum(pred, 0.0)
    a = np.maximum(actual, 0.0)
    hi = np.maximum(p, a)
    return np.where(hi > 0, np.minimum(p, a) / np.where(hi > 0, hi, 1.0), 1.0)


def accuracy_metrics(pred, actual, lower=None, upper=None) -> dict:
    pred = np.asarray(pred, dtype=float)
    actual = np.asarray(actual, dtype=float)
    err = np.abs(pred - actual)
    out = {
        "jobs": int(len(actual)),
        "mae": float(err.mean()) if len(err) else None,
        "median_ae": float(np.median(err)) if len(err) else None,
        "accuracy": float(tsafrir_accuracy(pred, actual).mean()) if len(err) else None,
        "underestimation_rate": float((pred < actual).mean()) if len(err) else None,
    }
    if lower is not None and upper is not None and len(err):
        lo, hi = np.asarray(lower, float), np.asarray(upper, float)
        out["coverage"] = float(((actual >= lo) & (actual <= hi)).mean())
        out["mean_interval_width"] = float((hi - lo).mean())
    return out


def grouped_metrics(pred, actual, user_history, lower=None, upper=None) -> dict:
    """Overall, new users (no completed job known) and frequent users."""
    groups = {
        "all": np.ones(len(actual), dtype=bool),
        "new_users": user_history == 0,
        "frequent_users": user_history >= FREQUENT_USER_JOBS,
    }
    out = {}
    for name, m in groups.items():
        lo = None if lower is None else np.asarray(lower)[m]
        hi = None if upper is None else np.asarray(upper)[m]
        out[name] = accuracy_metrics(np.asarray(pred)[m], np.asarray(actual)[m], lo, hi)
    return out
