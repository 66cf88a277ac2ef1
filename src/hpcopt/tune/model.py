"""A surrogate cost model: predicts a configuration's objective from its parameters.

Follows the scikit-learn estimator contract (``__init__`` stores, ``fit`` learns, learned
state ends in ``_``). It works on encoded parameters (see :meth:`SearchSpace.encode`) and
fits a random forest on ``log(objective)``. :func:`evaluate_cost_model` reports its error
on held-out configurations: median absolute percentage error and Spearman rank
correlation, next to the error of predicting the training median for everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpcopt.errors import InputError, require
from hpcopt.tune.space import SearchSpace


class CostModel:
    """Random-forest cost model over a search space's encoded parameters."""

    def __init__(self, space: SearchSpace, n_estimators: int = 200, min_samples_leaf: int = 1,
                 random_state: int | None = 0) -> None:
        self.space = space
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def fit(self, configs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> "CostModel":
        require("sklearn", "tune")
        from sklearn.ensemble import RandomForestRegressor

        y = np.asarray(values, dtype=float)
        if len(configs) != y.size:
            raise InputError(f"{len(configs)} configurations but {y.size} values", field="values")
        if y.size < 2:
            raise InputError("the cost model needs at least two measured configurations", field="values")
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise InputError("values must be finite and positive (times)", field="values")
        X = self.space.encode(configs)
        self.model_ = RandomForestRegressor(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                            random_state=self.random_state, n_jobs=1).fit(X, np.log(y))
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.array(self.space.names)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise InputError("the cost model is not fitted", hint="call fit first")
        return np.exp(self.model_.predict(self.space.encode(configs)))

    def importance(self) -> dict[str, float]:
        imp = self.model_.feature_importances_
        return {n: float(v) for n, v in zip(self.space.names, imp)}


def evaluate_cost_model(space: SearchSpace, configs: Sequence[Mapping[str, Any]], values: Sequence[float], *,
                        train_fraction: float = 0.2, random_state: int = 0) -> dict[str, Any]:
    """Fit on a random ``train_fraction`` of the configurations, report error on the rest."""
    from scipy.stats import spearmanr

    y = np.asarray(values, dtype=float)
    n = y.size
    if n < 10:
        raise InputError(f"need at least 10 measured configurations to evaluate a cost model, got {n}")
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)
    k = max(2, int(round(train_fraction * n)))
    tr, te = perm[:k], perm[k:]
    model = CostModel(space, random_state=random_state).fit([configs[i] for i in tr], y[tr])
    pred = model.predict([configs[i] for i in te])
    ape = np.abs(pred - y[te]) / y[te]
    base_ape = np.abs(np.median(y[tr]) - y[te]) / y[te]
    rho = float(spearmanr(pred, y[te]).statistic)
    return {"train": int(k), "test": int(te.size), "median_ape": float(np.median(ape)), "mean_ape": float(ape.mean()),
            "spearman": rho, "baseline_median_ape": float(np.median(base_ape)),
            "baseline": "predict the training median for every configuration", "random_state": random_state,
            "importance": model.importance()}


__all__ = ["CostModel", "evaluate_cost_model"]
