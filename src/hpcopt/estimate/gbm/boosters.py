"""LightGBM parts of :class:`~hpcopt.estimate.gbm.GBMEstimator`: the point model's
boosters and losses, the per-job explanation, and feature-table helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hpcopt.errors import InputError, require

class PointModel:
    """The point model's boosters, whose raw outputs add up.

    ``boosters[0]`` alone (L2 or L1), or a median model refined by a mode-seeking one
    (``boosters[1]``) that starts from ``init_col`` -- Tsafrir's estimate among the
    features -- where it is known, and from the median model elsewhere."""

    def __init__(self, boosters: list, init_col: int | None = None) -> None:
        self.boosters = boosters
        self.init_col = init_col

    def _base_mask(self, X: np.ndarray) -> np.ndarray:
        if self.init_col is None:
            return np.zeros(len(X), dtype=bool)
        return np.isfinite(X[:, self.init_col])

    def predict(self, X: np.ndarray, pred_contrib: bool = False, num_threads: int = 1) -> np.ndarray:
        first = self.boosters[0].predict(X, pred_contrib=pred_contrib, num_threads=num_threads)
        if len(self.boosters) == 1:
            return first
        out = self.boosters[1].predict(X, pred_contrib=pred_contrib, num_threads=num_threads)
        use = self._base_mask(X)
        if not pred_contrib:
            return out + np.where(use, X[:, self.init_col] if use.any() else 0.0, first)
        base = first.copy()
        if use.any():
            base[use] = 0.0
            base[use, self.init_col] = X[use, self.init_col]
        return out + base


def welsch_loss(scale: float):
    """Welsch (correntropy) loss 1 - exp(-d^2 / 2s^2) on the log error d: mode-seeking,
    which suits Tsafrir's accuracy exp(-|d|) on runtimes that are often bimodal (a job
    fails at once or runs long). The Hessian is floored so that Newton steps stay finite."""
    s2 = scale * scale

    def objective(pred, data):
        d = pred - data.get_label()
        e = np.exp(-d * d / (2 * s2))
        grad = d / s2 * e
        hess = np.maximum((1 - d * d / s2) * e / s2, 1e-2 / s2)
        return grad, hess

    return objective


def accuracy_loss(eps: float = 0.1):
    """Tsafrir's accuracy itself as a loss: 1 - exp(-|d|) on the log error d (|d| smoothed
    to sqrt(d^2 + eps^2) at 0). It is concave away from 0, so the Hessian is floored
    (a damped gradient step there)."""

    def objective(pred, data):
        d = pred - data.get_label()
        r = np.sqrt(d * d + eps * eps)
        e = np.exp(-r)
        grad = e * d / r
        hess = np.maximum(np.maximum(e * (eps * eps / r**3 - d * d / (r * r)), 0.5 * e), 0.05)
        return grad, hess

    return objective


def load_lightgbm():
    return require("lightgbm", "estimate")


@dataclass
class Explanation:
    """Per-job feature contributions in log1p(seconds): ``bias + contributions.sum(1)``
    equals ``prediction_log`` (before the cap at the requested time)."""

    values: pd.DataFrame  # the features
    contributions: pd.DataFrame  # one column per feature
    bias: np.ndarray
    prediction_log: np.ndarray

    def top(self, i: int, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` largest contributions (by magnitude) for the ``i``-th job."""
        c = self.contributions.iloc[i]
        order = np.argsort(-np.abs(c.to_numpy()))[:k]
        out = []
        for j in order:
            name = self.contributions.columns[j]
            v = self.values.iloc[i][name]
            out.append({"feature": name, "value": None if pd.isna(v) else float(v),
                        "contribution": float(c.iloc[j])})
        return out


def categorical_names() -> set[str]:
    from hpcopt.estimate.features import CATEGORICAL_COLUMNS, STRING_COLUMNS

    return set(CATEGORICAL_COLUMNS) | set(STRING_COLUMNS)


def is_workload(X) -> bool:
    from hpcopt.data.workload import Workload

    return isinstance(X, Workload)


def as_frame(X, names: list[str] | None, allow_missing: bool = False) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"X must be a 2-D feature table; got shape {arr.shape}")
        if names is not None and arr.shape[1] != len(names):
            raise InputError(f"X has {arr.shape[1]} columns; the model has {len(names)} features: {', '.join(names)}")
        frame = pd.DataFrame(arr, columns=names if names is not None else [f"f{i}" for i in range(arr.shape[1])])
    if names is not None:
        missing = [c for c in names if c not in frame.columns]
        if missing and not allow_missing:
            raise InputError(f"X lacks features the model was trained with: {', '.join(missing)}",
                             hint="predict anyway with allow_missing=True: they are left empty")
        frame = frame.reindex(columns=names)
    try:
        frame = frame.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"X must hold numbers only ({exc})") from None
    return frame


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return "sha256:" + h.hexdigest()
