"""``hpcopt tune``: run studies from specs, replay caches, compare strategies, tune flags."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json, progress_bar
from hpcopt.errors import ConfigError, InputError

_DEFAULT_STORAGE = "hpcopt-tune.db"
_FORCE_HELP = "Overwrite an existing --report file."
_REPORT_HELP = "Write a self-contained HTML report (figures embedded) to this file."


def _storage_file(storage: str) -> str | None:
    """The file behind a file-backed storage URL (None for a server URL)."""
    for prefix in ("sqlite:///", "journal:///", "journal://"):
        if storage.startswith(prefix):
            return storage[len(prefix):]
    return None if "://" in storage or storage == ":memory:" else storage


def _prepare_report(report: Path | None, inputs: list, force: bool) -> Path | None:
    """Check the --report path before any work (parents made, inputs and files protected)."""
    if report is None:
        return None
    from hpcopt.core.files import prepare_output

    return prepare_output(report, inputs=inputs, force=force, option="--report")

_STORAGE_HELP = ("Where studies are stored: a SQLite file (default), sqlite:///x.db, journal:///x.log "
                 "(append-only file, several processes/machines), or a SQLAlchemy URL (postgresql://...).")


def _must_exist(storage: str, hint: str) -> None:
    """A file-backed storage must exist before reading from it (a server URL is not checked)."""
    path = _storage_file(storage)
    if path is not None and not Path(path).is_file():
        raise InputError("the study storage does not exist", source=path, hint=hint)


def _options(pairs: list[str] | None) -> dict:
    out: dict = {}
    for p in pairs or []:
        k, eq, v = p.partition("=")
        if not eq or not k:
            raise ConfigError(f"--executor-opt wants KEY=VALUE; got {p!r}")
        for cast in (int, float):
            try:
                out[k] = cast(v)
                break
            except ValueError:
                continue
        else:
            out[k] = {"true": True, "false": False}.get(v.lower(), v)
    return out


sub = typer.Typer(help="Autotune kernels, compiler flags and runtime parameters.", no_args_is_help=True)
app.add_typer(sub, name="tune")


def _spec_path(spec: str) -> Path:
    p = Path(spec)
    if p.is_file():
        return p
    from hpcopt.tune.spec import example_path

    if "/" not in spec and not spec.endswith(".toml"):
        return example_path(spec)
    raise InputError("the spec file does not exist", source=spec,
                     hint="give a TOML spec, or a bundled example name: matmul, stencil")


def _caches(paths: list[str]):
    from hpcopt.tune.replay import load_cache

    files: list[str] = []
    for p in paths:
        files.extend(x for x in p.split(",") if x)
    if not files:
        raise ConfigError("give at least one --cache FILE")
    return [load_cache(f) for f in files]


@sub.command("run")
def run_cmd(
    spec: str = typer.Argument(..., help="TOML spec, or a bundled example: matmul, stencil."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name (default: the spec's, else bo)."),
    budget: Optional[int] = typer.Option(
        None, "--budget", help="Distinct configurations the study should hold, finished or running (resumed ones "
        "count; a failure measured again with --retry-failed counts once). Default: the spec's, else 50."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (resumes if it exists)."),
    storage: str = typer.Option(_DEFAULT_STORAGE, "--storage", help=_STORAGE_HELP),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Measure the study's failed configurations again (after fixing the kernel), "
        "before anything new; the failed trials stay in the history, marked as superseded, and no longer count "
        "toward --budget. Without it a failure is final."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random state (default: the spec's, else 0)."),
    workers: int = typer.Option(1, "--workers", help="Parallel evaluations; 1 measures one at a time."),
    executor: str = typer.Option("process", "--executor",
                                 help="Where parallel evaluations run: process (local pool), dask, submitit."),
    executor_opt: Optional[list[str]] = typer.Option(
        None, "--executor-opt", help="KEY=VALUE for the executor, repeatable: dask address=tcp://host:8786; "
        "submitit folder=jobs cluster=slurm|local|debug slurm_partition=cpu timeout_min=30 ..."),
    run_args: Optional[str] = typer.Option(None, "--run-args", help="Override the program's arguments (space-separated)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="Override timed repetitions per configuration."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Measure best vs reference interleaved."),
    report: Optional[Path] = typer.Option(None, "--report", help=_REPORT_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    release_running: bool = typer.Option(
        False, "--release-running", help="Measure again every trial left running (after a crash on another "
        "host or a requeue); without it a running trial is released when its owner on this host is gone or "
        "its heartbeat is older than --lease."),
    lease: Optional[float] = typer.Option(None, "--lease", help="Seconds without a heartbeat after which a "
                                          "running trial counts as lost (default 120, or twice the timeout)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Tune the configuration described by a spec; resumable by --study name."""
    from hpcopt.tune.runners import CKernelRunner, interleaved
    from hpcopt.tune.spec import load_spec
    from hpcopt.tune.study import Study

    ex_opts = _options(executor_opt)  # bad options fail before anything is created
    sp = load_spec(_spec_path(spec))
    _prepare_report(report, [sp.path, _storage_file(storage)], force)
    over = {}
    if run_args is not None:
        over["run_args"] = run_args.split()
    if repeats is not None:
        over["repeats"] = repeats
    runner = sp.make_runner(**over)
    name = study or sp.name
    objectives = sp.objectives
    multi = len(objectives) > 1
    st = Study(sp.space, runner, strategy=strategy or sp.study.get("strategy") or ("nsga2" if multi else None),
               name=name, storage=storage,
               random_state=seed if seed is not None else int(sp.study.get("random_state", 0)),
               extra_info={"spec": str(sp.path)}, n_objectives=len(objectives), objective_names=objectives,
               directions=sp.directions, release_running=release_running, lease_s=lease, retry_failed=retry_failed)
    n = budget or int(sp.study.get("budget", 50))
    import warnings

    with progress_bar(f"tuning {name}", enabled=not json_out) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # reported below (and in --json) instead
        out = st.optimize(n, progress=bar, n_workers=workers, executor=executor, executor_options=ex_opts)
    best = st.best
    if best is None:
        if isinstance(runner, CKernelRunner):
            runner.close()
        first = next((t.result.message for t in st.trials if t.result is not None and not t.result.ok), "")
        where = "" if storage == _DEFAULT_STORAGE else f" --storage {storage}"
        changed = (" (the runner changed since the study was created, e.g. the kernel was edited, yet nothing "
                   "was measured again)" if st.runner_changed and not out["measured"] else "")
        raise InputError(f"no configuration gave a valid result ({out['status_counts']}, {out['measured']} measured "
                         f"in this run); first failure: {first[:300]}", source=str(sp.path),
                         hint=f"the {out['trials']} trials are saved in {storage}, study {name!r}, and failures are "
                         f"final{changed}: rerun with --study {name}{where} --retry-failed after fixing the kernel")
    if compare and not multi and sp.baseline is not None and hasattr(runner, "run_once"):
        comp = interleaved(runner, sp.baseline, best["config"], repeats=max(5, runner.repeats))
        out["versus_reference"] = {"reference": sp.baseline, **comp.to_dict()}
    if isinstance(runner, CKernelRunner):
        runner.close()
    if report is not None:
        from hpcopt.tune.report import write_html

        out["report"] = str(write_html(st, report))
    if json_out:
        print_json(out)
        return
    again = f", {out['retried_failures']} failures measured again" if out.get("retried_failures") else ""
    console.print(f"study [bold]{name}[/] ({out['strategy']}, seed {out['random_state']}): {out['trials']} trials, "
                  f"{out['resumed_trials']} resumed{again}; statuses {out['status_counts']}")
    if out.get("warning"):
        console.print(f"[yellow]{out['warning']}[/]")
    failed = sum(v for k, v in out["status_counts"].items() if k not in ("ok", "invalid"))
    if failed:
        where = "" if storage == _DEFAULT_STORAGE else f" --storage {storage}"
        console.print(f"{failed} failed configuration(s) are final; to measure them again after a fix, rerun with "
                      f"--study {name}{where} --retry-failed")
    if best is None:
        console.print("[red]no configuration produced a valid result[/]")
    elif multi:
        _print_front(out.get("pareto_front") or [], objectives)
    else:
        console.print(f"best {best['value']:.6g} (trial {best['number']}): {best['config']}")
    if out.get("report"):
        console.print(f"wrote {out['report']}")
    if "versus_reference" in out:
        v = out["versus_reference"]
        console.print(f"versus reference {v['reference']}: {v['baseline_median']:.6g} -> {v['candidate_median']:.6g}, "
                      f"speedup {v['speedup']:.2f}x (IQR {v['speedup_iqr'][0]:.2f}-{v['speedup_iqr'][1]:.2f}, "
                      f"{v['pairs']} interleaved pairs)")


def _print_front(front: list[dict], names: list[str]) -> None:
    from rich.table import Table

    t = Table(title=f"Pareto front ({len(front)} configurations)")
    for n in names:
        t.add_column(n, justify="right")
    t.add_column("configuration")
    for p in sorted(front, key=lambda p: p["values"]):
        t.add_row(*[f"{v:.6g}" for v in p["values"]], str(p["config"]))
    console.print(t)


@sub.command("observers")
def observers_cmd(json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """What this machine can measure as objectives: time, max_rss (peak memory), energy (RAPL)."""
    from hpcopt.tune.observers import observer_status

    rep = observer_status()
    if json_out:
        print_json(rep)
        return
    for k, v in rep.items():
        console.print(f"{k}: {v}")


@sub.command("ask")
def ask_cmd(
    spec: str = typer.Argument(..., help="TOML spec, or a bundled example name."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the spec's)."),
    storage: str = typer.Option(_DEFAULT_STORAGE, "--storage", help=_STORAGE_HELP),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name (default: the spec's, else bo)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random state (default: the spec's, else 0)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Propose the next configuration to evaluate elsewhere; report it with 'tune tell'."""
    from hpcopt.tune.spec import load_spec
    from hpcopt.tune.study import Study

    sp = load_spec(_spec_path(spec))
    multi = len(sp.objectives) > 1
    st = Study(sp.space, None, strategy=strategy or sp.study.get("strategy") or ("nsga2" if multi else None),
               name=study or sp.name, storage=storage,
               random_state=seed if seed is not None else int(sp.study.get("random_state", 0)),
               extra_info={"spec": str(sp.path)}, redo_interrupted=False, n_objectives=len(sp.objectives),
               objective_names=sp.objectives, directions=sp.directions)
    nxt = st.ask()
    out = {"study": st.name, "trial": None, "config": None} if nxt is None else {
        "study": st.name, "trial": nxt[0], "config": nxt[1], "derived": sp.space.with_derived(nxt[1])}
    if json_out:
        print_json(out)
    elif nxt is None:
        console.print("the space is exhausted")
    else:
        console.print(f"trial {out['trial']}: {out['config']}")


@sub.command("tell")
def tell_cmd(
    trial: int = typer.Option(..., "--trial", help="Trial number printed by 'tune ask'."),
    value: Optional[float] = typer.Option(None, "--value", help="Measured objective of a one-objective study "
                                          "(as measured; the study's direction says which way is better)."),
    values: Optional[str] = typer.Option(None, "--values", help="Comma-separated values, one per objective "
                                         "in the study's order (multi-objective studies)."),
    status: str = typer.Option("ok", "--status", help="ok, compile_error, runtime_error, timeout, wrong_answer."),
    message: str = typer.Option("", "--message", help="Why it failed."),
    study: str = typer.Option(..., "--study", help="Study name."),
    storage: str = typer.Option(_DEFAULT_STORAGE, "--storage", help=_STORAGE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Record the result of a trial proposed by 'tune ask'."""
    from hpcopt.tune.results import Result, Status
    from hpcopt.tune.storage import Storage, stored_objectives

    try:
        st_ = Status(status)
    except ValueError:
        raise ConfigError(f"unknown status {status!r}; one of: {', '.join(s.value for s in Status)}") from None
    if value is not None and values is not None:
        raise ConfigError("give --value or --values, not both")
    vals = None
    if values is not None:
        try:
            vals = [float(v) for v in values.split(",")]
        except ValueError:
            raise ConfigError(f"--values wants comma-separated numbers; got {values!r}") from None
    elif value is not None:
        vals = [value]
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
    out = {"study": study, "trial": trial, "config": running[trial].config, "result": res.to_dict()}
    if json_out:
        print_json(out)
    else:
        console.print(f"trial {trial}: {res.status.value} {'' if res.value is None else (res.values or res.value)}")


@sub.command("space")
def space_cmd(
    spec: str = typer.Argument(..., help="TOML spec, or a bundled example name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Size of a spec's search space and how many points satisfy the constraints."""
    from hpcopt.tune.spec import load_spec

    sp = load_spec(_spec_path(spec))
    rep = {**sp.space.size_report(), **sp.space.to_dict()}
    if json_out:
        print_json(rep)
    elif rep["cartesian_size"] is None:
        console.print(f"continuous (a real-valued parameter); about {rep['valid_fraction']:.1%} of random draws valid")
    else:
        about = "" if rep["exact"] else "about "
        console.print(f"{int(rep['cartesian_size']):,} points, {about}{int(round(rep['valid'])):,} valid "
                      f"({rep['valid_fraction']:.1%}{'' if rep['exact'] else ', estimated from 20,000 draws'})")


@sub.command("replay")
def replay_cmd(
    cache: str = typer.Option(..., "--cache", help="Kernel Tuner cache file (.json or .json.gz)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name (default bo)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Evaluations (default: the methodology cutoff)."),
    seed: int = typer.Option(0, "--seed", help="Random state of the strategy."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Run one strategy offline against a measured cache."""
    from hpcopt.tune.methodology import cutoff_budget, replay_run, score_curve
    from hpcopt.tune.strategies import DEFAULT_STRATEGY

    (c,) = _caches([cache])
    name = strategy or DEFAULT_STRATEGY
    b = budget or cutoff_budget(c)
    run = replay_run(name, c, b, seed)
    trace = run["trace"]
    out = {"schema": "hpcopt.tune.replay/1", "cache": c.summary(), "strategy": name, "random_state": seed,
           "budget": b, "best": float(trace[-1]), "optimum": c.optimum,
           "best_over_optimum": float(trace[-1] / c.optimum), "score": float(score_curve(c, trace).mean()),
           "evaluations_to_best": int((trace > trace[-1]).sum() + 1), "seconds": run["seconds"]}
    if json_out:
        print_json(out)
    else:
        console.print(f"{c.name}: {name} found {out['best']:.6g} in {b} evaluations (optimum {c.optimum:.6g}, "
                      f"ratio {out['best_over_optimum']:.3f}); methodology score {out['score']:.3f}")


@sub.command("compare-strategies")
def compare_cmd(
    cache: list[str] = typer.Option(..., "--cache", help="Cache file(s); repeat or separate by commas."),
    strategies: Optional[str] = typer.Option(
        None, "--strategies", help="Comma-separated names (default: all; tpe and cmaes take minutes per run at budgets over 1000)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Evaluations per run (default: cutoff per space)."),
    repeats: int = typer.Option(10, "--repeats", help="Runs per strategy and space (different seeds)."),
    seed: int = typer.Option(0, "--seed", help="Base random state; run r uses seed + 1000 r."),
    report: Optional[Path] = typer.Option(None, "--report", help=_REPORT_HELP + " Holds the score table and a "
                                          "convergence plot per space."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Score strategies with the Kernel Tuner methodology on replay caches."""
    from hpcopt.tune.methodology import compare_strategies

    files = [x for p in cache for x in p.split(",") if x]
    _prepare_report(report, files, force)
    cs = _caches(cache)
    names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None
    with progress_bar("comparing strategies", enabled=not json_out) as bar:
        res = compare_strategies(cs, names, budget=budget, repeats=repeats, random_state=seed, progress=bar)
    if report is not None:
        from hpcopt.tune.report import write_compare_html

        res["report"] = str(write_compare_html({**res, "repeats": repeats}, report))
    if json_out:
        slim = {k: v for k, v in res.items() if k != "spaces"}
        slim["spaces"] = [{k: v for k, v in s.items() if k not in ("random_curve",)} | {
            "strategies": {n: {k: v for k, v in d.items() if k != "mean_best_curve"} for n, d in s["strategies"].items()}}
            for s in res["spaces"]]
        print_json(slim)
        return
    from rich.table import Table

    t = Table(title=f"methodology score (mean over {len(cs)} spaces, {repeats} runs each; 0 = random search)")
    t.add_column("strategy")
    for s in res["spaces"]:
        t.add_column(f"{s['name']} (B={s['budget']})", justify="right")
    t.add_column("mean", justify="right")
    for n, sc in sorted(res["scores"].items(), key=lambda kv: -kv[1]):
        mark = " (default)" if n == res["default_strategy"] else ""
        cells = [f"{s['strategies'][n]['score']:.3f} ± {s['strategies'][n]['score_std']:.2f}" for s in res["spaces"]]
        t.add_row(n + mark, *cells, f"{sc:.3f}")
    console.print(t)
    if report is not None:
        console.print(f"wrote {res['report']}")


@sub.command("report")
def report_cmd(
    storage: str = typer.Option(_DEFAULT_STORAGE, "--storage", help=_STORAGE_HELP),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the only/last one)."),
    report: Optional[Path] = typer.Option(None, "--report", help=_REPORT_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Summarise a stored study; optionally an HTML report (convergence, importance, Pareto)."""
    from hpcopt.tune.report import load_study, study_report, write_html

    _must_exist(storage, "run 'hpcopt tune run' first")
    _prepare_report(report, [_storage_file(storage)], force)
    st = load_study(storage, study)
    rep = study_report(st)
    if report is not None:
        rep["report"] = str(write_html(st, report))
    if json_out:
        print_json(rep)
        return
    console.print(f"study [bold]{rep['study']}[/]: {rep['trials']} trials, statuses {rep['status_counts']}")
    if rep.get("pareto_front"):
        _print_front(rep["pareto_front"], rep.get("objectives") or [f"objective_{i}" for i in
                                                                     range(len(rep["pareto_front"][0]["values"]))])
    elif rep["best"]:
        console.print(f"best {rep['best']['value']:.6g}: {rep['best']['config']}")
    if rep.get("importance"):
        console.print("parameter importance: " + ", ".join(f"{k} {v:.2f}" for k, v in rep["importance"].items()))
    if report is not None:
        console.print(f"wrote {rep['report']}")


@sub.command("flags")
def flags_cmd(
    source: Path = typer.Option(..., "--source", help="C/C++ file with a main()."),
    compiler: str = typer.Option("gcc", "--compiler", help="C/C++ compiler to call."),
    compile_args: Optional[str] = typer.Option(None, "--compile-args", help="Extra compile arguments (space-separated)."),
    run_args: Optional[str] = typer.Option(None, "--run-args", help="Program arguments (space-separated)."),
    timing: str = typer.Option("user", "--timing", help="user (CPU), wall, or output (with --pattern)."),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="Regex whose first group is the time (--timing output)."),
    check: Optional[str] = typer.Option(None, "--check", help="Regex of the output to compare (default: lines without 'time')."),
    rtol: Optional[float] = typer.Option(None, "--rtol", help="Relative output tolerance; enables fast-math flags."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Absolute output tolerance; enables fast-math flags."),
    budget: int = typer.Option(40, "--budget", help="Flag sets to measure (the -O3 baseline included)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name (default bo)."),
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per flag set during the search."),
    final_repeats: int = typer.Option(11, "--final-repeats", help="Interleaved baseline/best pairs at the end."),
    seed: int = typer.Option(0, "--seed", help="Random state of the search."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Search compiler flags against -O3 and report the speedup with its spread."""
    from hpcopt.tune.flags import tune_flags

    with progress_bar(f"flags for {source.name}", enabled=not json_out) as bar:
        rep = tune_flags(source, compiler=compiler, compile_args=(compile_args or "").split(),
                         run_args=(run_args or "").split(), timing=timing, pattern=pattern, check=check, rtol=rtol,
                         atol=atol, budget=budget, strategy=strategy, repeats=repeats, final_repeats=final_repeats,
                         random_state=seed, progress=bar)
    if json_out:
        print_json(rep)
        return
    console.print(f"baseline {' '.join(rep['baseline_flags'])}: {rep['baseline_seconds']:.6g} s")
    console.print(f"best     {' '.join(rep['best_flags'])}: {rep['best_seconds']:.6g} s")
    console.print(f"speedup {rep['speedup']:.3f}x (per-pair IQR {rep['speedup_iqr'][0]:.3f}-{rep['speedup_iqr'][1]:.3f}), "
                  f"{rep['evaluations']} flag sets, statuses {rep['status_counts']}")
