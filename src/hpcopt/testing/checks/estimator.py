"""Conformance checks for online runtime estimators (:class:`hpcopt.estimate.protocol.OnlineEstimator`).

``check_estimator(factory)`` replays a small synthetic trace (users with their own typical
runtimes, requests above them) through fresh estimators from ``factory`` and raises
:class:`AssertionError` naming the broken part of the contract:

- the protocol: ``start`` / ``on_submit`` / ``on_complete``; ``start`` does not modify the
  job table it is shown;
- every answer is an (estimate, upper bound) pair of numbers, the estimate finite and
  >= 0, the upper bound >= 0 (it may be +inf: no bound known);
- no leakage: the runtimes of jobs that end after a time T are changed (they still end
  after T) and every estimate for a job submitted before T must stay exactly the same;
  and an object replayed on one trace, then on another, answers there as a fresh one does
  (``start`` forgets everything learned);
- determinism: two fresh estimators answer identically (seeded by ``random_state``);
- parameters, where it has ``get_params``: ``set_params(**get_params())`` and ``clone``
  keep the parameters and answers; an unknown parameter is a ConfigError; a value outside
  a declared constraint (``_parameter_constraints``, :mod:`hpcopt.core.params`) makes
  ``start`` raise ConfigError;
- model files, where it has ``save`` and ``load``: the model learned online survives
  the round trip with the same estimates and intervals.

``factory`` is a callable returning a new estimator (a class, ``lambda:
make_online("gbm")``), or an unfitted estimator, which is deep-copied.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["check_estimator", "conformance_trace"]


def conformance_trace(n: int = 600, users: int = 20, seed: int = 0):
    """A deterministic synthetic trace: per-user lognormal runtimes below their requests."""
    from hpcopt.data.workload import Workload

    rng = np.random.default_rng(seed)
    mu = rng.uniform(4.0, 9.0, users)
    user = rng.integers(0, users, n)
    req = np.ceil(np.exp(mu[user] + 1.2) / 600) * 600
    runtime = np.minimum(np.round(np.exp(mu[user] + rng.normal(0, 0.6, n))) + 1, req)
    procs = rng.choice([1, 2, 4, 8, 16], n)
    return Workload.from_arrays(source="conformance", submit=np.round(np.cumsum(rng.exponential(600.0, n))),
                                wait=rng.exponential(300.0, n).round(), runtime=runtime, req_time=req,
                                req_procs=procs, alloc_procs=procs, user=user + 1, group=user % 5 + 1)


def _factory(obj: Any) -> Callable[[], Any]:
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "on_submit")):
        return obj
    # copies, not clones: the clone is one of the things checked
    return lambda: copy.deepcopy(obj)


class _Recorder:
    """Drives the inner estimator and checks each answer and that ``start`` keeps its table."""

    def __init__(self, inner: Any, name: str) -> None:
        self.inner = inner
        self.name = name

    def start(self, jobs, header) -> None:
        before = jobs.copy()
        self.inner.start(jobs, header)
        assert jobs.equals(before), f"{self.name}: start() modified the job table it was shown"

    def on_submit(self, row: int, now: float) -> tuple[float, float]:
        answer = self.inner.on_submit(row, now)
        assert isinstance(answer, tuple) and len(answer) == 2, \
            f"{self.name}: on_submit must return (estimate, upper bound); got {answer!r}"
        est, upper = answer
        assert isinstance(est, (int, float, np.number)) and isinstance(upper, (int, float, np.number)), \
            f"{self.name}: on_submit returned non-numbers {answer!r} for job row {row}"
        assert math.isfinite(est) and est >= 0, \
            f"{self.name}: the estimate for job row {row} must be finite and >= 0; got {est!r}"
        assert not math.isnan(upper) and upper >= 0, \
            f"{self.name}: the upper bound for job row {row} must be >= 0 (or inf); got {upper!r}"
        return float(est), float(upper)

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        self.inner.on_complete(row, now, runtime)


def _replay(est: Any, workload, name: str):
    from hpcopt.estimate.replay import replay_trace

    return replay_trace(workload, _Recorder(est, name))


def _same(a, b) -> bool:
    return np.array_equal(a.estimate, b.estimate) and np.array_equal(a.upper, b.upper)


def _first_difference(a, b, mask=None) -> str:
    idx = np.flatnonzero(((a.estimate != b.estimate) | (a.upper != b.upper)) & (True if mask is None else mask))
    if not len(idx):
        return ""
    i = int(idx[0])
    return (f" (first at job row {int(a.rows[i])}, submitted at {a.submit[i]:.0f} s: "
            f"{a.estimate[i]!r}/{a.upper[i]!r} vs {b.estimate[i]!r}/{b.upper[i]!r})")


def _perturbed(workload, cutoff_quantile: float = 0.6):
    """The trace with the runtimes of jobs ending after T made longer, and T."""
    from hpcopt.data.workload import Workload

    submit = workload.column("submit").astype(float)
    wait = np.maximum(workload.column("wait").astype(float), 0.0)
    run = workload.column("runtime").astype(float)
    T = float(np.quantile(submit, cutoff_quantile))
    late = submit + wait + run > T
    jobs = workload.jobs.copy()
    jobs.loc[late, "runtime"] = np.round(run[late] * 3 + 7)  # longer: they still end after T
    return Workload(jobs, dict(workload.header), "conformance-perturbed"), T


def _check_params(factory: Callable[[], Any], name: str, workload, reference) -> None:
    from hpcopt.core.params import clone
    from hpcopt.errors import ConfigError

    est = factory()
    params = est.get_params()
    assert isinstance(params, dict), f"{name}: get_params() must return a dict; got {type(params).__name__}"
    assert est.set_params(**params) is est, f"{name}: set_params must return the estimator itself"
    assert est.get_params() == params, f"{name}: set_params(**get_params()) changed the parameters"
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est, f"{name}: clone must return a new {type(est).__name__}"
    assert twin.get_params() == params, \
        f"{name}: clone changed the parameters: {params!r} became {twin.get_params()!r}"
    repr(twin)
    try:
        est.set_params(no_such_parameter_=1)
    except ConfigError:
        pass
    except Exception as exc:  # noqa: BLE001 - any other type is the violation being reported
        raise AssertionError(f"{name}: an unknown parameter must raise hpcopt's ConfigError; got "
                             f"{type(exc).__name__}: {exc}") from None
    else:
        raise AssertionError(f"{name}: set_params accepted an unknown parameter")
    r = _replay(twin, workload, name)
    assert _same(r, reference), f"{name}: a clone answers differently from the original{_first_difference(r, reference)}"
    _check_validation(factory, name, workload)


_CANDIDATES = ("<not a valid value>", -10**9, -0.5, 1.5, 10**9 + 0.5, float("nan"))


def _check_validation(factory: Callable[[], Any], name: str, workload) -> None:
    """Each constrained parameter set to a value its constraints refuse: ``start`` must say so."""
    from hpcopt.core.params import validate_params
    from hpcopt.errors import ConfigError
    from hpcopt.estimate.protocol import submit_view

    est = factory()
    constraints: dict[str, Any] = {}
    for klass in reversed(type(est).__mro__):
        constraints.update(getattr(klass, "_parameter_constraints", {}) or {})
    for pname, allowed in constraints.items():
        if allowed == "no_validation" or pname not in est.get_params():
            continue
        bad = None
        for cand in _CANDIDATES:
            try:
                validate_params(est, {pname: cand})
            except ConfigError:
                bad = (cand,)
                break
        if bad is None:
            continue
        e = factory().set_params(**{pname: bad[0]})
        try:
            e.start(submit_view(workload), dict(workload.header))
        except ConfigError:
            continue
        except Exception as exc:  # noqa: BLE001 - any other type is the violation being reported
            raise AssertionError(f"{name}: {pname}={bad[0]!r} must be refused with hpcopt's ConfigError; got "
                                 f"{type(exc).__name__}: {exc}") from None
        raise AssertionError(f"{name}: start() accepted {pname}={bad[0]!r}, which its parameter constraints refuse")


def _check_model_files(est: Any, name: str, workload) -> bool:
    """The round trip of the model ``est`` learned online; False when it has none to save."""
    if not (hasattr(est, "predict_interval") and getattr(est, "is_trained", True)):
        return False
    point, pis = est.predict_interval(workload)
    with tempfile.TemporaryDirectory(prefix="hpcopt-check-") as tmp:
        path = Path(tmp) / "model"
        est.save(path)
        back = type(est).load(path)
    assert type(back) is type(est), f"{name}: load returned a {type(back).__name__}, not a {type(est).__name__}"
    p2, pis2 = back.predict_interval(workload)
    assert np.array_equal(point, p2) and np.array_equal(pis, pis2), \
        f"{name}: the saved and loaded model predicts differently from the one saved"
    if hasattr(est, "get_params"):
        assert back.get_params() == est.get_params(), f"{name}: the parameters did not survive save/load"
    return True


def check_estimator(factory: Any, *, name: str | None = None, workload=None) -> dict[str, Any]:
    """Check the online estimator contract (see the module docstring); raise AssertionError on a violation.

    Returns a summary: the checks run and the number of jobs replayed.
    """
    from hpcopt.estimate.protocol import OnlineEstimator

    make = _factory(factory)
    first = make()
    name = name or getattr(first, "name", None) or type(first).__name__
    for method in ("start", "on_submit", "on_complete"):
        assert callable(getattr(first, method, None)), f"{name}: the OnlineEstimator protocol needs {method}()"
    assert isinstance(first, OnlineEstimator), f"{name}: not an OnlineEstimator"
    w = conformance_trace() if workload is None else workload
    checks = ["protocol", "answers"]

    a = _replay(first, w, name)
    fresh = _replay(make(), w, name)
    assert _same(a, fresh), (
        f"{name}: two fresh estimators answer differently on the same trace: not deterministic under its "
        f"random_state, or state shared between instances carries runtimes from one replay into the next"
        f"{_first_difference(a, fresh)}")
    checks.append("determinism")

    w2, T = _perturbed(w)
    b = _replay(make(), w2, name)
    before = a.submit < T
    assert np.array_equal(a.estimate[before], b.estimate[before]) and np.array_equal(a.upper[before], b.upper[before]), (
        f"{name}: leakage: changing the runtimes of jobs that end after t={T:.0f} s changed estimates of jobs "
        f"submitted before it{_first_difference(a, b, before)}")
    checks.append("no leakage (future runtimes perturbed)")

    used = make()
    _replay(used, w2, name)
    again = _replay(used, w, name)
    assert _same(again, a), (
        f"{name}: leakage across replays: after replaying another trace the same object answers differently from "
        f"a fresh one (start() must forget what it learned){_first_difference(again, a)}")
    checks.append("start resets")

    if hasattr(first, "get_params") and hasattr(first, "set_params"):
        _check_params(make, name, w, a)
        checks.append("get_params/set_params/clone")
    if hasattr(first, "save") and hasattr(type(first), "load") and _check_model_files(first, name, w):
        checks.append("model save/load")
    return {"estimator": name, "jobs": int(len(a.rows)), "checks": checks}
