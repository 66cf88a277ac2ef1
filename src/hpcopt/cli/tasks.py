"""``hpcopt tasks``: the use cases every face can run, with their parameters and schemas."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json


@app.command("tasks")
def tasks_cmd(
    name: Optional[str] = typer.Argument(None, help="One task's parameters (e.g. detect.evaluate)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List the tasks (one per use case) that the CLI, REST and MCP faces run, or one task's parameters."""
    from hpcopt.core.tasks import TASKS, import_all_tasks

    import_all_tasks()
    specs = [TASKS.get(name)] if name else [TASKS.get(n) for n in sorted(TASKS.names())]
    if json_out:
        print_json({"schema": "tasks/1", "tasks": [
            {"name": s.name, "schema": s.schema_id, "summary": s.summary, "parameters": s.parameters()}
            for s in specs]})
        return
    if name:
        s = specs[0]
        console.print(f"[bold]{s.name}[/] -> {s.schema_id}: {s.summary}")
        t = Table("parameter", "role", "type", "default")
        for p, d in s.parameters().items():
            t.add_row(p, d["role"], str(d["annotation"]), "(required)" if d["required"] else repr(d["default"]))
        console.print(t)
        return
    t = Table("task", "result schema", "what it does")
    for s in specs:
        t.add_row(s.name, s.schema_id, s.summary)
    console.print(t)
