"""Bayesian optimisation over the valid points of a space.

The candidates are the unmeasured *valid* points, so known constraints are respected by
construction; configurations that failed when measured (crashes, wrong answers, ...) are
unknown constraints, and a tree classifier estimates each candidate's probability of
failing, which multiplies the expected improvement (constrained EI).

The default surrogate is a Gaussian process (scikit-learn; Matern 5/2 kernel with one
length scale per parameter, plus a noise term) on ``log(objective)`` over the
parameters' encodings scaled to [0, 1]; when more than ``max_gp_points`` results exist it
is fitted on the best half of that number plus a random sample of the rest. An
extremely-randomised-trees surrogate (``surrogate="trees"``: per-tree spread as the
uncertainty) is the faster alternative; on the two replay caches in ../shared its
tree-based uncertainty under-explored parameters whose first values looked bad, and the
GP scored clearly higher (README, Autotuning). The model is refitted after every measurement
for the first 60 and then every ``ceil(n / refit_ratio)`` measurements, taking the next
best candidates of the last ranking in between.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpcopt.core.params import Interval, Options
from hpcopt.errors import require
from hpcopt.tune.results import Result
from hpcopt.tune.strategies.base import objective_of
from hpcopt.tune.strategies.native import _Indexed


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """EI for minimisation of a Gaussian with mean ``mu`` and standard deviation ``sigma``."""
    from scipy.stats import norm

    sigma = np.maximum(sigma, 1e-12)
    z = (best - mu - xi) / sigma
    return (best - mu - xi) * norm.cdf(z) + sigma * norm.pdf(z)


class BayesianOptimization(_Indexed):
    """Bayesian optimisation with constrained expected improvement.

    Parameters
    ----------
    n_initial:
        random (or warm-start) points before the first model.
    surrogate:
        ``"gp"`` (default) or ``"trees"``.
    max_gp_points:
        at most this many results train the GP.
    n_estimators, min_samples_leaf, bootstrap:
        the forest of the ``"trees"`` surrogate.
    xi:
        EI exploration margin (in log-objective units).
    epsilon:
        probability of measuring a random candidate instead of the EI maximiser.
    refit_ratio:
        after 60 measurements the model is refitted every ``ceil(n / refit_ratio)`` ones.
    max_candidates:
        at most this many unmeasured points are scored per refit (random subset).
    acquisition, kappa:
        ``"ei"`` (default), ``"lcb"`` (mean - kappa * sd) or ``"thompson"``.
    failure_model:
        multiply the acquisition by the predicted probability of not failing.
    local_prob:
        probability of measuring the best-predicted one-parameter change of the incumbent.
    sweep_max_values:
        after each new best, measure the other values of its parameters with at most this
        many values (0: off).
    """

    name = "bo"
    _parameter_constraints = {
        "n_initial": [Interval(int, 1, None)], "n_estimators": [Interval(int, 1, None)],
        "min_samples_leaf": [Interval(int, 1, None)], "xi": [Interval(float, 0, None)],
        "epsilon": [Interval(float, 0, 1)], "refit_ratio": [Interval(int, 1, None)],
        "max_candidates": [Interval(int, 1, None)], "acquisition": [Options("ei", "lcb", "thompson")],
        "kappa": [Interval(float, 0, None)], "failure_model": [bool], "local_prob": [Interval(float, 0, 1)],
        "bootstrap": [bool], "sweep_max_values": [Interval(int, 0, None)], "surrogate": [Options("gp", "trees")],
        "max_gp_points": [Interval(int, 2, None)],
    }

    def __init__(self, n_initial: int = 12, n_estimators: int = 60, min_samples_leaf: int = 1,
                 xi: float = 0.1, epsilon: float = 0.05, refit_ratio: int = 40,
                 max_candidates: int = 20_000, acquisition: str = "ei", kappa: float = 1.0,
                 failure_model: bool = True, local_prob: float = 0.0, bootstrap: bool = False,
                 sweep_max_values: int = 0, surrogate: str = "gp", max_gp_points: int = 300) -> None:
        self.n_initial = n_initial
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.xi = xi
        self.epsilon = epsilon
        self.refit_ratio = refit_ratio
        self.max_candidates = max_candidates
        self.acquisition = acquisition
        self.kappa = kappa
        self.failure_model = failure_model
        self.local_prob = local_prob
        self.bootstrap = bootstrap
        self.sweep_max_values = sweep_max_values
        self.surrogate = surrogate
        self.max_gp_points = max_gp_points

    def _setup(self) -> None:
        require("sklearn", "tune")
        super()._setup()
        self._model = None
        X = self.space_.encode_points(self.points_)
        lo, hi = X.min(axis=0), X.max(axis=0)
        self.X_ = (X - lo) / np.where(hi > lo, hi - lo, 1.0)
        self._y: list[float] = []      # objective, nan for failures
        self._rows: list[int] = []
        self._ranked: list[int] = []   # candidates ranked by the last acquisition
        self._since_fit = 0
        self._queue = [self._index_of(c) for c, _ in self.prior_][: self.n_initial]
        self._queue = [q for q in self._queue if q is not None]

    def warm_start(self, history) -> None:
        super().warm_start(history)
        q = [self._index_of(c) for c, _ in self.prior_][: self.n_initial]
        self._queue = [i for i in q if i is not None]

    def _refit_due(self) -> bool:
        n = len(self._rows)
        if not self._ranked:
            return True
        every = 1 if n <= 60 else math.ceil(n / self.refit_ratio)
        return self._since_fit >= every

    def _fit_and_rank(self) -> None:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        rows = np.array(self._rows)
        y = np.array(self._y)
        ok = np.isfinite(y)
        if (y[ok] > 0).all():
            y = np.where(ok, np.log(np.where(ok, y, 1.0)), np.nan)
        free = np.flatnonzero(~self.visited_)
        if free.size > self.max_candidates:
            free = self.rng_.choice(free, size=self.max_candidates, replace=False)
        if free.size == 0:
            self._ranked = []
            return
        seed = int(self.rng_.integers(2**31 - 1))
        Xc = self.X_[free]
        if self.surrogate == "gp":
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

            tr = np.flatnonzero(ok)
            if tr.size > self.max_gp_points:
                order = tr[np.argsort(y[tr])]
                half = self.max_gp_points // 2
                rest = self.rng_.choice(order[half:], size=self.max_gp_points - half, replace=False)
                tr = np.concatenate([order[:half], rest])
            d = self.X_.shape[1]
            kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e2), nu=2.5)
                      + WhiteKernel(1e-3, (1e-6, 1e-1)))
            reg = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=0)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reg.fit(self.X_[rows[tr]], y[tr])
            mu, sd = reg.predict(Xc, return_std=True)
            per_tree = None
        else:
            reg = ExtraTreesRegressor(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                      bootstrap=self.bootstrap, random_state=seed, n_jobs=1)
            reg.fit(self.X_[rows[ok]], y[ok])
            per_tree = np.stack([t.predict(Xc) for t in reg.estimators_])
            mu, sd = per_tree.mean(axis=0), per_tree.std(axis=0)
        if self.acquisition == "ei":
            acq = expected_improvement(mu, sd, float(y[ok].min()), self.xi)
        elif self.acquisition == "lcb":
            acq = -(mu - self.kappa * sd)
            acq = acq - acq.min()
        elif self.acquisition == "thompson":
            draw = per_tree[self.rng_.integers(per_tree.shape[0])] if per_tree is not None else self.rng_.normal(mu, sd)
            acq = -draw
            acq = acq - acq.min()
        else:
            from hpcopt.errors import ConfigError

            raise ConfigError(f"unknown acquisition {self.acquisition!r}; use ei, lcb or thompson")
        self._model = reg
        if self.failure_model and (~ok).any():
            clf = ExtraTreesClassifier(n_estimators=30, min_samples_leaf=1, random_state=seed, n_jobs=1)
            clf.fit(self.X_[rows], ok.astype(int))
            p_ok = clf.predict_proba(Xc)[:, list(clf.classes_).index(1)]
            acq = acq * p_ok
        # ties (EI == 0 far from data) broken by the predicted mean
        order = np.lexsort((mu, -acq))
        self._ranked = [int(i) for i in free[order]]
        self._since_fit = 0

    def ask(self) -> dict[str, Any] | None:
        while self._queue:
            k = self._queue.pop(0)
            if not self.visited_[k]:
                return self._config(k)
        n_ok = int(np.isfinite(self._y).sum()) if self._y else 0
        if len(self._rows) < self.n_initial or n_ok < 2 or self.rng_.random() < self.epsilon:
            k = self._random_unvisited()
            return None if k is None else self._config(k)
        if self._refit_due():
            self._fit_and_rank()
        if self.local_prob > 0 and self._model is not None and self.rng_.random() < self.local_prob:
            k = self._local_step()
            if k is not None:
                return self._config(k)
        while self._ranked and self.visited_[self._ranked[0]]:
            self._ranked.pop(0)
        if not self._ranked:
            k = self._random_unvisited()
            return None if k is None else self._config(k)
        return self._config(self._ranked.pop(0))

    def _local_step(self) -> int | None:
        """The unmeasured one-parameter change of the incumbent with the best predicted value."""
        y = np.array(self._y)
        ok = np.isfinite(y)
        best = np.array(self._rows)[ok][np.argmin(y[ok])]
        nb = [k for k in self.hamming_neighbours(int(best)) if not self.visited_[k]]
        if not nb:
            return None
        mu = self._model.predict(self.X_[nb])
        return int(nb[int(np.argmin(mu))])

    def _sweep(self, i: int) -> list[int]:
        """Unmeasured points that change one few-valued parameter of point ``i``."""
        row = self.idx_[i]
        out = []
        for j in self.rng_.permutation(row.size):
            if not 1 < self.card_[j] <= self.sweep_max_values:
                continue
            for v in range(self.card_[j]):
                if v != row[j]:
                    t = row.copy()
                    t[j] = v
                    k = self.by_tuple_.get(tuple(t.tolist()))
                    if k is not None and not self.visited_[k]:
                        out.append(k)
        return out

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        super().tell(config, result)
        i = self._index_of(config)
        if i is None:
            return
        v = objective_of(result)
        if (v is not None and self.sweep_max_values and len(self._rows) >= self.n_initial
                and all(not (np.isfinite(y) and y <= v) for y in self._y)):
            # a new best: try its few-valued parameters' other values next, which a
            # surrogate that has seen few of them would not propose
            self._queue = self._sweep(i)
        self._rows.append(i)
        self._y.append(v if v is not None else math.nan)
        self._since_fit += 1


__all__ = ["BayesianOptimization", "expected_improvement"]
