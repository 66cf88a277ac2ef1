"""Tasks as tools: names, input and output models derived from each task, and the plain call.

Nothing here knows a particular task. For every :class:`~hpcopt.core.tasks.TaskSpec`:

* the tool's name is the task's name with ``.`` turned into ``_`` (``schedule.compare`` ->
  ``schedule_compare``; clients such as Claude's accept only letters, digits, ``_`` and ``-``);
* its input model is the task's parameters model (:mod:`hpcopt.faces.schema`, the derivation
  every face shares: annotations, defaults, descriptions from the roles and the docstring;
  ``progress`` is the MCP progress channel, not an argument) plus ``record`` (and
  ``register``/``register_alias`` for a task that writes a model), the runner's own
  options, as on the CLI;
* its output model is the task's Result model from the same derivation (the shape of
  :meth:`Result.to_dict`, the payload typed by the task's return annotation).

:func:`call_tool` is the tool call without MCP: validate the arguments with the input
model, run the task through :func:`hpcopt.store.runner.run_task` and return
``Result.to_dict()``. The MCP server only maps tools to it.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

from hpcopt.core.progress import ProgressFn
from hpcopt.core.tasks import TaskSpec
from hpcopt.errors import ConfigError

__all__ = ["ToolSpec", "tool_spec", "tool_name", "call_tool", "run_validated", "RUNNER_OPTIONS"]

#: arguments every tool takes that belong to the runner, not to the task
RUNNER_OPTIONS = ("record", "register", "register_alias")

MODEL_REF_HELP = ("A registered model can be given wherever a path is expected as model:NAME, model:NAME@ALIAS "
                  "or model:NAME:VERSION (see the hpcopt://models resources).")

def tool_name(task: str) -> str:
    """The MCP tool name of a task (``schedule.compare`` -> ``schedule_compare``)."""
    return task.replace(".", "_")


@dataclass
class ToolSpec:
    """One task seen as a tool: its name, models, description and what was left out."""

    task: TaskSpec
    name: str
    description: str
    input_model: type
    output_model: type
    takes_progress: bool
    #: parameters with a default whose type has no JSON form; the task's default is used
    hidden: dict[str, str] = field(default_factory=dict)

    @property
    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    @property
    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments validated and converted by the input model (pydantic's messages on failure)."""
        model = self.input_model.model_validate(arguments)
        return {f.alias or name: getattr(model, name) for name, f in type(model).model_fields.items()}


def _description(spec: TaskSpec, hidden: dict[str, str]) -> str:
    doc = inspect.getdoc(spec.fn) or spec.summary or spec.name
    lines = [doc, "", f"Task {spec.name}; the result has the schema {spec.schema_id} (payload, artifacts, "
             "provenance with the run_id of the recorded run)."]
    if spec.inputs:
        lines.append(f"Reads: {', '.join(spec.inputs)}. {MODEL_REF_HELP}")
    if spec.outputs:
        lines.append(f"Writes: {', '.join(spec.outputs)}" + (
            " ('model' is a model directory; pass register to add it to the registry)" if "model" in spec.outputs
            else "") + ". What a run writes is read back through hpcopt://runs/{id}.")
    if hidden:
        lines.append("Not settable here (the task's default is used): " + ", ".join(hidden) + ".")
    return "\n".join(lines)


def tool_spec(spec: TaskSpec, *, record: bool = True, arguments_base: type | None = None) -> ToolSpec:
    """The tool view of a task (raises :class:`ConfigError` if a required parameter has no JSON form).

    ``record`` is the default of the tool's ``record`` argument; ``arguments_base`` the
    pydantic class the input model derives from (the MCP server passes the SDK's); unknown
    arguments are refused whatever it is. Built once per
    task and options: the server lists and calls tools many times.
    """
    from hpcopt.core.optional import require

    require("pydantic", "mcp")
    return _tool_spec(spec, record, arguments_base)


@functools.lru_cache(maxsize=512)
def _tool_spec(spec: TaskSpec, record: bool, parent: type | None) -> ToolSpec:
    from hpcopt.faces.schema import arguments_base, task_schema

    schema = task_schema(spec)
    clash = [o for o in RUNNER_OPTIONS if o in schema.fields]
    if clash:
        raise ConfigError(f"the task {spec.name!r} has a parameter named {clash[0]!r}, which the tool needs for "
                          "the runner's own option; rename the task's parameter")
    runner: dict[str, tuple[Any, dict[str, Any]]] = {"record": (bool, {"default": record, "description": (
        "Record this run in the run store (hpcopt://runs); false leaves no trace.")})}
    if "model" in spec.outputs:
        runner["register"] = (str | None, {"default": None, "description": (
            "Register the model the task writes under this name (the next version); later calls can then pass "
            "model:NAME.")})
        runner["register_alias"] = (str | None, {"default": None, "description": (
            "With register: also point this alias (e.g. production) at the new version.")})
    inputs = schema.model(name=f"{tool_name(spec.name)}_arguments", base=arguments_base(parent), extra=runner)
    return ToolSpec(task=spec, name=tool_name(spec.name), description=_description(spec, schema.hidden),
                    input_model=inputs, output_model=schema.result_model,
                    takes_progress="progress" in spec.signature.parameters, hidden=dict(schema.hidden))


# ---------------------------------------------------------------------------- the call

def call_tool(tool: ToolSpec | TaskSpec | str, arguments: dict[str, Any], *, store=None,
              progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run a tool call without MCP: validate ``arguments``, run the task, return ``Result.to_dict()``.

    Raises pydantic's ``ValidationError`` for arguments that do not fit the input schema and
    whatever the task raises (an :class:`~hpcopt.errors.HpcoptError` for bad input).
    """
    from hpcopt.store.runner import get_task

    if not isinstance(tool, ToolSpec):
        tool = tool_spec(get_task(tool))
    return run_validated(tool, tool.validate(arguments), store=store, progress=progress)


def run_validated(tool: ToolSpec, params: dict[str, Any], *, store=None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """:func:`call_tool` after validation (``params`` as :meth:`ToolSpec.validate` returns them)."""
    from hpcopt.store.runner import run_task

    params = dict(params)
    record = params.pop("record")
    register = params.pop("register", None)
    alias = params.pop("register_alias", None)
    if alias is not None and register is None:
        raise ConfigError("register_alias needs register (the model name the alias belongs to)")
    if tool.takes_progress and progress is not None:
        params["progress"] = progress
    result = run_task(tool.task, record=record, store=store, register=register, register_alias=alias, **params)
    return result.to_dict()
