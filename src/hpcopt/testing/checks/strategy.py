"""Conformance checks for tuning strategies, as scikit-learn's ``check_estimator``.

``check_strategy(factory)`` runs a strategy through the protocol the study and the
replay loop rely on and raises :class:`AssertionError` naming the first violation:

* parameters: ``get_params`` names ``__init__``'s parameters, ``clone`` gives a new,
  equal object, ``set_params`` round-trips and refuses unknown names, ``repr`` works;
* setup: a one-objective strategy refuses two objectives and an enumerating one a
  continuous space with a clear :class:`~hpcopt.errors.InputError`; every parameter in
  ``_parameter_constraints`` set to nonsense is refused with a ConfigError naming it;
* proposals are configurations of the space (every parameter, values in their
  domains) and, with ``respects_constraints``, satisfy the constraints;
* with ``distinct``: a configuration told -- asked by it or not (a resumed study, another
  process) -- is never proposed again, and ``ask`` returns None only once every valid
  configuration was told (it can spend any budget the space allows);
* asks and tells: several asks before their tells (parallel workers), tells in another
  order, a repeated tell and failures are accepted; a told configuration is not mutated;
* determinism: the same ``random_state`` gives the same proposals;
* the budget: the replay loop on a real Kernel Tuner cache (the bundled pnpoly sample)
  spends exactly its budget, and the best-so-far never gets worse.

The space is hand-made and small (60 points, 48 valid, a constraint, failures), so the
checks take seconds even for Bayesian optimisation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

__all__ = ["check_strategy", "check_space", "objective"]


def check_space():
    """The small space of the checks: 5 x 6 x 2 points, 48 of them valid (``a * b <= 24``)."""
    from hpcopt.tune.space import Categorical, Integer, PowerOfTwo, SearchSpace

    return SearchSpace([PowerOfTwo("a", 1, 16), Integer("b", 0, 5), Categorical("c", ("u", "v"))], ["a * b <= 24"])


def objective(config: dict[str, Any]):
    """A deterministic bowl with two failing configurations (values to minimise)."""
    from hpcopt.tune.results import Result, Status

    a, b, c = config["a"], config["b"], config["c"]
    if (a, b) == (16, 1) or (b, c) == (5, "v"):
        return Result.failure(Status.RUNTIME_ERROR, "fails by construction")
    v = (math.log2(a) - 2) ** 2 + (b - 2) ** 2 + (0.5 if c == "u" else 0.0) + 1.0
    return Result.success(v)


def _fail(name: str, what: str) -> None:
    raise AssertionError(f"strategy {name}: {what}")


def _fresh(factory: Callable[[], Any] | Any):
    """A new strategy from a class, a factory or an instance (cloned)."""
    from hpcopt.core.params import clone
    from hpcopt.tune.strategies.base import Strategy

    if isinstance(factory, Strategy):
        return clone(factory)
    obj = factory()
    if not isinstance(obj, Strategy):
        raise AssertionError(f"the factory returned {type(obj).__name__}, not a Strategy")
    return obj


def _check_params(s, label: str) -> None:
    import inspect

    from hpcopt.core.params import clone
    from hpcopt.errors import ConfigError

    if not isinstance(getattr(s, "name", None), str) or not s.name:
        _fail(label, "has no name (the registry key)")
    try:
        params = s.get_params()
    except Exception as exc:  # noqa: BLE001 - any failure here is the violation
        _fail(label, f"get_params() raised {type(exc).__name__}: {exc} (__init__ must store each parameter "
              "under its own name)")
    init = [n for n, p in inspect.signature(type(s).__init__).parameters.items()
            if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if sorted(params) != sorted(init):
        _fail(label, f"get_params() gives {sorted(params)}, but __init__ takes {sorted(init)}: __init__ must store "
              "each parameter under its own name")
    twin = clone(s)
    if twin is s or type(twin) is not type(s):
        _fail(label, "clone() did not give a new object of the same class")
    if twin.get_params() != params:
        _fail(label, f"clone() changed the parameters: {params} became {twin.get_params()}")
    if s.set_params(**params) is not s or s.get_params() != params:
        _fail(label, "set_params(**get_params()) must return the strategy unchanged")
    try:
        s.set_params(no_such_parameter=1)
    except ConfigError:
        pass
    else:
        _fail(label, "set_params accepted an unknown parameter")
    if type(s).__name__ not in repr(s):
        _fail(label, f"repr {repr(s)!r} does not name the class")


def _check_setup_errors(factory, label: str) -> None:
    from hpcopt.errors import InputError
    from hpcopt.tune.space import Integer, Real, SearchSpace

    s = _fresh(factory)
    if not s.multi_objective:
        try:
            s.setup(check_space(), random_state=0, n_objectives=2)
        except InputError:
            pass
        else:
            _fail(label, "optimises one objective but accepted a study with two (it must raise InputError)")
    if s.needs_enumeration:
        try:
            _fresh(factory).setup(SearchSpace([Real("x", 0.0, 1.0), Integer("n", 1, 3)]), random_state=0)
        except InputError:
            pass
        else:
            _fail(label, "needs an enumerable space but accepted a continuous one (it must raise InputError)")


def _check_validation(factory, label: str) -> int:
    """Every constrained parameter set to nonsense: setup refuses it with a ConfigError naming it."""
    from hpcopt.errors import ConfigError

    s = _fresh(factory)
    constraints: dict[str, Any] = {}
    for klass in reversed(type(s).__mro__):
        constraints.update(getattr(klass, "_parameter_constraints", {}) or {})
    checked = 0
    for name, allowed in constraints.items():
        if allowed == "no_validation" or name not in s.get_params():
            continue
        bad = _fresh(factory).set_params(**{name: "not-a-valid-value"})
        try:
            bad.setup(check_space(), random_state=0)
        except ConfigError as exc:
            if repr(name) not in str(exc):
                _fail(label, f"the error for a bad {name!r} does not name it: {exc}")
        else:
            _fail(label, f"setup() accepted {name}='not-a-valid-value' (it must raise ConfigError)")
        checked += 1
    return checked


def _is_config(space, cfg: Any, label: str) -> dict[str, Any]:
    from hpcopt.errors import InputError

    if not isinstance(cfg, dict):
        _fail(label, f"ask() returned {type(cfg).__name__}, not a configuration dict")
    if set(cfg) != set(space.names):
        _fail(label, f"proposed {cfg}, whose names are not the space's {space.names}")
    try:
        clean = space.check(cfg)
    except InputError as exc:
        _fail(label, f"proposed {cfg}, outside the space: {exc}")
    if clean != cfg:
        _fail(label, f"proposed {cfg}, which the space reads as {clean}")
    return cfg


def _drive(factory, label: str, *, random_state: int, budget: int, pre_told: int = 0, batch: int = 1,
           n_objectives: int = 1) -> dict[str, Any]:
    """Run the ask/tell protocol as the study does; check every proposal; the proposals."""
    from hpcopt.tune.results import Result, Status

    space = check_space()
    s = _fresh(factory).setup(space, random_state=random_state, n_objectives=n_objectives)
    if s is None:
        _fail(label, "setup() must return the strategy")
    told: dict[tuple, Any] = {}
    proposals: list[tuple] = []

    def result_of(cfg):
        r = objective(cfg)
        if n_objectives > 1 and r.ok:
            r = Result.success(r.value, values=(r.value, float(cfg["a"] * (cfg["b"] + 1))))
        return r

    def tell(cfg, res):
        before = copy.deepcopy(cfg)
        s.tell(cfg, res)
        if cfg != before:
            _fail(label, f"tell() mutated the configuration {before} into {cfg}")

    # configurations measured before the strategy was asked anything (a resumed study)
    for point in space.valid_points()[:pre_told]:
        cfg = space.to_config(point)
        told[space.key(cfg)] = result_of(cfg)
        tell(cfg, told[space.key(cfg)])
    free = 0
    exhausted = False
    while len(told) < budget and free < 50 * budget:
        asked = []
        for _ in range(batch):
            cfg = s.ask()
            if cfg is None:
                exhausted = True
                break
            cfg = _is_config(space, cfg, label)
            k = space.key(cfg)
            proposals.append(k)
            if s.respects_constraints and not space.is_valid(cfg):
                _fail(label, f"proposed {cfg}, which breaks the constraint(s) {space.violated(cfg)}")
            if k in told and s.distinct:
                _fail(label, f"proposed {cfg} again although its result was told")
            if any(space.key(c) == k for c in asked):
                free += 1  # asked twice before its tell: the study skips a pending one, untold
                continue
            asked.append(cfg)
        for cfg in reversed(asked):  # tells need not come in the order of the asks
            k = space.key(cfg)
            if k in told:
                tell(cfg, told[k])  # the study answers a repeat from its cache
                free += 1
            elif not space.is_valid(cfg):
                tell(cfg, Result.failure(Status.INVALID, "breaks a constraint"))
                free += 1
            else:
                told[k] = result_of(cfg)
                tell(cfg, told[k])
        if exhausted:
            break
    return {"proposals": proposals, "told": len(told), "exhausted": exhausted, "strategy": s}


def _check_replay_budget(factory, label: str, budget: int) -> None:
    import numpy as np

    from hpcopt.data.samples import sample_path
    from hpcopt.tune.methodology import replay_run
    from hpcopt.tune.replay import load_cache

    cache = load_cache(sample_path("kt-pnpoly-rtx3090"))
    runs = [replay_run(_fresh(factory), cache, budget, random_state=3) for _ in range(2)]
    trace = runs[0]["trace"]
    if trace.size != budget:
        _fail(label, f"the replay with budget {budget} gave {trace.size} evaluations")
    finite = trace[np.isfinite(trace)]
    if finite.size and np.any(np.diff(finite) > 0):
        _fail(label, "the best-so-far of its replay got worse")
    if not np.array_equal(trace, runs[1]["trace"], equal_nan=True):
        _fail(label, "two replays with the same random_state differ")


def check_strategy(factory: Callable[[], Any] | Any, *, budget: int = 20, replay_budget: int = 15,
                   random_state: int = 0) -> dict[str, Any]:
    """Check a strategy class, factory or instance against the contract (module docstring).

    Returns what was checked (counts), for the record; raises AssertionError on a violation.
    """
    s = _fresh(factory)
    label = f"{getattr(s, 'name', type(s).__name__)!r} ({type(s).__name__})"
    _check_params(s, label)
    _check_setup_errors(factory, label)
    validated = _check_validation(factory, label)
    space = check_space()
    n_valid = len(space.valid_points())
    one = _drive(factory, label, random_state=random_state, budget=budget)
    two = _drive(factory, label, random_state=random_state, budget=budget)
    if one["proposals"] != two["proposals"]:
        first = next(i for i, (a, b) in enumerate(zip(one["proposals"] + [None], two["proposals"] + [None])) if a != b)
        _fail(label, f"not deterministic under random_state={random_state}: proposal {first + 1} differs between "
              "two runs")
    # asks ahead of tells (parallel workers), some results known beforehand (a resumed study)
    batched = _drive(factory, label, random_state=random_state + 1, budget=budget, pre_told=5, batch=3)
    checked = {"proposals": len(one["proposals"]), "batched_proposals": len(batched["proposals"]),
               "validated_parameters": validated}
    if s.distinct:
        # the whole space: proposals until None, which may come only when everything was told
        full = _drive(factory, label, random_state=random_state + 2, budget=n_valid + 1, pre_told=4, batch=2)
        if full["told"] != n_valid:
            _fail(label, f"ask() returned None after {full['told']} of the {n_valid} valid configurations were "
                  "told: a distinct strategy must be able to spend any budget the space allows")
        if not full["exhausted"]:
            _fail(label, f"still proposing after all {n_valid} valid configurations were told "
                  "(ask() must return None)")
        checked["exhausted_after"] = full["told"]
    if s.multi_objective:
        multi = _drive(factory, label, random_state=random_state, budget=budget, n_objectives=2)
        checked["multi_objective_proposals"] = len(multi["proposals"])
    _check_replay_budget(factory, label, replay_budget)
    checked["replay_budget"] = replay_budget
    return checked
