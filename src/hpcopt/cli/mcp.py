"""``hpcopt mcp``: serve every task as an MCP tool (stdio for desktop clients, or streamable HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json

@app.command("mcp")
def mcp_cmd(
    transport: str = typer.Option("stdio", "--transport", help="stdio (a desktop client launches this command) "
                                  "or http (streamable HTTP behind the store's bearer tokens with the run scope: "
                                  "hpcopt tokens create --scope run)."),
    data_root: Optional[List[Path]] = typer.Option(None, "--data-root", help="Accept file paths only under this "
                                                   "folder (repeatable; links followed). Required with http."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP: the address to listen on."),
    port: int = typer.Option(8765, "--port", help="HTTP: the port to listen on."),
    path: str = typer.Option("/mcp", "--path", help="HTTP: the endpoint path."),
    task: Optional[List[str]] = typer.Option(None, "--task", help="Offer only this task (repeatable); "
                                             "default: every registered task."),
    no_record: bool = typer.Option(False, "--no-record", help="Tools do not record runs unless a call asks to "
                                   "(their 'record' argument defaults to false)."),
    store: Optional[str] = typer.Option(None, "--store", help="Store URL (default: $HPCOPT_STORE_URL, else "
                                        "sqlite under $HPCOPT_HOME)."),
    list_tools: bool = typer.Option(False, "--list", help="Print the tools (and with --json their schemas) "
                                    "and exit."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Serve the tasks as MCP tools, the run store as hpcopt:// resources, and operator prompts."""
    from hpcopt.errors import ConfigError
    from hpcopt.mcp import build_server, serve_stdio
    from hpcopt.mcp.tools import tool_spec
    from hpcopt.store.runner import get_task

    if transport not in ("stdio", "http"):
        raise ConfigError(f"--transport must be stdio or http; got {transport!r}")
    if list_tools:
        from hpcopt.core.tasks import TASKS, import_all_tasks

        import_all_tasks()
        tools = [tool_spec(get_task(n), record=not no_record) for n in (task or sorted(TASKS.names()))]
        if json_out:
            print_json({"schema": "mcp.tools/1", "tools": [
                {"name": t.name, "task": t.task.name, "description": t.description, "input_schema": t.input_schema,
                 "output_schema": t.output_schema, "hidden": t.hidden} for t in tools]})
            return
        from rich.table import Table

        table = Table("tool", "task", "result schema", "arguments")
        for t in tools:
            table.add_row(t.name, t.task.name, t.task.schema_id, ", ".join(t.input_schema["properties"]))
        console.print(table)
        return
    from hpcopt.mcp.guard import path_guard, store_token_check

    if transport == "http" and not data_root:
        raise ConfigError("the HTTP transport serves other users: give --data-root DIR (repeatable) so that file "
                          "paths are accepted only under it")
    guard = path_guard(data_root) if data_root else None
    server = build_server(tasks=task or None, record=not no_record, store=store, check_arguments=guard)
    if transport == "stdio":
        serve_stdio(server)
        return
    from hpcopt.mcp.http import serve_http

    serve_http(server, store_token_check(store, scope="run"), host=host, port=port, path=path)
