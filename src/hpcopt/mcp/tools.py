"""Tasks as tools: names, input and output models derived from each task, and the plain call.

Nothing here knows a particular task. For every :class:`~hpcopt.core.tasks.TaskSpec`:

* the tool's name is the task's name with ``.`` turned into ``_`` (``schedule.compare`` ->
  ``schedule_compare``; clients such as Claude's accept only letters, digits, ``_`` and ``-``);
* its input model (a pydantic model, so its JSON schema and its validation are one thing) is
  built from the task's signature: each parameter's annotation and default, with a
  description from its role (input file, written output, seed) and from the docstring.
  ``Path`` reads as a string; ``progress`` is the MCP progress channel, not an argument;
  ``record`` (and ``register``/``register_alias`` for a task that writes a model) are the
  runner's own options, as on the CLI;
* its output model is the shape of :meth:`Result.to_dict` with the task's schema id as a
  constant, the payload typed by the task's return annotation (a ``TypedDict`` or model gives
  a full payload schema; a plain ``dict`` an open object) and :class:`Provenance` as is.

:func:`call_tool` is the tool call without MCP: validate the arguments with the input
model, run the task through :func:`hpcopt.store.runner.run_task` and return
``Result.to_dict()``. The MCP server only maps tools to it.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from hpcopt.core.progress import ProgressFn
from hpcopt.core.results import Provenance, Result, json_safe
from hpcopt.core.tasks import TaskSpec
from hpcopt.errors import ConfigError

__all__ = ["ToolSpec", "tool_spec", "tool_name", "call_tool", "run_validated", "arguments_base",
           "RUNNER_OPTIONS"]

#: arguments every tool takes that belong to the runner, not to the task
RUNNER_OPTIONS = ("record", "register", "register_alias")

MODEL_REF_HELP = ("A registered model can be given wherever a path is expected as model:NAME, model:NAME@ALIAS "
                  "or model:NAME:VERSION (see the hpcopt://models resources).")

_ROLE_HELP = {
    "input": "Path of an input file or directory; it is read, and its SHA-256 is recorded with the run.",
    "output": "Path the task writes; it becomes an artifact of the run (read it back through hpcopt://runs/{id}).",
    "seed": "Random seed; recorded with the run so the result can be replayed.",
}


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


# ---------------------------------------------------------------------------- annotations

def _hints(spec: TaskSpec) -> dict[str, Any]:
    """The task's resolved annotations, one parameter at a time (one unresolvable hint spoils no other)."""
    fn = inspect.unwrap(spec.fn)
    try:
        return typing.get_type_hints(fn)
    except Exception:  # e.g. a name imported only under TYPE_CHECKING
        pass
    out: dict[str, Any] = {}
    for name, ann in getattr(fn, "__annotations__", {}).items():
        if isinstance(ann, str):
            try:
                ann = eval(ann, fn.__globals__)  # noqa: S307 - the task's own annotation text
            except Exception:
                ann = Any if name != "progress" else ProgressFn
        out[name] = ann
    return out


def _plain(ann: Any) -> Any:
    """``Path`` -> ``str`` throughout an annotation (so ``str | Path`` is one string type)."""
    if ann is Path or (isinstance(ann, type) and issubclass(ann, Path)):
        return str
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is None or not args:
        return ann
    if origin is Literal:
        return ann
    if origin in (Union, types.UnionType):
        arms: list[Any] = []
        for a in (_plain(a) for a in args):
            if a not in arms:
                arms.append(a)
        return arms[0] if len(arms) == 1 else Union[tuple(arms)]
    if origin is typing.Annotated:
        return typing.Annotated[(_plain(args[0]), *args[1:])]
    plain = tuple(_plain(a) if a is not Ellipsis else a for a in args)
    try:
        return origin[plain]
    except TypeError:
        return ann


def _json_type(ann: Any) -> Any | None:
    """``ann`` if pydantic can give it a JSON schema; else the union of its arms that can; else None."""
    from pydantic import TypeAdapter

    try:
        TypeAdapter(ann).json_schema()
        return ann
    except Exception:
        pass
    if typing.get_origin(ann) in (Union, types.UnionType):
        arms = [a for a in (_json_type(a) for a in typing.get_args(ann)) if a is not None]
        if any(a is not type(None) for a in arms):  # ``Estimator | None`` alone has nothing to set
            return arms[0] if len(arms) == 1 else Union[tuple(arms)]
    return None


_DOC_PARAM = re.compile(
    r"^\s*(?::param\s+)?(?:``)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:``)?\s*(?:\([^)]*\))?\s*:\s*(?P<text>\S.*)$")


def _doc_params(doc: str) -> dict[str, str]:
    """``name: text`` / ``:param name: text`` lines of a docstring (continuation lines joined)."""
    out: dict[str, str] = {}
    last = None
    for line in doc.splitlines():
        m = _DOC_PARAM.match(line)
        if m:
            last = m["name"]
            out[last] = m["text"].strip()
        elif last and line.startswith((" " * 8, "\t\t")) and line.strip():
            out[last] += " " + line.strip()
        else:
            last = None
    return out


def _default(value: Any) -> Any:
    return json_safe(value) if isinstance(value, (list, tuple, dict)) else value


# ---------------------------------------------------------------------------- models

def _field_name(name: str) -> tuple[str, dict[str, Any]]:
    """A pydantic field name for ``name`` and the alias keeping ``name`` on the wire (``schema``, ``json``...)."""
    from pydantic import BaseModel

    return (f"field_{name}", {"alias": name}) if hasattr(BaseModel, name) else (name, {})


def arguments_base(parent: type | None = None) -> type:
    """The base of every input model: ``parent`` (pydantic's ``BaseModel`` by default) refusing unknown keys."""
    from pydantic import BaseModel, ConfigDict

    class Arguments(parent or BaseModel):  # type: ignore[misc, valid-type]
        # an unknown argument is an error, not silently dropped (a misspelt option must not be ignored)
        model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    return Arguments


def _input_model(spec: TaskSpec, hints: dict[str, Any], record: bool, base: type | None) -> tuple[type, dict[str, str]]:
    from pydantic import Field, create_model

    described = spec.parameters()
    doc = _doc_params(inspect.getdoc(spec.fn) or "")
    wire: dict[str, tuple[Any, dict[str, Any]]] = {}  # argument name -> (type, Field keywords)
    hidden: dict[str, str] = {}
    sig = spec.signature
    for name, info in described.items():
        p = sig.parameters[name]
        ann = _json_type(_plain(hints.get(name, Any)))
        if ann is None:
            if p.default is p.empty:
                raise ConfigError(f"the task {spec.name!r} cannot be a tool: its required parameter {name!r} has "
                                  f"the type {info['annotation']}, which has no JSON form; give the task a name or "
                                  "path parameter for it (tasks take JSON-friendly parameters)")
            hidden[name] = str(info["annotation"])
            continue
        help_ = " ".join(t for t in (doc.get(name), _ROLE_HELP.get(info["role"])) if t)
        kw: dict[str, Any] = {"description": help_ or None}
        if p.default is not p.empty:
            kw["default"] = _default(p.default)
        wire[name] = (ann, kw)
    clash = [o for o in RUNNER_OPTIONS if o in wire]
    if clash:
        raise ConfigError(f"the task {spec.name!r} has a parameter named {clash[0]!r}, which the tool needs for "
                          "the runner's own option; rename the task's parameter")
    wire["record"] = (bool, {"default": record, "description": (
        "Record this run in the run store (hpcopt://runs); false leaves no trace.")})
    if "model" in spec.outputs:
        wire["register"] = (str | None, {"default": None, "description": (
            "Register the model the task writes under this name (the next version); later calls can then pass "
            "model:NAME.")})
        wire["register_alias"] = (str | None, {"default": None, "description": (
            "With register: also point this alias (e.g. production) at the new version.")})
    fields = {}
    for name, (ann, kw) in wire.items():
        fname, alias = _field_name(name)
        fields[fname] = (ann, Field(**kw, **alias))
    model = create_model(f"{tool_name(spec.name)}_arguments", __base__=base or arguments_base(), **fields)
    return model, hidden


def _output_model(spec: TaskSpec, hints: dict[str, Any]) -> type:
    from pydantic import ConfigDict, Field, create_model

    ret = hints.get("return", Any)
    payload = _readable_typeddict(ret) if typing.is_typeddict(ret) else ret if _is_model(ret) else dict[str, Any]
    # a task that may return a Result of its own may name another schema (a nested one, say)
    own = ret is not Any and not _mentions(ret, Result)
    schema_type: Any = Literal[spec.schema_id] if own else str
    schema_help = "The result's schema id (name/version)" + (
        "." if own else f"; {spec.schema_id} unless the task answers with another (see its description).")
    return create_model(
        f"{tool_name(spec.name)}_result", __config__=ConfigDict(populate_by_name=True),
        result_schema=(schema_type, Field(alias="schema", description=schema_help)),
        payload=(payload, Field(description="What the task found; its keys are the task's stable result fields.")),
        artifacts=(dict[str, str], Field(default_factory=dict, description="Files the run wrote, name -> path.")),
        provenance=(Provenance, Field(description=(
            "Parameters, input SHA-256s, seed, library versions, host, times and the store's run_id."))),
    )


def _readable_typeddict(td: Any) -> Any:
    """``td`` as a ``typing_extensions.TypedDict`` (pydantic reads no ``typing.TypedDict`` before 3.12)."""
    import typing_extensions as te

    hints = te.get_type_hints(td, include_extras=True)
    fields = {k: _readable_typeddict(v) if typing.is_typeddict(v) else v for k, v in hints.items()}
    fields = {k: v if k in td.__required_keys__ else te.NotRequired[v] for k, v in fields.items()}
    return te.TypedDict(td.__name__, fields)  # type: ignore[operator]


def _mentions(ann: Any, cls: type) -> bool:
    return ann is cls or any(_mentions(a, cls) for a in typing.get_args(ann))


def _is_model(t: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(t, type) and issubclass(t, BaseModel)


def _description(spec: TaskSpec, hidden: dict[str, str]) -> str:
    doc = inspect.getdoc(spec.fn) or spec.summary or spec.name
    lines = [doc, "", f"Task {spec.name}; the result has the schema {spec.schema_id} (payload, artifacts, "
             "provenance with the run_id of the recorded run)."]
    if spec.inputs:
        lines.append(f"Reads: {', '.join(spec.inputs)}. {MODEL_REF_HELP}")
    if spec.outputs:
        lines.append(f"Writes: {', '.join(spec.outputs)}" + (
            " ('model' is a model directory; pass register to add it to the registry)" if "model" in spec.outputs
            else "") + ".")
    if hidden:
        lines.append("Not settable here (the task's default is used): " + ", ".join(hidden) + ".")
    return "\n".join(lines)


def tool_spec(spec: TaskSpec, *, record: bool = True, arguments_base: type | None = None) -> ToolSpec:
    """The tool view of a task (raises :class:`ConfigError` if a required parameter has no JSON form).

    ``record`` is the default of the tool's ``record`` argument; ``arguments_base`` the
    pydantic base class of the input model (the MCP server passes the SDK's).
    """
    from hpcopt.core.optional import require

    require("pydantic", "mcp")
    hints = _hints(spec)
    inputs, hidden = _input_model(spec, hints, record, arguments_base)
    return ToolSpec(task=spec, name=tool_name(spec.name), description=_description(spec, hidden),
                    input_model=inputs, output_model=_output_model(spec, hints),
                    takes_progress="progress" in spec.signature.parameters, hidden=hidden)


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
