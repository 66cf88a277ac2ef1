"""``hpcopt mcp``: serve every task as an MCP tool (stdio for desktop clients, or streamable HTTP)."""

from __future__ import annotations

import os
from typing import List, Optional

import typer

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json

TOKEN_ENV = "HPCOPT_MCP_TOKEN"


@app.command("mcp")
def mcp_cmd(
    transport: str = typer.Option("stdio", "--transport", help="stdio (a desktop client launches this command) "
                                  "or http (streamable HTTP, bearer token from $HPCOPT_MCP_TOKEN)."),
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
    server = build_server(tasks=task or None, record=not no_record, store=store)
    if transport == "stdio":
        serve_stdio(server)
        return
    from hpcopt.mcp.http import serve_http, static_token

    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ConfigError(f"the HTTP transport needs a bearer token: set ${TOKEN_ENV} (at least 16 characters; "
                          "python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)")
    serve_http(server, static_token(token), host=host, port=port, path=path)
