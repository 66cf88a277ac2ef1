"""``hpcopt tune``: run studies from specs, replay caches, compare strategies, tune flags.

Each command parses its options, runs its task (:mod:`hpcopt.tune.tasks`) and renders the
payload; ``--json`` prints the whole result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, NO_RECORD_HELP, console, printed_json, run_task
from hpcopt.errors import ConfigError

# hpcopt.tune.tasks.DEFAULT_STORAGE, spelled out: importing hpcopt.tune would make every --help slow
_DEFAULT_STORAGE = "hpcopt-tune.db"
_FORCE_HELP = "Overwrite an existing --report file."
_REPORT_HELP = "Write a self-contained HTML report (figures embedded) to this file."
_STORAGE_HELP = ("Where studies are stored: a SQLite file (default), sqlite:///x.db, journal:///x.log "
                 "(append-only file, several processes/machines), or a SQLAlchemy URL (postgresql://...).")

sub = typer.Typer(help="Autotune kernels, compiler flags and runtime parameters.", no_args_is_help=True)
app.add_typer(sub, name="tune")


def _options(pairs: list[str] | None) -> dict:
    """--executor-opt KEY=VALUE pairs, numbers and true/false read as such."""
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


def _files(values: list[str]) -> list[str]:
    """Repeated options whose values may also be comma-separated."""
    return [x for v in values for x in v.split(",") if x]


def _words(text: Optional[str]) -> Optional[list[str]]:
    return None if text is None else text.split()


def _print_front(front: list[dict], names: list[str]) -> None:
    from rich.table import Table

    t = Table(title=f"Pareto front ({len(front)} configurations)")
    for n in names:
        t.add_column(n, justify="right")
    t.add_column("configuration")
    for p in sorted(front, key=lambda p: p["values"]):
        t.add_row(*[f"{v:.6g}" for v in p["values"]], str(p["config"]))
    console.print(t)


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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Tune the configuration described by a spec; resumable by --study name."""
    ex_opts = _options(executor_opt)  # bad options fail before anything is created
    result = run_task("tune.run", no_record=no_record, progress=not json_out, label=f"tuning {study or spec}",
                      spec=spec, strategy=strategy, budget=budget, study=study, storage=storage,
                      retry_failed=retry_failed, seed=seed, workers=workers, executor=executor,
                      executor_options=ex_opts, run_args=_words(run_args), repeats=repeats, compare=compare,
                      report=report, force=force, release_running=release_running, lease=lease)
    if printed_json(result, json_out):
        return
    out = result.payload
    again = f", {out['retried_failures']} failures measured again" if out.get("retried_failures") else ""
    console.print(f"study [bold]{out['study']}[/] ({out['strategy']}, seed {out['random_state']}): {out['trials']} "
                  f"trials, {out['resumed_trials']} resumed{again}; statuses {out['status_counts']}")
    if out.get("warning"):
        console.print(f"[yellow]{out['warning']}[/]")
    if out.get("retry_hint"):
        console.print(out["retry_hint"])
    if out.get("objectives"):
        _print_front(out.get("pareto_front") or [], out["objectives"])
    else:
        best = out["best"]
        console.print(f"best {best['value']:.6g} (trial {best['number']}): {best['config']}")
    if out.get("report"):
        console.print(f"wrote {out['report']}")
    if "versus_reference" in out:
        v = out["versus_reference"]
        console.print(f"versus reference {v['reference']}: {v['baseline_median']:.6g} -> {v['candidate_median']:.6g}, "
                      f"speedup {v['speedup']:.2f}x (IQR {v['speedup_iqr'][0]:.2f}-{v['speedup_iqr'][1]:.2f}, "
                      f"{v['pairs']} interleaved pairs)")


@sub.command("observers")
def observers_cmd(
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """What this machine can measure as objectives: time, max_rss (peak memory), energy (RAPL)."""
    result = run_task("tune.observers", no_record=no_record, progress=not json_out)
    if printed_json(result, json_out):
        return
    for k, v in result.payload.items():
        console.print(f"{k}: {v}")


@sub.command("ask")
def ask_cmd(
    spec: str = typer.Argument(..., help="TOML spec, or a bundled example name."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the spec's)."),
    storage: str = typer.Option(_DEFAULT_STORAGE, "--storage", help=_STORAGE_HELP),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name (default: the spec's, else bo)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random state (default: the spec's, else 0)."),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Propose the next configuration to evaluate elsewhere; report it with 'tune tell'."""
    result = run_task("tune.ask", no_record=no_record, progress=not json_out, spec=spec, study=study,
                      storage=storage, strategy=strategy, seed=seed)
    if printed_json(result, json_out):
        return
    out = result.payload
    console.print("the space is exhausted" if out["trial"] is None else f"trial {out['trial']}: {out['config']}")


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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Record the result of a trial proposed by 'tune ask'."""
    vals = None
    if values is not None:
        try:
            vals = [float(v) for v in values.split(",")]
        except ValueError:
            raise ConfigError(f"--values wants comma-separated numbers; got {values!r}") from None
    result = run_task("tune.tell", no_record=no_record, progress=not json_out, study=study, trial=trial,
                      value=value, values=vals, status=status, message=message, storage=storage)
    if printed_json(result, json_out):
        return
    res = result.payload["result"]
    shown = "" if res["value"] is None else res["values"] if len(res.get("values") or ()) > 1 else res["value"]
    console.print(f"trial {trial}: {res['status']} {shown}")


@sub.command("space")
def space_cmd(
    spec: str = typer.Argument(..., help="TOML spec, or a bundled example name."),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Size of a spec's search space and how many points satisfy the constraints."""
    result = run_task("tune.space", no_record=no_record, progress=not json_out, spec=spec)
    if printed_json(result, json_out):
        return
    rep = result.payload
    if rep["cartesian_size"] is None:
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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Run one strategy offline against a measured cache."""
    result = run_task("tune.replay", no_record=no_record, progress=not json_out, cache=cache, strategy=strategy,
                      budget=budget, seed=seed)
    if printed_json(result, json_out):
        return
    out = result.payload
    console.print(f"{out['cache']['name']}: {out['strategy']} found {out['best']:.6g} in {out['budget']} evaluations "
                  f"(optimum {out['optimum']:.6g}, ratio {out['best_over_optimum']:.3f}); methodology score "
                  f"{out['score']:.3f}")


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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Score strategies with the Kernel Tuner methodology on replay caches."""
    names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None
    result = run_task("tune.compare_strategies", no_record=no_record, progress=not json_out,
                      label="comparing strategies", caches=_files(cache), strategies=names, budget=budget,
                      repeats=repeats, seed=seed, report=report, force=force)
    if printed_json(result, json_out):
        return
    from rich.table import Table

    res = result.payload
    t = Table(title=f"methodology score (mean over {len(res['spaces'])} spaces, {res['repeats']} runs each; "
                    "0 = random search)")
    t.add_column("strategy")
    for s in res["spaces"]:
        t.add_column(f"{s['name']} (B={s['budget']})", justify="right")
    t.add_column("mean", justify="right")
    for n, sc in sorted(res["scores"].items(), key=lambda kv: -kv[1]):
        mark = " (default)" if n == res["default_strategy"] else ""
        cells = [f"{s['strategies'][n]['score']:.3f} ± {s['strategies'][n]['score_std']:.2f}" for s in res["spaces"]]
        t.add_row(n + mark, *cells, f"{sc:.3f}")
    console.print(t)
    if res.get("report"):
        console.print(f"wrote {res['report']}")


@sub.command("report")
def report_cmd(
    storage: str = typer.Option(_DEFAULT_STORAGE, "--storage", help=_STORAGE_HELP),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the only/last one)."),
    report: Optional[Path] = typer.Option(None, "--report", help=_REPORT_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Summarise a stored study; optionally an HTML report (convergence, importance, Pareto)."""
    result = run_task("tune.report", no_record=no_record, progress=not json_out, storage=storage, study=study,
                      report=report, force=force)
    if printed_json(result, json_out):
        return
    rep = result.payload
    console.print(f"study [bold]{rep['study']}[/]: {rep['trials']} trials, statuses {rep['status_counts']}")
    if rep.get("pareto_front"):
        _print_front(rep["pareto_front"], rep.get("objectives") or [f"objective_{i}" for i in
                                                                     range(len(rep["pareto_front"][0]["values"]))])
    elif rep["best"]:
        console.print(f"best {rep['best']['value']:.6g}: {rep['best']['config']}")
    if rep.get("importance"):
        console.print("parameter importance: " + ", ".join(f"{k} {v:.2f}" for k, v in rep["importance"].items()))
    if rep.get("report"):
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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Search compiler flags against -O3 and report the speedup with its spread."""
    result = run_task("tune.flags", no_record=no_record, progress=not json_out, label=f"flags for {source.name}",
                      source=source, compiler=compiler, compile_args=_words(compile_args), run_args=_words(run_args),
                      timing=timing, pattern=pattern, check=check, rtol=rtol, atol=atol, budget=budget,
                      strategy=strategy, repeats=repeats, final_repeats=final_repeats, seed=seed)
    if printed_json(result, json_out):
        return
    rep = result.payload
    console.print(f"baseline {' '.join(rep['baseline_flags'])}: {rep['baseline_seconds']:.6g} s")
    console.print(f"best     {' '.join(rep['best_flags'])}: {rep['best_seconds']:.6g} s")
    console.print(f"speedup {rep['speedup']:.3f}x (per-pair IQR {rep['speedup_iqr'][0]:.3f}-{rep['speedup_iqr'][1]:.3f}), "
                  f"{rep['evaluations']} flag sets, statuses {rep['status_counts']}")
