"""The autotuning use cases as tasks (see :mod:`hpcopt.core.tasks`): one function each,
returning a payload that every face renders.

* ``tune.run`` -- a study from a TOML spec (resumable by name), then the best
  configuration measured against the spec's reference, interleaved;
* ``tune.ask`` / ``tune.tell`` -- the same bookkeeping for evaluations run elsewhere;
* ``tune.space`` -- the size of a spec's space and how much of it is valid;
* ``tune.observers`` -- which objectives this machine can measure;
* ``tune.replay`` -- one strategy offline against a measured cache (schema ``tune.replay/1``);
* ``tune.compare_strategies`` -- the methodology score of strategies on replay caches;
* ``tune.report`` -- the summary (and HTML page) of a stored study;
* ``tune.flags`` -- compiler flags searched against ``-O3``.

Every protocol lives here or below: the reference comparison, the failure hints, the
report files (written by :mod:`hpcopt.tune.report`, checked before any work).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from hpcopt.core.progress import ProgressFn
from hpcopt.core.tasks import task
from hpcopt.errors import ConfigError, InputError

#: the study storage when none is given (a SQLite file in the working folder)
DEFAULT_STORAGE = "hpcopt-tune.db"

_LIBS = ("numpy", "scipy", "optuna", "sklearn")


def storage_file(storage: str) -> str | None:
    """The file behind a file-backed storage URL (None for a server URL or ``:memory:``)."""
    for prefix in ("sqlite:///", "journal:///", "journal://"):
        if storage.startswith(prefix):
            return storage[len(prefix):]
    return None if "://" in storage or storage == ":memory:" else storage


def _must_exist(storage: str, hint: str) -> None:
    """A file-backed storage must exist before reading from it (a server URL is not checked)."""
    path = storage_file(storage)
    if path is not None and not Path(path).is_file():
        raise InputError("the study storage does not exist", source=path, hint=hint)


def _prepare_report(report: str | Path | None, inputs: list, force: bool) -> Path | None:
    """Check the report path before any work (parents made, inputs and existing files protected)."""
    if report is None:
        return None
    from hpcopt.core.files import prepare_output

    return prepare_output(report, inputs=inputs, force=force, option="--report")


def _rerun_where(storage: str) -> str:
    return "" if storage == DEFAULT_STORAGE else f" --storage {storage}"


def _load_caches(paths: list[str | Path]):
    from hpcopt.tune.replay import load_cache

    if not paths:
        raise ConfigError("give at least one replay cache (--cache FILE)")
    return [load_cache(p) for p in paths]


@task("tune.run", inputs=("spec",), outputs=("report",), libraries=_LIBS)
def run(spec: str | Path, *, strategy: str | None = None, budget: int | None = None, study: str | None = None,
        storage: str = DEFAULT_STORAGE, retry_failed: bool = False, seed: int | None = None, workers: int = 1,
        executor: str = "process", executor_options: dict[str, Any] | None = None,
        run_args: list[str] | None = None, repeats: int | None = None, compare: bool = True,
        pairs: int | None = None, report: str | Path | None = None, force: bool = False,
        release_running: bool = False, lease: float | None = None,
        progress: ProgressFn | None = None) -> dict[str, Any]:
    """Tune the configuration a spec describes; resumable by study name.

    ``spec`` is a TOML file or a bundled example name. ``budget`` counts the distinct
    configurations the study should hold (resumed ones count; default: the spec's, else
    50); ``seed`` defaults to the spec's random state, else 0. With ``compare``, a
    one-objective study whose spec names a reference ends with the best configuration
    and the reference measured alternately (``versus_reference``: ``pairs`` interleaved
    pairs, default the larger of 5 and the runner's repeats), and the best configuration's
    output checked once more against the reference's. A study where nothing
    gave a valid result is kept in the storage and raises an InputError that says how to
    measure the failures again (``retry_failed``).
    """
    from hpcopt.tune.runners import CKernelRunner, interleaved
    from hpcopt.tune.spec import load_spec, resolve_spec
    from hpcopt.tune.study import Study

    sp = load_spec(resolve_spec(spec))
    _prepare_report(report, [sp.path, storage_file(storage)], force)
    over: dict[str, Any] = {}
    if run_args is not None:
        over["run_args"] = list(run_args)
    if repeats is not None:
        over["repeats"] = repeats
    runner = sp.make_runner(**over)
    name = study or sp.name
    objectives = sp.objectives
    multi = len(objectives) > 1
    try:
        st = Study(sp.space, runner, strategy=strategy or sp.study.get("strategy") or ("nsga2" if multi else None),
                   name=name, storage=storage,
                   random_state=seed if seed is not None else int(sp.study.get("random_state", 0)),
                   extra_info={"spec": str(sp.path)}, n_objectives=len(objectives), objective_names=objectives,
                   directions=sp.directions, release_running=release_running, lease_s=lease,
                   retry_failed=retry_failed)
        n = budget or int(sp.study.get("budget", 50))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # in the payload's "warning" instead
            out = st.optimize(n, progress=progress, n_workers=workers, executor=executor,
                              executor_options=executor_options or {})
        best = st.best
        if best is None:
            first = next((t.result.message for t in st.trials if t.result is not None and not t.result.ok), "")
            changed = (" (the runner changed since the study was created, e.g. the kernel was edited, yet nothing "
                       "was measured again)" if st.runner_changed and not out["measured"] else "")
            raise InputError(f"no configuration gave a valid result ({out['status_counts']}, {out['measured']} "
                             f"measured in this run); first failure: {first[:300]}", source=str(sp.path),
                             hint=f"the {out['trials']} trials are saved in {storage}, study {name!r}, and failures "
                             f"are final{changed}: rerun with --study {name}{_rerun_where(storage)} --retry-failed "
                             "after fixing the kernel")
        done = [t for t in st.trials if t.state == "done"]
        out["best_found_at_trial"] = next(i + 1 for i, t in enumerate(done) if t.number == best["number"])
        if compare and not multi and sp.baseline is not None and hasattr(runner, "run_once"):
            comp = interleaved(runner, sp.baseline, best["config"], repeats=pairs or max(5, runner.repeats))
            out["versus_reference"] = {"reference": sp.baseline, **comp.to_dict(), "output_matches_reference": None}
            if getattr(runner, "check", None) is not None:  # a wrong answer can never become the speedup
                final = runner.run_once(best["config"])
                out["versus_reference"]["output_matches_reference"] = (
                    final.status.value == "ok" and runner.check.compare(final.output) is None)
    finally:
        if isinstance(runner, CKernelRunner):
            runner.close()
    out.pop("schema", None)  # the Result's schema (tune.run/1) names it
    out["spec"] = str(sp.path)
    out["final_failures"] = sum(v for k, v in out["status_counts"].items() if k not in ("ok", "invalid"))
    if out["final_failures"]:
        out["retry_hint"] = (f"{out['final_failures']} failed configuration(s) are final; to measure them again "
                             f"after a fix, rerun with --study {name}{_rerun_where(storage)} --retry-failed")
    if report is not None:
        from hpcopt.tune.report import write_html

        out["report"] = str(write_html(st, report))
    return out


def _study_for(spec: str | Path, study: str | None, storage: str, strategy: str | None, seed: int | None):
    from hpcopt.tune.spec import load_spec, resolve_spec
    from hpcopt.tune.study import Study

    sp = load_spec(resolve_spec(spec))
    multi = len(sp.objectives) > 1
    st = Study(sp.space, None, strategy=strategy or sp.study.get("strategy") or ("nsga2" if multi else None),
               name=study or sp.name, storage=storage,
               random_state=seed if seed is not None else int(sp.study.get("random_state", 0)),
               extra_info={"spec": str(sp.path)}, redo_interrupted=False, n_objectives=len(sp.objectives),
               objective_names=sp.objectives, directions=sp.directions)
    return sp, st


@task("tune.ask", inputs=("spec",), libraries=_LIBS)
def ask(spec: str | Path, *, study: str | None = None, storage: str = DEFAULT_STORAGE, strategy: str | None = None,
        seed: int | None = None) -> dict[str, Any]:
    """Propose the next configuration to evaluate elsewhere (report it with ``tune.tell``).

    ``trial`` and ``config`` are None when the space is exhausted.
    """
    sp, st = _study_for(spec, study, storage, strategy, seed)
    nxt = st.ask()
    if nxt is None:
        return {"study": st.name, "trial": None, "config": None}
    return {"study": st.name, "trial": nxt[0], "config": nxt[1], "derived": sp.space.with_derived(nxt[1])}


@task("tune.tell", seed=None)
def tell(study: str, trial: int, *, value: float | None = None, values: list[float] | None = None,
         status: str = "ok", message: str = "", storage: str = DEFAULT_STORAGE) -> dict[str, Any]:
    """Record the result of a trial proposed by ``tune.ask``.

    ``value`` for a one-objective study (as measured; the study's direction says which
    way is better), ``values`` one per objective in the study's order, or a failure
    ``status`` (compile_error, runtime_error, timeout, wrong_answer) with a ``message``.
    """
    from hpcopt.tune.results import Result, Status
    from hpcopt.tune.storage import Storage, stored_objectives

    try:
        st_ = Status(status)
    except ValueError:
        raise ConfigError(f"unknown status {status!r}; one of: {', '.join(s.value for s in Status)}") from None
    if value is not None and values is not None:
        raise ConfigError("give --value or --values, not both")
    vals = [float(v) for v in values] if values is not None else [float(value)] if value is not None else None
    if st_ is Status.OK and vals is None:
        raise ConfigError("give --value (or --values) for a successful trial, or --status for a failure")
    _must_exist(storage, "run 'hpcopt tune ask' first")
    db = Storage(storage)
    names, _dirs = stored_objectives(db.study_info(study))
    if st_ is Status.OK and len(vals) != len(names):
        raise ConfigError(f"study {study!r} has {len(names)} objectives ({', '.join(names)}); got {len(vals)} "
                          f"value(s): give --values with one number per objective")
    running = {t.number: t for t in db.trials(study) if t.state == "running"}
    if trial not in running:
        raise InputError(f"trial {trial} of study {study!r} is not waiting for a result", field="--trial",
                         hint=f"waiting: {sorted(running) or 'none'}")
    if st_ is Status.OK:
        res = Result.success(vals[0], values=vals if len(vals) > 1 else None,
                             extra={"objectives": names} if len(vals) > 1 else None)
    else:
        res = Result.failure(st_, message or st_.value)
    if not db.finish_trial(study, trial, res, "told", key=running[trial].key):
        raise InputError(f"trial {trial} of study {study!r} was finished or released meanwhile", field="--trial",
                         hint="ask for a new trial")
    return {"study": study, "trial": trial, "config": running[trial].config, "result": res.to_dict()}


@task("tune.space", inputs=("spec",), seed=None)
def space(spec: str | Path) -> dict[str, Any]:
    """Size of a spec's search space and how many points satisfy the constraints."""
    from hpcopt.tune.spec import load_spec, resolve_spec

    sp = load_spec(resolve_spec(spec))
    return {**sp.space.size_report(), **sp.space.to_dict()}


@task("tune.observers", seed=None)
def observers() -> dict[str, Any]:
    """What this machine can measure as objectives: time, max_rss (peak memory), energy (RAPL)."""
    from hpcopt.tune.observers import observer_status

    return dict(observer_status())


def replay_summary(cache, strategy: str | None, budget: int | None, seed: int) -> dict[str, Any]:
    """One strategy's replay on a loaded cache, summarised: best found, its ratio to the
    optimum, the methodology score, evaluations to the best."""
    from hpcopt.tune.methodology import cutoff_budget, replay_run, score_curve
    from hpcopt.tune.strategies import DEFAULT_STRATEGY

    name = strategy or DEFAULT_STRATEGY
    b = budget or cutoff_budget(cache)
    out = replay_run(name, cache, b, seed)
    trace = out["trace"]
    return {"cache": cache.summary(), "strategy": name, "random_state": seed, "budget": b,
            "best": float(trace[-1]), "optimum": cache.optimum, "best_over_optimum": float(trace[-1] / cache.optimum),
            "score": float(score_curve(cache, trace).mean()), "evaluations_to_best": int((trace > trace[-1]).sum() + 1),
            "free_proposals": int(out["free_proposals"]), "seconds": out["seconds"]}


@task("tune.replay", inputs=("cache",), libraries=_LIBS)
def replay(cache: str | Path, *, strategy: str | None = None, budget: int | None = None,
           seed: int = 0) -> dict[str, Any]:
    """Run one strategy offline against a measured Kernel Tuner cache.

    ``budget`` defaults to the methodology cutoff (the evaluations random search needs,
    in expectation, to come within 5 % of the median-to-optimum distance).
    """
    (c,) = _load_caches([cache])
    return replay_summary(c, strategy, budget, seed)


def _slim(res: dict[str, Any]) -> dict[str, Any]:
    """The comparison without its curves (they stay in the report and in ``extras``)."""
    out = {k: v for k, v in res.items() if k not in ("spaces", "schema")}
    out["spaces"] = [{k: v for k, v in s.items() if k != "random_curve"} | {
        "strategies": {n: {k: v for k, v in d.items() if k != "mean_best_curve"} for n, d in s["strategies"].items()}}
        for s in res["spaces"]]
    return out


@task("tune.compare_strategies", inputs=("caches",), outputs=("report",), libraries=_LIBS)
def compare_strategies(caches: list[str | Path], *, strategies: list[str] | None = None, budget: int | None = None,
                       repeats: int = 10, seed: int = 0, report: str | Path | None = None, force: bool = False,
                       progress: ProgressFn | None = None) -> dict[str, Any]:
    """Score strategies with the Kernel Tuner methodology on replay caches.

    Run ``r`` of each strategy uses seed ``seed + 1000 r``; ``budget`` defaults to the
    cutoff per space. ``strategies`` defaults to every one-objective strategy. The
    report holds the score table and a convergence plot per space.
    """
    from hpcopt.tune import methodology

    _prepare_report(report, list(caches), force)
    cs = _load_caches(list(caches))
    res = methodology.compare_strategies(cs, strategies or None, budget=budget, repeats=repeats, random_state=seed,
                                         progress=progress)
    out = _slim(res)
    if report is not None:
        from hpcopt.tune.report import write_compare_html

        out["report"] = str(write_compare_html(res, report))
    out["_extras"] = {"comparison": res}
    return out


@task("tune.report", inputs=("storage",), outputs=("report",), seed=None, libraries=_LIBS)
def study_report(storage: str = DEFAULT_STORAGE, *, study: str | None = None, report: str | Path | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Summarise a stored study (best, failures, cost model and parameter importance,
    Pareto front); optionally an HTML page (convergence, importance, Pareto)."""
    from hpcopt.tune.report import load_study, study_report as summarise, write_html

    _must_exist(storage, "run 'hpcopt tune run' first")
    _prepare_report(report, [storage_file(storage)], force)
    st = load_study(storage, study)
    rep = summarise(st)
    rep.pop("schema", None)
    if report is not None:
        rep["report"] = str(write_html(st, report))
    return rep


@task("tune.flags", inputs=("source",), libraries=_LIBS)
def flags(source: str | Path, *, compiler: str = "gcc", compile_args: list[str] | None = None,
          run_args: list[str] | None = None, timing: str = "user", pattern: str | None = None,
          check: str | None = None, rtol: float | None = None, atol: float | None = None, budget: int = 40,
          strategy: str | None = None, repeats: int = 3, final_repeats: int = 11, seed: int = 0,
          progress: ProgressFn | None = None) -> dict[str, Any]:
    """Search compiler flags against -O3 and report the speedup with its spread.

    Fast-math flags join the space only with an output tolerance (``rtol``/``atol``);
    every candidate's output is checked against the baseline's.
    """
    from hpcopt.tune.flags import tune_flags

    rep = tune_flags(source, compiler=compiler, compile_args=list(compile_args or ()), run_args=list(run_args or ()),
                     timing=timing, pattern=pattern, check=check, rtol=rtol, atol=atol, budget=budget,
                     strategy=strategy, repeats=repeats, final_repeats=final_repeats, random_state=seed,
                     progress=progress)
    rep.pop("schema", None)
    return rep


__all__ = ["run", "ask", "tell", "space", "observers", "replay", "compare_strategies", "study_report", "flags",
           "replay_summary", "storage_file", "DEFAULT_STORAGE"]
