"""Strategies written here: random, grid, greedy local search, genetic algorithm, annealing.

All of them draw only from the valid points of the space (constraints are respected by
construction) and never propose a point twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpcopt.core.params import Interval
from hpcopt.tune.results import Result
from hpcopt.tune.strategies.base import Strategy, objective_of


class _Indexed(Strategy):
    """Adds per-parameter value indices and neighbourhoods over the valid points."""

    def _setup(self) -> None:
        params = self.space_.parameters
        self.idx_ = np.array([[p.index(v) for p, v in zip(params, pt)] for pt in self.points_], dtype=np.int64)
        self.card_ = np.array([p.n_values() for p in params], dtype=np.int64)
        self.ordered_ = np.array([p.ordered for p in params], dtype=bool)
        self.by_tuple_ = {tuple(r): i for i, r in enumerate(self.idx_.tolist())}
        span = np.maximum(self.card_ - 1, 1)
        self.unit_ = self.idx_ / span  # each parameter scaled to [0, 1] by value index

    def _record(self, config: Mapping[str, Any], result: Result) -> tuple[int | None, float | None]:
        """Common part of ``tell``: remember the result; the point's index and objective
        (a failure counts as +inf in ``_values``; the index is None for a point outside
        the space)."""
        Strategy.tell(self, config, result)
        i = self._index_of(config)
        if i is None:
            return None, None
        v = objective_of(result)
        self._values[i] = v if v is not None else np.inf
        return i, v

    def neighbours(self, i: int) -> list[int]:
        """Valid points that differ from point ``i`` in one parameter by one step (any value
        for unordered parameters)."""
        row = self.idx_[i]
        out = []
        for j in range(row.size):
            if self.ordered_[j]:
                cands = (row[j] - 1, row[j] + 1)
            else:
                cands = [v for v in range(self.card_[j]) if v != row[j]]
            for v in cands:
                if 0 <= v < self.card_[j]:
                    t = row.copy()
                    t[j] = v
                    k = self.by_tuple_.get(tuple(t.tolist()))
                    if k is not None:
                        out.append(k)
        return out

    def hamming_neighbours(self, i: int) -> list[int]:
        """Valid points that differ from point ``i`` in exactly one parameter (any value)."""
        row = self.idx_[i]
        out = []
        for j in range(row.size):
            for v in range(self.card_[j]):
                if v != row[j]:
                    t = row.copy()
                    t[j] = v
                    k = self.by_tuple_.get(tuple(t.tolist()))
                    if k is not None:
                        out.append(k)
        return out

    def nearest_unvisited(self, target: np.ndarray) -> int | None:
        """The unvisited valid point closest (L1 over scaled indices) to a target index vector."""
        free = np.flatnonzero(~self.visited_)
        if free.size == 0:
            return None
        span = np.maximum(self.card_ - 1, 1)
        d = np.abs(self.unit_[free] - target / span)
        # unordered parameters: distance 1 when different
        if (~self.ordered_).any():
            d[:, ~self.ordered_] = (self.idx_[free][:, ~self.ordered_] != target[~self.ordered_]).astype(float)
        dist = d.sum(axis=1)
        best = np.flatnonzero(dist == dist.min())
        return int(free[best[self.rng_.integers(best.size)]])


class RandomSearch(Strategy):
    """Uniform random sampling of valid points without replacement."""

    name = "random"
    needs_enumeration = False

    def _setup(self) -> None:
        self._enum = self.space_.enumerable()
        self._told: set[tuple] = set()
        if self._enum:
            self.points_ = self.space_.valid_points()
            if not self.points_:
                from hpcopt.errors import InputError

                raise InputError("the search space has no valid configuration", field="constraints",
                                 hint="relax the constraints or widen the ranges")
            self._order = self.rng_.permutation(len(self.points_))
            self._pos = 0

    def ask(self) -> dict[str, Any] | None:
        if not self._enum:
            return self.space_.sample_valid(self.rng_)
        # points told meanwhile (a resumed study, another process) are skipped, not proposed again
        while self._pos < len(self._order) and self.points_[int(self._order[self._pos])] in self._told:
            self._pos += 1
        if self._pos >= len(self._order):
            return None
        i = int(self._order[self._pos])
        self._pos += 1
        return self.space_.to_config(self.points_[i])

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        if self._enum:
            self._told.add(self.space_.key(config))


class GridSearch(Strategy):
    """Every valid point in lexicographic order (exhaustive search)."""

    name = "grid"

    def _setup(self) -> None:
        self._pos = 0

    def ask(self) -> dict[str, Any] | None:
        while self._pos < len(self.points_) and self.visited_[self._pos]:
            self._pos += 1
        if self._pos >= len(self.points_):
            return None
        self._pos += 1
        return self._config(self._pos - 1)


class GreedyLocalSearch(_Indexed):
    """Best-improvement hill climbing over one-step neighbours, restarting at a random
    unvisited point from each local optimum.

    Parameters
    ----------
    restart_from_best:
        probability of restarting from a random neighbour of the best point instead of a
        random point (a light perturbation, as in iterated local search).
    """

    name = "greedy"
    _parameter_constraints = {"restart_from_best": [Interval(float, 0, 1)]}

    def __init__(self, restart_from_best: float = 0.5) -> None:
        self.restart_from_best = restart_from_best

    def _setup(self) -> None:
        super()._setup()
        self._values = np.full(len(self.points_), np.nan)
        self._current: int | None = None
        self._pending: list[int] = []
        self._best: int | None = None

    def _start(self) -> int | None:
        if self._best is not None and self.rng_.random() < self.restart_from_best:
            # two random steps away from the best point
            k = self._best
            for _ in range(2):
                nb = self.neighbours(k)
                if not nb:
                    break
                k = nb[self.rng_.integers(len(nb))]
            if not self.visited_[k]:
                return k
        return self._random_unvisited()

    def ask(self) -> dict[str, Any] | None:
        while True:
            while self._pending:
                k = self._pending.pop()
                if not self.visited_[k]:
                    return self._config(k)
            # all neighbours of the current point are known: move or restart
            if self._current is not None:
                nb = self.neighbours(self._current)
                vals = [(self._values[k], k) for k in nb if np.isfinite(self._values[k])]
                cur = self._values[self._current]
                if vals and min(vals)[0] < (cur if np.isfinite(cur) else math.inf):
                    self._current = min(vals)[1]
                    self._pending = [k for k in self.neighbours(self._current) if not self.visited_[k]]
                    self.rng_.shuffle(self._pending)
                    continue
            k = self._start()
            if k is None:
                return None
            self._current = k
            self._pending = [k]

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        i, v = self._record(config, result)
        if i is None:
            return
        if v is not None and (self._best is None or v < self._values[self._best]):
            self._best = i
        if i == self._current and self._pending == [] and not np.isfinite(self._values[i]):
            self._current = None  # a failed start point: restart
        elif i == self._current:
            self._pending = [k for k in self.neighbours(i) if not self.visited_[k]]
            self.rng_.shuffle(self._pending)


class GeneticAlgorithm(_Indexed):
    """A steady genetic algorithm on value indices.

    Tournament selection, uniform crossover, per-gene mutation (one step for ordered
    parameters, any value for unordered ones) and elitism; a child that is invalid or
    already measured is repaired to the nearest unmeasured valid point, so every
    proposal is new and valid. Failed configurations get the worst fitness.

    Parameters
    ----------
    population_size, tournament, mutation_rate, crossover_rate, elite:
        the usual knobs; ``mutation_rate`` is per gene.
    """

    name = "ga"
    _parameter_constraints = {
        "population_size": [Interval(int, 2, None)], "tournament": [Interval(int, 1, None)],
        "mutation_rate": [Interval(float, 0, 1)], "crossover_rate": [Interval(float, 0, 1)],
        "elite": [Interval(int, 0, None)],
    }

    def __init__(self, population_size: int = 20, tournament: int = 3, mutation_rate: float = 0.15,
                 crossover_rate: float = 0.9, elite: int = 4) -> None:
        self.population_size = population_size
        self.tournament = tournament
        self.mutation_rate = mutation_rate
        self.crossover_rate = crossover_rate
        self.elite = elite

    def _setup(self) -> None:
        super()._setup()
        self._values = np.full(len(self.points_), np.nan)
        self._queue: list[int] = []
        self._told: list[int] = []  # indices in order of measurement
        seeds = [self._index_of(c) for c, _ in self.prior_]
        self._queue = [s for s in seeds if s is not None][: self.population_size]

    def warm_start(self, history) -> None:
        super().warm_start(history)
        seeds = [self._index_of(c) for c, _ in self.prior_]
        self._queue = [s for s in seeds if s is not None][: self.population_size]

    def _fitness(self, i: int) -> float:
        v = self._values[i]
        return v if np.isfinite(v) else math.inf

    def _select(self, pool: np.ndarray) -> int:
        cand = pool[self.rng_.integers(pool.size, size=min(self.tournament, pool.size))]
        return int(min(cand, key=self._fitness))

    def _breed(self) -> int | None:
        told = np.array(self._told)
        order = told[np.argsort([self._fitness(i) for i in told], kind="stable")]
        pool = order[: max(self.population_size, 2)]
        a, b = self._select(pool), self._select(pool)
        ga, gb = self.idx_[a], self.idx_[b]
        if self.rng_.random() < self.crossover_rate:
            mask = self.rng_.random(ga.size) < 0.5
            child = np.where(mask, ga, gb)
        else:
            child = ga.copy()
        for j in range(child.size):
            if self.card_[j] > 1 and self.rng_.random() < self.mutation_rate:
                if self.ordered_[j]:
                    step = int(self.rng_.choice((-2, -1, 1, 2), p=(0.15, 0.35, 0.35, 0.15)))
                    child[j] = int(np.clip(child[j] + step, 0, self.card_[j] - 1))
                else:
                    child[j] = int(self.rng_.integers(self.card_[j]))
        k = self.by_tuple_.get(tuple(child.tolist()))
        if k is not None and not self.visited_[k]:
            return k
        return self.nearest_unvisited(child)

    def ask(self) -> dict[str, Any] | None:
        while self._queue:
            k = self._queue.pop(0)
            if not self.visited_[k]:
                return self._config(k)
        if len(self._told) < self.population_size:
            k = self._random_unvisited()
        else:
            k = self._breed()
        return None if k is None else self._config(k)

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        i, v = self._record(config, result)
        if i is None:
            return
        self._told.append(i)


class SimulatedAnnealing(_Indexed):
    """Simulated annealing over one-step neighbours with a geometric cooling schedule."""

    name = "annealing"
    _parameter_constraints = {"t_start": [Interval(float, 0, None, closed="neither")],
                              "t_end": [Interval(float, 0, None, closed="neither")],
                              "steps": [Interval(int, 1, None)]}

    def __init__(self, t_start: float = 1.0, t_end: float = 0.01, steps: int = 500) -> None:
        self.t_start = t_start
        self.t_end = t_end
        self.steps = steps

    def _setup(self) -> None:
        super()._setup()
        self._values = np.full(len(self.points_), np.nan)
        self._current: int | None = None
        self._proposal: int | None = None
        self._n = 0

    def ask(self) -> dict[str, Any] | None:
        if self._current is None:
            k = self._random_unvisited()
        else:
            nb = [k for k in self.neighbours(self._current) if not self.visited_[k]]
            k = nb[self.rng_.integers(len(nb))] if nb else self._random_unvisited()
        self._proposal = k
        return None if k is None else self._config(k)

    def tell(self, config: Mapping[str, Any], result: Result) -> None:
        i, v = self._record(config, result)
        if i is None:
            return
        self._n += 1
        if self._current is None or not np.isfinite(self._values[self._current]):
            if v is not None:
                self._current = i
            return
        cur = self._values[self._current]
        if v is None:
            return
        frac = min(self._n / max(self.steps, 1), 1.0)
        temp = self.t_start * (self.t_end / self.t_start) ** frac
        rel = (v - cur) / abs(cur) if cur else v - cur
        if rel <= 0 or self.rng_.random() < math.exp(-rel / max(temp, 1e-12)):
            self._current = i


__all__ = ["RandomSearch", "GridSearch", "GreedyLocalSearch", "GeneticAlgorithm", "SimulatedAnnealing"]
