"""The strategy protocol: propose a configuration (``ask``), learn its result (``tell``).

Strategies never measure: the study asks, checks its cache, runs the runner and tells.
A failed configuration (compile error, crash, wrong answer, ...) is told as a
:class:`~hpcopt.tune.results.Result` whose ``value`` is ``None``. Constraint violations
are never proposed by the native strategies (they draw from the valid points); the
Optuna-backed ones may propose one, which the study tells back as ``INVALID`` without
spending budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from hpcopt.core.params import ParamsMixin, validate_params
from hpcopt.errors import InputError
from hpcopt.tune.results import Result
from hpcopt.tune.space import SearchSpace


class Strategy(ParamsMixin):
    """Base class. Subclasses store their parameters in ``__init__`` (nothing else), so
    ``get_params``/``set_params``/``clone`` (:class:`~hpcopt.core.params.ParamsMixin`) see
    them; what ``setup`` learns ends in ``_``.

    Contract (checked by :func:`hpcopt.testing.checks.strategy.check_strategy`): proposals
    are configurations of the space; with ``respects_constraints`` they satisfy its
    constraints; with ``distinct`` a configuration told (asked here or not) is never
    proposed again; the same ``random_state`` gives the same proposals.
    """

    name = "base"
    #: needs a finite list of valid points (all native strategies do)
    needs_enumeration = True
    #: handles several objectives (returns a Pareto front)
    multi_objective = False
    #: proposes only configurations that satisfy the space's constraints
    respects_constraints = True
    #: never proposes a configuration it was told about; on an enumerable space, returns
    #: None only once every valid configuration was told
    distinct = True

    def setup(self, space: SearchSpace, random_state: int | None = None, n_objectives: int = 1) -> "Strategy":
        validate_params(self)  # the class's _parameter_constraints, scikit-learn's message shape
        if n_objectives > 1 and not self.multi_objective:
            raise InputError(f"strategy {self.name!r} optimises one objective; the study has {n_objectives}",
                             field="strategy", hint="use nsga2 for several objectives")
        self.space_ = space
        self.rng_ = np.random.default_rng(random_state)
        self.random_state_ = random_state
        self.n_objectives_ = n_objectives
        self.prior_: list[tuple[dict[str, Any], float]] = []
        if self.needs_enumeration:
            if not space.enumerable():
                raise InputError(f"strategy {self.name!r} needs a finite, enumerable space", field="strategy",
                                 hint="use random, tpe or cmaes for spaces with real-valued parameters")
            self.points_ = space.valid_points()
            if not self.points_:
                raise InputError("the search space has no valid configuration", field="constraints",
                                 hint="relax the constraints or widen the ranges")
            self.index_ = {p: i for i, p in enumerate(self.points_)}
            self.visited_ = np.zeros(len(self.points_), dtype=bool)
        self._setup()
        return self

    def _setup(self) -> None:
        """Hook for subclasses (after the common state exists)."""

    def warm_start(self, history: Iterable[tuple[Mapping[str, Any], float | None]]) -> None:
        """Results from another input size or machine; strategies use them as they can."""
        for cfg, value in history:
            if value is None or not np.isfinite(value):
                continue
            try:
                cfg = self.space_.check(cfg)
            except InputError:
                continue
            if self.space_.is_valid(cfg):
                self.prior_.append((cfg, float(value)))
        self.prior_.sort(key=lambda cv: cv[1])

    def ask(self) -> dict[str, Any] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        """Default: mark visited. Subclasses call ``super().tell`` then learn."""
        if self.needs_enumeration:
            i = self.index_.get(self.space_.key(config))
            if i is not None:
                self.visited_[i] = True

    # -- helpers for enumerated strategies
    def _config(self, i: int) -> dict[str, Any]:
        return self.space_.to_config(self.points_[i])

    def _random_unvisited(self) -> int | None:
        free = np.flatnonzero(~self.visited_)
        if free.size == 0:
            return None
        return int(free[self.rng_.integers(free.size)])

    def _index_of(self, config: Mapping[str, Any]) -> int | None:
        return self.index_.get(self.space_.key(config))


def objective_of(result: Result) -> float | None:
    """The scalar the strategies minimise, or None for a failure."""
    return result.value if result.ok else None


__all__ = ["Strategy", "objective_of"]
