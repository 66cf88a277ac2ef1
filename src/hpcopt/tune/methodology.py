"""Comparing strategies offline on replay caches with a methodology score.

The score follows the methodology of Willemsen et al. (2024, "A methodology for
comparing optimization algorithms for auto-tuning"): at each point ``k`` of a budget,

    P(k) = (R(k) - S(k)) / (R(k) - optimum)

where ``S(k)`` is the best objective the strategy found within ``k`` evaluations and
``R(k)`` the best that random search is expected to have found; ``P`` is averaged over
the budget and over repeated runs with different seeds. 0 means "as good as random
search", 1 "found the optimum at once", negative "worse than random".

Protocol here (stated, because details move the number):

* the budget is counted in function evaluations (each measured configuration, failed
  ones included, costs one; a configuration proposed twice is served from the study's
  cache and costs nothing), not in seconds of simulated tuning time as in the paper;
* ``R(k)`` is computed, not simulated: the exact expected best objective of ``k``
  draws without replacement from the ``N`` cached configurations, failed ones counted
  as draws that find nothing (valued as the worst valid objective), so random search
  scores 0 in expectation;
* until a strategy has found a valid configuration its ``S(k)`` is the worst valid value;
* the default budget is the number of evaluations random search needs, in expectation,
  to come within 5 % of the distance from the median to the optimum (``cutoff=0.95``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.replay import ReplayCache
from hpcopt.tune.results import Result, Status
from hpcopt.tune.strategies import DEFAULT_STRATEGY, STRATEGIES, get_strategy

from hpcopt.core.progress import ProgressFn as Progress

#: consecutive proposals that cost nothing (repeats, constraint violations) before the
#: replay loop measures a random unmeasured point instead, so no strategy can stall it
MAX_FREE_PROPOSALS = 50


def sorted_objectives(cache: ReplayCache) -> np.ndarray:
    """All cached objectives, best first, failures (``inf``) last."""
    v = np.where(np.isfinite(cache.values), cache.values, np.inf)
    return np.sort(v)


def random_search_curve(cache: ReplayCache, budget: int) -> np.ndarray:
    """``R(k)`` for ``k = 1..budget``: the expected best of ``k`` random draws without replacement.

    With the ``N`` cached objectives sorted best first (failures last, valued as the worst
    valid objective), the best of ``k`` draws is at rank ``r`` with probability
    ``C(N - r, k - 1) / C(N, k)``; ``R(k)`` is the exact expectation, so random search
    itself scores 0 in expectation.
    """
    from scipy.special import gammaln

    worst_valid = float(np.nanmax(cache.values))
    vals = np.where(np.isfinite(cache.values), cache.values, worst_valid)
    vals = np.sort(vals)
    n = vals.size
    r = np.arange(1, n + 1, dtype=float)
    out = np.empty(budget)
    log_c_n = lambda a, b: gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)  # noqa: E731
    for k in range(1, budget + 1):
        if k >= n:
            out[k - 1] = vals[0]
            continue
        m = n - r >= k - 1
        logw = np.full(n, -np.inf)
        logw[m] = log_c_n(n - r[m], k - 1) - log_c_n(n, k)
        w = np.exp(logw)
        out[k - 1] = float(np.dot(w, vals) / w.sum())
    return out


def cutoff_budget(cache: ReplayCache, cutoff: float = 0.95) -> int:
    """Evaluations random search needs, in expectation, to reach ``opt + (median - opt) * (1 - cutoff)``."""
    if not 0 < cutoff < 1:
        raise ConfigError(f"cutoff must be in (0, 1), got {cutoff}")
    finite = cache.values[np.isfinite(cache.values)]
    if finite.size == 0:
        raise InputError("the cache has no valid configuration", source=cache.source)
    opt, med = float(finite.min()), float(np.median(finite))
    target = opt + (med - opt) * (1.0 - cutoff)
    good = int((finite <= target).sum())
    n = cache.values.size
    return max(1, math.ceil((n + 1) / good - 1))


def replay_run(strategy_name: str, cache: ReplayCache, budget: int, random_state: int,
               strategy_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one strategy against a cache for ``budget`` evaluations; return its trace."""
    strat = get_strategy(strategy_name, **(strategy_params or {}))
    space = cache.space
    strat.setup(space, random_state=random_state)
    seen: dict[tuple, Result] = {}
    trace: list[float] = []
    best = math.inf
    free_in_a_row = 0
    free_total = 0
    rng = np.random.default_rng(random_state + 7919)
    unmeasured = None
    t0 = time.perf_counter()
    while len(trace) < budget and len(seen) < len(cache.points):
        cfg = strat.ask()
        if cfg is None:
            break
        key = space.key(cfg)
        if key in seen:
            strat.tell(cfg, seen[key])
            free_in_a_row += 1
            free_total += 1
        elif not space.is_valid(cfg):
            strat.tell(cfg, Result.failure(Status.INVALID, "breaks a constraint"))
            free_in_a_row += 1
            free_total += 1
        else:
            res = cache.lookup(cfg)
            seen[key] = res
            strat.tell(cfg, res)
            free_in_a_row = 0
            if res.ok and res.value < best:
                best = res.value
            trace.append(best)
            continue
        if free_in_a_row >= MAX_FREE_PROPOSALS:
            if unmeasured is None:
                unmeasured = list(range(len(cache.points)))
            cand = [i for i in unmeasured if cache.points[i] not in seen]
            i = cand[int(rng.integers(len(cand)))]
            cfg = space.to_config(cache.points[i])
            res = cache.lookup(cfg)
            seen[cache.points[i]] = res
            strat.tell(cfg, res)
            if res.ok and res.value < best:
                best = res.value
            trace.append(best)
            free_in_a_row = 0
    # a strategy that ran out of points keeps its best
    while len(trace) < budget:
        trace.append(best)
    return {"trace": np.asarray(trace), "free_proposals": free_total, "seconds": time.perf_counter() - t0}


def score_curve(cache: ReplayCache, trace: np.ndarray) -> np.ndarray:
    """``P(k)`` for one run's best-so-far trace."""
    budget = trace.size
    r = random_search_curve(cache, budget)
    worst_valid = float(np.nanmax(cache.values))
    s = np.where(np.isfinite(trace), trace, worst_valid)
    opt = cache.optimum
    denom = r - opt
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(denom > 0, (r - s) / np.where(denom > 0, denom, 1.0), np.where(s <= opt, 1.0, 0.0))
    return p


def compare_strategies(
    caches: Sequence[ReplayCache],
    strategies: Sequence[str] | None = None,
    *,
    budget: int | None = None,
    cutoff: float = 0.95,
    repeats: int = 10,
    random_state: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score every strategy on every cache; the result is JSON-ready (curves as lists)."""
    if not caches:
        raise ConfigError("give at least one replay cache")
    names = list(strategies) if strategies else [s for s in STRATEGIES if not STRATEGIES[s].multi_objective]
    for n in names:
        if STRATEGIES.get(n).multi_objective:  # an unknown name: one error with "did you mean"
            raise ConfigError(f"strategy {n!r} is multi-objective; the score is for one objective")
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    total = len(caches) * len(names) * repeats
    done = 0
    spaces = []
    per_strategy: dict[str, list[float]] = {n: [] for n in names}
    for cache in caches:
        b = int(budget) if budget else cutoff_budget(cache, cutoff)
        entry: dict[str, Any] = {
            "name": cache.name, "kernel": cache.kernel, "device": cache.device, "budget": b,
            "points": len(cache.points), "valid": cache.n_valid, "optimum": cache.optimum,
            "random_curve": random_search_curve(cache, b).tolist(), "strategies": {},
        }
        for n in names:
            scores, curves, secs = [], [], []
            for r in range(repeats):
                seed = random_state + 1000 * r
                run = replay_run(n, cache, b, seed)
                p = score_curve(cache, run["trace"])
                scores.append(float(p.mean()))
                curves.append(run["trace"])
                secs.append(run["seconds"])
                done += 1
                if progress:
                    progress(done, total, f"{cache.name} {n} #{r + 1}")
            # same convention as the score: nothing valid found yet = the worst valid value
            worst_valid = float(np.nanmax(cache.values))
            mean_curve = np.mean(np.where(np.isfinite(curves), curves, worst_valid), axis=0)
            entry["strategies"][n] = {
                "score": float(np.mean(scores)), "score_std": float(np.std(scores)),
                "scores": scores, "mean_best_curve": mean_curve.tolist(),
                "final_best_mean": float(np.nanmean([c[-1] for c in curves])),
                "seconds_per_run": float(np.mean(secs)),
                "seeds": [random_state + 1000 * r for r in range(repeats)],
            }
            per_strategy[n].append(float(np.mean(scores)))
        spaces.append(entry)
    scores = {n: float(np.mean(v)) for n, v in per_strategy.items()}
    return {
        "schema": "hpcopt.tune.compare/1",
        "default_strategy": DEFAULT_STRATEGY,
        "scores": scores,
        "repeats": repeats,
        "random_state": random_state,
        "cutoff": cutoff,
        "budget_unit": "function evaluations",
        "spaces": spaces,
    }


def convergence_figure(space_entry: dict[str, Any]):
    """A matplotlib figure of the mean best-so-far per strategy against random search."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    k = np.arange(1, space_entry["budget"] + 1)
    ax.plot(k, space_entry["random_curve"], "k--", lw=1.5, label="random search (expected)")
    for name, s in space_entry["strategies"].items():
        ax.plot(k, s["mean_best_curve"], lw=1.3, label=f"{name} (score {s['score']:.3f})")
    ax.axhline(space_entry["optimum"], color="grey", lw=0.8, ls=":", label="optimum")
    ax.set_xscale("log")
    ax.set_xlabel("function evaluations")
    ax.set_ylabel("best objective so far (mean over runs)")
    ax.set_title(f"{space_entry['name']} ({space_entry['valid']} valid of {space_entry['points']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["compare_strategies", "replay_run", "score_curve", "random_search_curve", "cutoff_budget",
           "convergence_figure", "sorted_objectives"]
