"""One derivation per task of what a face needs to accept a call and describe its answer.

From a :class:`~hpcopt.core.tasks.TaskSpec` (its signature, docstring, declared roles and
return annotation), :func:`task_schema` derives, once per task:

* the parameters a client may set, each with a JSON-friendly type (``Path`` reads as a
  string, so ``str | Path`` is one string type; a ``Literal`` is an enum), its default and a
  description from the docstring's ``name: text`` lines and from its role (input file,
  written output, seed); ``progress`` is the face's progress channel, not a parameter;
* the parameters with no JSON form (an in-process object): an optional one is left at the
  task's default (:attr:`TaskSchema.hidden`), a required one makes the task unusable by a
  face (:meth:`TaskSchema.model` raises :class:`~hpcopt.errors.ConfigError`);
* the path parameters with their role (:attr:`TaskSchema.paths`): the declared inputs and
  outputs, and any other parameter typed with ``Path``, checked as an output;
* the Result's shape (:attr:`TaskSchema.result_model`): :meth:`Result.to_dict` with the
  task's schema id as a constant, the payload typed by the return annotation (a
  ``TypedDict`` or model gives a full payload schema, a plain ``dict`` an open object).

:meth:`TaskSchema.model` builds the pydantic model of the parameters (its JSON schema and
its validation are one thing): unknown keys and non-finite numbers are refused. A face
adds its own fields (the REST body's ``register``, MCP's ``record``) through ``extra``.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from hpcopt.core.progress import ProgressFn
from hpcopt.core.results import Provenance, Result, json_safe
from hpcopt.core.tasks import TaskSpec
from hpcopt.errors import ConfigError

__all__ = ["TaskSchema", "task_schema", "parameters_model", "path_parameters", "arguments_base", "ROLE_HELP"]

ROLE_HELP = {
    "input": "Path of an input file or directory; it is read, and its SHA-256 is recorded with the run.",
    "output": "Path the task writes; it becomes an artifact of the run.",
    "seed": "Random seed; recorded with the run so the result can be replayed.",
}


@dataclass(frozen=True)
class TaskSchema:
    """What a face may set of one task, and the shape of its answer (read-only; shared by every face)."""

    spec: TaskSpec
    #: parameter name -> (its JSON-friendly type, pydantic ``Field`` keywords: default, description)
    fields: dict[str, tuple[Any, dict[str, Any]]]
    #: parameters with a default whose type has no JSON form (name -> annotation); the task's default is used
    hidden: dict[str, str]
    #: required parameters whose type has no JSON form (name -> annotation); no face can call the task
    unusable: dict[str, str]
    #: path parameters -> "input" (must exist) or "output"
    paths: dict[str, str]
    #: the task's resolved annotations (``return`` included)
    hints: dict[str, Any]

    @property
    def refusal(self) -> str | None:
        """Why no face can call the task (a required parameter with no JSON form), or None."""
        if not self.unusable:
            return None
        p, ann = next(iter(self.unusable.items()))
        return (f"the task {self.spec.name!r} cannot be served: its required parameter {p!r} has the type {ann}, "
                "which has no JSON form; give the task a name or path parameter for it (tasks take JSON-friendly "
                "parameters)")

    @property
    def model_name(self) -> str:
        return self.spec.name.replace(".", "_")

    def model(self, *, name: str | None = None, base: type | None = None,
              extra: dict[str, tuple[Any, dict[str, Any]]] | None = None) -> type[BaseModel]:
        """The pydantic model of the parameters (and of ``extra``'s fields, after them).

        ``base`` is the model's base class (:func:`arguments_base` by default). A field named
        like a ``BaseModel`` attribute (``schema``, ``json``) keeps its name on the wire as an
        alias: validate with the wire names, dump with ``by_alias=True``.
        """
        if self.refusal:
            raise ConfigError(self.refusal)
        fields = {}
        for wire, (ann, kw) in {**self.fields, **(extra or {})}.items():
            fname, alias = (f"field_{wire}", {"alias": wire}) if hasattr(BaseModel, wire) else (wire, {})
            fields[fname] = (ann, Field(**kw, **alias))
        model = create_model(name or f"{self.model_name}_parameters", __base__=base or arguments_base(), **fields)
        model.__doc__ = self.spec.summary or self.spec.name
        return model

    @functools.cached_property
    def result_model(self) -> type[BaseModel]:
        """The model of ``Result.to_dict()`` for this task."""
        ret = self.hints.get("return", Any)
        payload = _readable_typeddict(ret) if typing.is_typeddict(ret) else ret if _is_model(ret) else dict[str, Any]
        # a task that may return a Result of its own may name another schema (a nested one, say)
        own = ret is not Any and not _mentions(ret, Result)
        schema_type: Any = Literal[self.spec.schema_id] if own else str
        schema_help = "The result's schema id (name/version)" + (
            "." if own else f"; {self.spec.schema_id} unless the task answers with another (see its description).")
        return create_model(
            f"{self.model_name}_result", __config__=ConfigDict(populate_by_name=True),
            result_schema=(schema_type, Field(alias="schema", description=schema_help)),
            payload=(payload, Field(description="What the task found; its keys are the task's stable result fields.")),
            artifacts=(dict[str, str], Field(default_factory=dict, description="Files the run wrote, name -> path.")),
            provenance=(Provenance, Field(description=(
                "Parameters, input SHA-256s, seed, library versions, host, times and the store's run_id."))),
        )


@functools.lru_cache(maxsize=512)
def task_schema(spec: TaskSpec) -> TaskSchema:
    """The derivation for ``spec``, computed once per task (a re-registered task is a new spec)."""
    hints = _hints(spec)
    doc = _doc_params(inspect.getdoc(spec.fn) or "")
    fields: dict[str, tuple[Any, dict[str, Any]]] = {}
    hidden: dict[str, str] = {}
    unusable: dict[str, str] = {}
    paths: dict[str, str] = {}
    sig = spec.signature
    for name, info in spec.parameters().items():
        p, hint = sig.parameters[name], hints.get(name, Any)
        if info["role"] in ("input", "output"):
            paths[name] = info["role"]
        elif _mentions(hint, Path):
            paths[name] = "output"  # a path the task was not declared to read: checked as if written
        ann = _json_type(_plain(hint))
        if ann is None:
            (unusable if p.default is p.empty else hidden)[name] = str(info["annotation"])
            continue
        help_ = " ".join(t for t in (doc.get(name), ROLE_HELP.get(info["role"])) if t)
        kw: dict[str, Any] = {"description": help_ or None}
        if p.default is not p.empty:
            kw["default"] = json_safe(p.default) if isinstance(p.default, (list, tuple, dict, Path)) else p.default
        fields[name] = (ann, kw)
    return TaskSchema(spec=spec, fields=fields, hidden=hidden, unusable=unusable, paths=paths, hints=hints)


@functools.lru_cache(maxsize=512)
def parameters_model(spec: TaskSpec) -> type[BaseModel]:
    """The model of ``spec``'s parameters alone (cached; raises ConfigError for an unusable task)."""
    return task_schema(spec).model()


def path_parameters(spec: TaskSpec) -> dict[str, str]:
    """``spec``'s path parameters -> "input"/"output" (what :func:`hpcopt.faces.paths.check_paths` takes)."""
    return task_schema(spec).paths


def arguments_base(parent: type | None = None) -> type[BaseModel]:
    """A base for parameter models: ``parent`` (``BaseModel`` by default) refusing unknown keys and NaN/inf."""
    return _arguments_base(parent or BaseModel)


@functools.lru_cache(maxsize=8)
def _arguments_base(parent: type) -> type[BaseModel]:
    class Arguments(parent):  # type: ignore[misc, valid-type]
        # an unknown argument is an error, not silently dropped (a misspelt option must not be ignored)
        model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    return Arguments


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
    return isinstance(t, type) and issubclass(t, BaseModel)
