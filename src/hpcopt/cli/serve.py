"""``hpcopt serve`` (the REST service) and ``hpcopt tokens ...`` (its bearer tokens)."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, err_console, print_json

tokens_app = typer.Typer(help="Bearer tokens of the REST service: create, list, revoke.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

STORE_HELP = "Store URL (SQLAlchemy; default: $HPCOPT_STORE_URL, else sqlite under $HPCOPT_HOME)."


@app.command("serve")
def serve_cmd(
    config: Optional[Path] = typer.Option(None, "--config", help="A TOML file of service settings."),
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default 8321)."),
    data_root: Optional[list[Path]] = typer.Option(None, "--data-root",
                                                   help="A directory task files may come from (repeatable)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes for tasks (default 2)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="process (default) or dask."),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", help="The Dask scheduler for --executor dask."),
    imports: Optional[list[str]] = typer.Option(None, "--import", help="A module registering more tasks (repeatable)."),
    rate_per_s: Optional[float] = typer.Option(None, "--rate-limit", help="Requests per second per token (0: off)."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn's log level."),
) -> None:
    """Run the REST service (FastAPI on uvicorn): every task, the runs and the models, under /v1."""
    from hpcopt.core.optional import require

    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from hpcopt.serve import create_app, load_config

    cfg = load_config(config, host=host, port=port, data_roots=tuple(data_root) if data_root else None,
                      workers=workers, executor=executor, dask_address=dask_address,
                      imports=tuple(imports) if imports else None, rate_per_s=rate_per_s, store_url=store)
    application = create_app(cfg)
    recovered = application.state.jobs.recovered
    if recovered:
        err_console.print(f"[yellow]{len(recovered)} job(s) left unfinished by the last service were recorded "
                          "as interrupted (or took their run's final status)[/]")
    err_console.print(f"hpcopt serve on http://{cfg.host}:{cfg.port} (pid {os.getpid()})")
    uvicorn.run(application, host=cfg.host, port=cfg.port, log_level=log_level, access_log=False)


def _tokens(url: Optional[str]):
    from hpcopt.serve.tokens import TokenStore
    from hpcopt.store import open_store

    return TokenStore(open_store(url))


def _when(t: float | None) -> str:
    return "" if t is None else _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


@tokens_app.command("create")
def tokens_create(
    scope: str = typer.Option(..., "--scope", help="Comma-separated scopes: read, run, admin."),
    name: str = typer.Option("", "--name", help="A name to recognise the token by."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Create a token; it is printed once and only its salted hash is stored."""
    token, rec = _tokens(store).create(scope, name=name)
    if json_out:
        print_json({"schema": "tokens.create/1", "token": token, **rec.to_dict()})
        return
    console.print(token, highlight=False, soft_wrap=True)
    err_console.print(f"[dim]token {rec.id} ({rec.name}) with scopes {','.join(rec.scopes)}; "
                      "it is shown only now[/]")


@tokens_app.command("list")
def tokens_list(
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List the tokens (never their secrets)."""
    recs = _tokens(store).list()
    if json_out:
        print_json({"schema": "tokens/1", "tokens": [r.to_dict() for r in recs]})
        return
    t = Table("id", "name", "scopes", "created", "last used", "revoked")
    for r in recs:
        t.add_row(r.id, r.name, ",".join(r.scopes), _when(r.created_at), _when(r.last_used_at), _when(r.revoked_at))
    console.print(t)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., help="The token's id (the 12 characters after 'hpc_')."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Revoke a token; the service refuses it within seconds."""
    rec = _tokens(store).revoke(token_id)
    if json_out:
        print_json({"schema": "tokens/1", "token": rec.to_dict()})
        return
    console.print(f"revoked {rec.id} ({rec.name})")
