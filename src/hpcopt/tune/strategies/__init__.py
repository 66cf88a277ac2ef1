"""Strategies, looked up by name: ``get_strategy("bo", n_initial=20)``."""

from __future__ import annotations

from typing import Any

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

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (RandomSearch, GridSearch, GreedyLocalSearch, GeneticAlgorithm, SimulatedAnnealing,
                BayesianOptimization, TPE, CMAES, NSGA2)
}


def get_strategy(name: str | Strategy | None = None, **params: Any) -> Strategy:
    """A fresh strategy object by name (``None`` gives the default)."""
    if isinstance(name, Strategy):
        return name
    name = DEFAULT_STRATEGY if name is None else str(name).strip().lower()
    cls = STRATEGIES.get(name)
    if cls is None:
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for strategy {name!r}: {exc}") from None


__all__ = ["Strategy", "STRATEGIES", "DEFAULT_STRATEGY", "get_strategy", "RandomSearch", "GridSearch",
           "GreedyLocalSearch", "GeneticAlgorithm", "SimulatedAnnealing", "BayesianOptimization", "TPE",
           "CMAES", "NSGA2"]
