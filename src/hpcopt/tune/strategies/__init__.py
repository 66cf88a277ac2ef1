"""Strategies, looked up by name: ``get_strategy("bo", n_initial=20)``."""

from __future__ import annotations

from typing import Any

from hpcopt.core.registry import Registry
from hpcopt.errors import ConfigError
from hpcopt.tune.strategies.base import Strategy
from hpcopt.tune.strategies.bayes import BayesianOptimization
from hpcopt.tune.strategies.native import (
    GeneticAlgorithm,
    GreedyLocalSearch,
    GridSearch,
    RandomSearch,
    SimulatedAnnealing,
)
from hpcopt.tune.strategies.optuna_based import CMAES, NSGA2, TPE

#: the strategy used when none is named
DEFAULT_STRATEGY = "bo"

#: strategies by name; plugins add theirs as entry points "strategy.<name>" (group hpcopt.plugins)
STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
for _cls in (RandomSearch, GridSearch, GreedyLocalSearch, GeneticAlgorithm, SimulatedAnnealing,
             BayesianOptimization, TPE, CMAES, NSGA2):
    STRATEGIES.register(_cls.name, _cls)
del _cls


def get_strategy(name: str | Strategy | None = None, **params: Any) -> Strategy:
    """A fresh strategy object by name (``None`` gives the default)."""
    if isinstance(name, Strategy):
        return name
    name = DEFAULT_STRATEGY if name is None else str(name).strip().lower()
    cls = STRATEGIES.get(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for strategy {name!r}: {exc}") from None


__all__ = ["Strategy", "STRATEGIES", "DEFAULT_STRATEGY", "get_strategy", "RandomSearch", "GridSearch",
           "GreedyLocalSearch", "GeneticAlgorithm", "SimulatedAnnealing", "BayesianOptimization", "TPE",
           "CMAES", "NSGA2"]
