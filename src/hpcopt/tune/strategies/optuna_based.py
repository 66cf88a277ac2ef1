"""Strategies backed by Optuna samplers through its ask/tell interface: TPE, CMA-ES, NSGA-II.

Discrete parameters are given to Optuna as the index of their value (an integer range
for ordered parameters, so TPE and CMA-ES see the order; a categorical of indices for
unordered ones); real parameters as floats. Optuna does not know the constraints: a
proposal that breaks one is told back with the worst value seen so far, as is a
configuration that failed when measured, so the sampler learns to avoid both regions.
The study does not spend budget on constraint violations.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from hpcopt.core.params import Interval, Options
from hpcopt.errors import require
from hpcopt.tune.results import Result
from hpcopt.tune.strategies.base import Strategy
from hpcopt.tune.space import Real


class OptunaStrategy(Strategy):
    """Base for the Optuna-backed strategies; ``sampler`` names the Optuna sampler."""

    needs_enumeration = False
    # Optuna knows neither the constraints nor what was measured: the study (or the
    # replay loop) answers repeats and violations for free
    respects_constraints = False
    distinct = False
    sampler_name = "tpe"

    def _make_sampler(self, optuna, seed):  # pragma: no cover - overridden
        raise NotImplementedError

    def _setup(self) -> None:
        optuna = require("optuna", "tune")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = None if self.random_state_ is None else int(self.random_state_)
        directions = ["minimize"] * self.n_objectives_
        self._study = optuna.create_study(sampler=self._make_sampler(optuna, seed), directions=directions)
        dists = {}
        for p in self.space_.parameters:
            if isinstance(p, Real):
                dists[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
            elif p.ordered:
                dists[p.name] = optuna.distributions.IntDistribution(0, p.n_values() - 1)
            else:
                dists[p.name] = optuna.distributions.CategoricalDistribution(list(range(p.n_values())))
        self._dists = dists
        self._pending: dict[tuple, list] = {}
        self._worst: list[float] | None = None
        self._optuna = optuna
        for cfg, value in self.prior_:
            self._enqueue(cfg)

    def warm_start(self, history) -> None:
        super().warm_start(history)
        for cfg, _ in self.prior_[:20]:
            self._enqueue(cfg)

    def _enqueue(self, cfg: Mapping[str, Any]) -> None:
        params = {}
        for p in self.space_.parameters:
            params[p.name] = cfg[p.name] if isinstance(p, Real) else p.index(cfg[p.name])
        self._study.enqueue_trial(params, skip_if_exists=True)

    def ask(self) -> dict[str, Any] | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self._study.ask(self._dists)
        cfg = {}
        for p in self.space_.parameters:
            raw = trial.params[p.name]
            cfg[p.name] = float(raw) if isinstance(p, Real) else p.value_at(int(raw))
        self._pending.setdefault(self.space_.key(cfg), []).append(trial)
        return cfg

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        key = self.space_.key(config)
        trials = self._pending.get(key)
        if not trials:
            return
        trial = trials.pop(0)
        if result.ok:
            vals = list(result.values or (result.value,))
            if self._worst is None:
                self._worst = list(vals)
            else:
                self._worst = [max(w, v) for w, v in zip(self._worst, vals)]
        else:
            if self._worst is None:
                # nothing measured yet: no value to penalise with; let Optuna drop it
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
                return
            vals = list(self._worst)
        vals = [v if math.isfinite(v) else 1e300 for v in vals]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._study.tell(trial, vals if self.n_objectives_ > 1 else vals[0])


class TPE(OptunaStrategy):
    """Tree-structured Parzen estimator (Optuna's TPESampler, multivariate)."""

    name = "tpe"
    _parameter_constraints = {"n_startup_trials": [Interval(int, 0, None)], "multivariate": [bool]}

    def __init__(self, n_startup_trials: int = 10, multivariate: bool = True) -> None:
        self.n_startup_trials = n_startup_trials
        self.multivariate = multivariate

    def _make_sampler(self, optuna, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.TPESampler(n_startup_trials=self.n_startup_trials,
                                              multivariate=self.multivariate, seed=seed)


class CMAES(OptunaStrategy):
    """CMA-ES (Optuna's CmaEsSampler) on value indices; needs the ``cmaes`` package."""

    name = "cmaes"
    _parameter_constraints = {"n_startup_trials": [Interval(int, 0, None)],
                              "restart_strategy": [None, Options("ipop", "bipop")]}

    def __init__(self, n_startup_trials: int = 1, restart_strategy: str | None = "ipop") -> None:
        self.n_startup_trials = n_startup_trials
        self.restart_strategy = restart_strategy

    def _make_sampler(self, optuna, seed):
        require("cmaes", "tune")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = {"restart_strategy": self.restart_strategy} if self.restart_strategy else {}
            try:
                return optuna.samplers.CmaEsSampler(n_startup_trials=self.n_startup_trials, seed=seed,
                                                    warn_independent_sampling=False, **kw)
            except TypeError:  # restart_strategy moved to a different API in some releases
                return optuna.samplers.CmaEsSampler(n_startup_trials=self.n_startup_trials, seed=seed,
                                                    warn_independent_sampling=False)


class NSGA2(OptunaStrategy):
    """NSGA-II (Optuna's NSGAIISampler) for several objectives; returns a Pareto front."""

    name = "nsga2"
    _parameter_constraints = {"population_size": [Interval(int, 2, None)]}
    multi_objective = True

    def __init__(self, population_size: int = 20) -> None:
        self.population_size = population_size

    def _make_sampler(self, optuna, seed):
        return optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=seed)


__all__ = ["OptunaStrategy", "TPE", "CMAES", "NSGA2"]
