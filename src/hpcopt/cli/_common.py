"""Helpers shared by the CLI modules: JSON output, errors, progress bars.

The CLI is a thin face: it parses options, calls the library and prints. Library code
reports progress through a callback ``progress(done, total, message)``; here it becomes a
Rich progress bar.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, Callable

from rich.console import Console

from hpcopt.core.results import json_safe
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Tables are wide: when stdout is not a terminal (a pipe, a log) do not cut them at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True)

JSON_OPTION_HELP = "Print one JSON object on stdout instead of tables."


def error_payload(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """The stable JSON shape of an error (schema ``error/1``, see :func:`hpcopt.errors.error_payload`)."""
    from hpcopt.cli import _cx
    from hpcopt.errors import error_payload as _payload

    if isinstance(exc, _cx.UsageError):
        return _payload(exc, type="UsageError", message=exc.format_message(), exit_code=exit_code)
    return _payload(exc, exit_code=exit_code)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(obj), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[int, int, str], None]]:
    """Yield a ``progress(done, total, message)`` callback drawn as a Rich bar on stderr.

    No bar when stderr is not a terminal: Rich would still write a blank line there, in
    front of an error message that scripts read.
    """
    if not enabled or not err_console.is_terminal:
        yield lambda done, total, message="": None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None, message="")

        def update(done: int, total: int, message: str = "") -> None:
            bar.update(task, completed=done, total=total, message=message)

        yield update


NO_RECORD_HELP = "Do not record this run in the run store (hpcopt runs list)."


def run_task(name: str, *, no_record: bool = False, progress: bool = True, label: str | None = None,
             register: str | None = None, register_alias: str | None = None, **params: Any):
    """Run the task ``name`` as every command does: a progress bar, recorded unless ``no_record``.

    Returns the task's :class:`~hpcopt.core.results.Result`; the command renders its payload.
    A task without a ``progress`` parameter gets none.
    """
    from hpcopt.store.runner import get_task, run_task as _run

    spec = get_task(name)
    if "progress" in spec.signature.parameters:
        with progress_bar(label or name, enabled=progress) as bar:
            return _run(spec, record=not no_record, register=register, register_alias=register_alias,
                        progress=bar, **params)
    return _run(spec, record=not no_record, register=register, register_alias=register_alias, **params)


def note_run(result) -> None:
    """One line on stderr naming the recorded run (so tables on stdout stay clean)."""
    rid = getattr(result.provenance, "run_id", None)
    if rid:
        err_console.print(f"[dim]recorded as run {rid[:8]} (hpcopt runs show {rid[:8]})[/]")


def printed_json(result, as_json: bool) -> bool:
    """With ``--json`` print the whole result and return True; otherwise name the recorded run
    on stderr and return False (the command then renders ``result.payload``)."""
    if as_json:
        print_json(result.to_dict())
        return True
    note_run(result)
    return False
