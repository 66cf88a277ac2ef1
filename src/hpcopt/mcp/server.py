"""The MCP server: every registered task as a tool, the store as resources, workflows as prompts.

:func:`build_server` returns an :class:`mcp.server.mcpserver.MCPServer` (the official SDK,
2.x). It holds no logic: a tool call validates its arguments with the model derived from
the task (:mod:`hpcopt.mcp.tools`), runs the task through
:func:`hpcopt.store.runner.run_task` on a worker thread (so the run is recorded) and
returns ``Result.to_dict()`` as structured content, checked by the SDK against the
tool's output schema. The task's ``progress(done, total, message)`` callback becomes MCP
progress notifications; a call the client cancels ends at once and its task stops at the
next progress report. Bad input (an :class:`~hpcopt.errors.HpcoptError`, a missing file)
comes back as a tool error carrying the library's message, which names what, where and
what to do.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from hpcopt.core.progress import ProgressFn
from hpcopt.core.tasks import TASKS, TaskSpec, import_all_tasks
from hpcopt.errors import ConfigError, HpcoptError
from hpcopt.mcp import prompts as _prompts
from hpcopt.mcp import resources as _res
from hpcopt.mcp.tools import ToolSpec, run_validated, tool_spec

__all__ = ["build_server", "CallCancelled", "PROGRESS_INTERVAL_S"]

log = logging.getLogger("hpcopt.mcp")

#: the least time between two progress notifications of one call (the last one always goes)
PROGRESS_INTERVAL_S = 0.1

INSTRUCTIONS = """\
hpcopt: AI for the operation of HPC systems (scheduling simulation, runtime prediction, anomaly detection, \
autotuning). Each tool runs one task and returns a versioned result: 'payload' holds the findings, \
'provenance.run_id' names the recorded run. Resources: hpcopt://runs, hpcopt://runs/{run_id}, hpcopt://models, \
hpcopt://models/{name}, hpcopt://traces, hpcopt://reports, hpcopt://reports/{run_id}. A registered model is passed \
to a tool as model:NAME, model:NAME@ALIAS or model:NAME:VERSION. Paths are paths on the server's machine; \
the bundled sample traces are listed in hpcopt://traces."""


class _StoreRef:
    """The store, opened on first use and shared by every call of the server."""

    def __init__(self, store=None) -> None:
        self._store = store if not isinstance(store, str) else None
        self._url = store if isinstance(store, str) else None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._store is None:
                from hpcopt.store import open_store

                self._store = open_store(self._url)
            return self._store


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


class CallCancelled(HpcoptError):
    """The MCP client cancelled the tool call; raised inside the task at its next progress report."""


def _progress_bridge(ctx, cancelled: threading.Event) -> ProgressFn:
    """A progress callback for the task's threads that sends notifications on the event loop.

    Called from the task's worker thread or from any thread the task starts (the loop's
    token is taken here, on the loop); a notification that cannot be sent (the client went
    away) is dropped, never raised into the task. Once the client has cancelled the call,
    the next report raises :class:`CallCancelled`, so the task stops there and its run is
    recorded as failed with that reason.
    """
    import anyio.from_thread
    import anyio.lowlevel

    token = anyio.lowlevel.current_token()
    lock = threading.Lock()
    last = [float("-inf")]

    def progress(done: int, total: int, message: str = "") -> None:
        if cancelled.is_set():
            raise CallCancelled("the MCP client cancelled this tool call")
        with lock:
            now = time.monotonic()
            if (total and done < total) and now - last[0] < PROGRESS_INTERVAL_S:
                return
            last[0] = now
        try:
            anyio.from_thread.run(ctx.report_progress, float(done), float(total) if total else None,
                                  message or None, token=token)
        except Exception as exc:  # the call's answer still goes; a lost notification is not an error
            log.debug("progress notification not sent: %s", exc)

    return progress


def _title(spec: TaskSpec) -> str:
    first = (spec.summary or spec.name).split(". ")[0].rstrip(".")
    return first if len(first) <= 80 else first[:79].rstrip() + "…"


#: ``check(task, arguments)`` raising an HpcoptError to refuse a call (e.g. a path outside the
#: data roots a shared server may read and write), before the task runs
ArgumentCheck = Callable[[TaskSpec, dict], "dict | None"]


def _sdk_tool(tool: ToolSpec, store: _StoreRef, check: ArgumentCheck | None = None):
    import anyio
    import anyio.to_thread
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.tools import Tool
    from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
    from mcp_types import ToolAnnotations

    async def call(ctx: Context, **params: Any) -> dict[str, Any]:
        cancelled = threading.Event()
        progress = _progress_bridge(ctx, cancelled) if tool.takes_progress else None
        try:
            if check is not None:  # may refuse (raise) or hand back checked arguments (absolute paths)
                checked = check(tool.task, dict(params))
                if checked is not None:
                    params = checked
            # abandon on cancel: the request ends at once; the task stops at its next progress report
            return await anyio.to_thread.run_sync(
                lambda: run_validated(tool, params, store=store.get(), progress=progress), abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        except (HpcoptError, OSError) as exc:  # the caller's to fix: keep the library's message
            raise ToolError(_message(exc)) from exc

    call.__name__ = tool.name
    spec = tool.task
    return Tool(
        fn=call, name=tool.name, title=_title(spec), description=tool.description,
        parameters=tool.input_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(arg_model=tool.input_model, output_model=tool.output_model),
        is_async=True, context_kwarg="ctx",
        annotations=ToolAnnotations(title=_title(spec), read_only_hint=not spec.outputs,
                                    destructive_hint=False, open_world_hint=False),
        meta={"hpcopt/task": spec.name, "hpcopt/schema": spec.schema_id},
    )


def _specs(tasks: Iterable[str | TaskSpec] | None) -> list[TaskSpec]:
    if tasks is None:
        import_all_tasks()
        return [TASKS.get(n) for n in sorted(TASKS.names())]
    from hpcopt.store.runner import get_task

    return [get_task(t) for t in tasks]  # imports the capabilities' tasks when a name is not known yet


def _prompt(p: _prompts.PromptSpec, tools: dict[str, str]):
    from mcp.server.mcpserver.prompts import Prompt

    sig = inspect.signature(p.fn)
    params = [q.replace(annotation=str) for q in sig.parameters.values() if q.name != "tools"]

    def render(**kw: str) -> str:
        return p.fn(tools, **kw)

    render.__name__ = p.name
    render.__signature__ = sig.replace(parameters=params, return_annotation=str)  # type: ignore[attr-defined]
    render.__annotations__ = {q.name: str for q in params} | {"return": str}
    return Prompt.from_function(render, name=p.name, title=p.title, description=p.description)


def _resources(server, store: _StoreRef) -> None:
    from mcp.server.mcpserver.exceptions import ResourceError

    def guarded(fn):
        @functools.wraps(fn)
        def read(*args: str, **kwargs: str) -> str | bytes:
            try:
                out = fn(*args, **kwargs)
            except HpcoptError as exc:  # an unknown id or name: the caller's to fix
                raise ResourceError(str(exc)) from exc
            return out if isinstance(out, (str, bytes)) else json.dumps(out, indent=1)
        return read

    J = "application/json"

    @server.resource("hpcopt://runs", name="runs", mime_type=J,
                     description="The newest 50 recorded runs (task, status, result schema, artifacts).")
    @guarded
    def _runs() -> dict:
        return _res.runs(store.get())

    @server.resource("hpcopt://runs/{run_id}", name="run", mime_type=J,
                     description="One run: parameters, input SHA-256s, seed, versions, result or error, artifacts.")
    @guarded
    def _run(run_id: str) -> dict:
        return _res.run(store.get(), run_id)

    @server.resource("hpcopt://runs/{run_id}/artifacts/{name}", name="artifact",
                     description="A file a run wrote, checked against its recorded SHA-256.")
    @guarded
    def _artifact(run_id: str, name: str) -> bytes | str:
        data, mime = _res.artifact(store.get(), run_id, name)
        return data.decode("utf-8", errors="replace") if mime.startswith("text/") or mime == J else data

    @server.resource("hpcopt://models", name="models", mime_type=J,
                     description="Every registered model version: kind, metrics, aliases, the run that trained it.")
    @guarded
    def _models() -> dict:
        return _res.models(store.get())

    @server.resource("hpcopt://models/{name}", name="model", mime_type=J,
                     description="The versions of one registered model.")
    @guarded
    def _model(name: str) -> dict:
        return _res.model(store.get(), name)

    @server.resource("hpcopt://models/{name}/{version}", name="model_version", mime_type=J,
                     description="One model version with its files, metrics and lineage.")
    @guarded
    def _model_version(name: str, version: str) -> dict:
        return _res.model_version(store.get(), name, version)

    @server.resource("hpcopt://traces", name="traces", mime_type=J,
                     description="Workload traces: the bundled samples and every trace a recorded run read.")
    @guarded
    def _traces() -> dict:
        return _res.traces(store.get())

    @server.resource("hpcopt://traces/{name}", name="trace", mime_type=J,
                     description="One trace: path, size, SHA-256 and the runs that read it.")
    @guarded
    def _trace(name: str) -> dict:
        return _res.trace(store.get(), name)

    @server.resource("hpcopt://reports", name="reports", mime_type=J,
                     description="The HTML reports recorded runs wrote, newest first.")
    @guarded
    def _reports() -> dict:
        return _res.reports(store.get())

    @server.resource("hpcopt://reports/{run_id}", name="report", mime_type="text/html",
                     description="The HTML report a run wrote.")
    @guarded
    def _report(run_id: str) -> str:
        return _res.report(store.get(), run_id)


def build_server(*, tasks: Iterable[str | TaskSpec] | None = None, record: bool = True, store=None,
                 name: str = "hpcopt", check_arguments: ArgumentCheck | None = None):
    """The MCP server over ``tasks`` (default: every registered task).

    ``record`` is the default of each tool's ``record`` argument; ``store`` a
    :class:`~hpcopt.store.Store` or a store URL (default: :func:`hpcopt.store.open_store`);
    ``check_arguments(task, arguments)`` runs before every call and refuses it by raising an
    :class:`~hpcopt.errors.HpcoptError` (a shared HTTP server confines paths with it).
    A task that cannot be a tool (a required parameter with no JSON form) is left out with
    a warning; the names left out are in ``server.hpcopt_skipped``.
    """
    from hpcopt.core.optional import require

    require("mcp", "mcp")
    from mcp.server.mcpserver import MCPServer

    from hpcopt import __version__

    from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase

    ref = _StoreRef(store)
    base = ArgModelBase  # the SDK validates arguments with the task's own model
    tools: list = []
    skipped: dict[str, str] = {}
    summaries: dict[str, str] = {}
    for spec in _specs(tasks):
        try:
            t = tool_spec(spec, record=record, arguments_base=base)
        except ConfigError as exc:
            skipped[spec.name] = str(exc)
            log.warning("%s", exc)
            continue
        tools.append(_sdk_tool(t, ref, check_arguments))
        summaries[t.name] = spec.summary
    server = MCPServer(name, version=__version__, instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")
    _resources(server, ref)
    for p in _prompts.available([t.meta["hpcopt/task"] for t in tools]):
        server.add_prompt(_prompt(p, summaries))
    server.hpcopt_skipped = skipped  # type: ignore[attr-defined]
    return server
