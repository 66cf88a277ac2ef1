"""``hpcopt runs ...`` and ``hpcopt models ...``: the run store and the model registry."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json

runs_app = typer.Typer(help="Runs recorded in the store: list, show, compare, export.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: versions, aliases, lineage.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")

STORE_HELP = "Store URL (SQLAlchemy; default: $HPCOPT_STORE_URL, else sqlite under $HPCOPT_HOME)."


def _store(url: Optional[str]):
    from hpcopt.store import open_store

    return open_store(url)


def _when(t: float | None) -> str:
    return "" if t is None else _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


@runs_app.command("list")
def runs_list(
    task: Optional[str] = typer.Option(None, "--task", help="Only runs of this task."),
    status: Optional[str] = typer.Option(None, "--status", help="running, succeeded, failed or interrupted."),
    limit: int = typer.Option(50, "--limit", help="Newest N runs."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List runs, newest first (runs whose process died are marked interrupted)."""
    runs = _store(store).list_runs(task=task, status=status, limit=limit)
    if json_out:
        print_json({"schema": "store.runs/1", "runs": [r.to_dict() for r in runs]})
        return
    t = Table("id", "task", "status", "started", "seconds", "seed")
    for r in runs:
        t.add_row(r.id[:12], r.task, r.status, _when(r.started_at),
                  "" if r.duration_s is None else f"{r.duration_s:.2f}", "" if r.seed is None else str(r.seed))
    console.print(t)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id or an unambiguous prefix (4+ characters)."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """One run: parameters, inputs, versions, result, artifacts."""
    r = _store(store).get_run(run_id)
    if json_out:
        print_json({"schema": "store.run/1", "run": r.to_dict()})
        return
    import json

    console.print_json(json.dumps(r.to_dict()))


@runs_app.command("compare")
def runs_compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or prefixes)."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Runs side by side: parameters and numeric results, one column per run."""
    df = _store(store).compare(run_ids)
    if json_out:
        print_json({"schema": "store.compare/1", "columns": list(df.columns),
                    "rows": {k: list(v.values()) for k, v in df.T.to_dict().items()}})
        return
    t = Table("field", *df.columns)
    for field, row in df.iterrows():
        t.add_row(str(field), *("" if v is None else str(v) for v in row))
    console.print(t)


@runs_app.command("export")
def runs_export(
    out: Path = typer.Option(..., "--out", help="FILE.parquet (or FILE.csv): one row per run."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Every run to Parquet (JSON fields as JSON text)."""
    st = _store(store)
    p = st.export(out, force=force)
    n = len(st.list_runs(limit=10**9, reap=False))
    if json_out:
        print_json({"schema": "store.export/1", "path": str(p), "runs": n})
    else:
        console.print(f"{n} runs written to {p}")


@models_app.command("list")
def models_list(
    name: Optional[str] = typer.Option(None, "--name", help="Only versions of this model."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Registered model versions with their aliases and the run that made them."""
    recs = _store(store).models.list(name)
    if json_out:
        print_json({"schema": "store.models/1", "models": [r.to_dict() for r in recs]})
        return
    t = Table("name", "version", "kind", "aliases", "created", "run")
    for r in recs:
        t.add_row(r.name, str(r.version), r.kind, ",".join(r.aliases), _when(r.created_at), (r.run_id or "")[:12])
    console.print(t)


@models_app.command("alias")
def models_alias(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Argument(..., help="Alias, e.g. production or staging."),
    version: int = typer.Argument(..., help="Version the alias points to."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Point an alias at a version."""
    rec = _store(store).models.set_alias(name, alias, version)
    if json_out:
        print_json({"schema": "store.model/1", "model": rec.to_dict()})
    else:
        console.print(f"{name}@{alias} -> version {rec.version}")
