"""Tasks: one plain function per use case, each returning a versioned :class:`Result`.

A capability declares its use cases in ``hpcopt.<capability>.tasks``::

    @task("schedule.compare", inputs=("trace",), outputs=("report",))
    def compare(trace: str | Path, policies: list[str], ..., progress: ProgressFn | None = None) -> dict:
        ...
        return {"policies": rows}                 # the payload

The decorator registers the function in :data:`TASKS` and wraps it so that a call returns
``Result(schema="schedule.compare", version=1, payload=..., provenance=...)`` with the
bound parameters, the SHA-256 of every input file, the seed, the library versions and the
wall-clock times filled in. A task may instead return a :class:`Result` itself (a nested
schema, say); its provenance is then completed, not replaced.

Every face -- CLI, REST, MCP, dashboard -- calls tasks through
:func:`hpcopt.store.runner.run_task` (which also records the run in the store) and renders
``Result.payload``. Task parameters are therefore JSON-friendly: file paths, names,
numbers, lists of them; ``progress`` is the one callback. Objects a renderer in the same
process may want (a fitted model, a DataFrame) go in ``Result.extras``, which is never
serialised.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcopt.core.provenance import hash_inputs
from hpcopt.core.registry import Registry
from hpcopt.core.results import Provenance, Result, json_safe

__all__ = ["TASKS", "TaskSpec", "task", "describe_parameter", "import_all_tasks", "input_files"]

#: capabilities whose ``tasks`` module registers use cases (imported lazily by
#: :func:`import_all_tasks`, so listing tasks does not import every library)
CAPABILITIES = ("schedule", "estimate", "detect", "tune")

_NOT_PARAMETERS = frozenset({"progress"})


@dataclass(frozen=True)
class TaskSpec:
    """A registered use case: its name, result schema and what its parameters mean."""

    name: str
    schema: str
    version: int
    fn: Callable[..., Result]
    summary: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    seed: str | None
    libraries: tuple[str, ...]
    #: the call with the input hashes already computed (``run_task`` hashes them once for the record)
    run_hashed: Callable[[dict[str, Any], dict[str, str]], Result] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        return self.fn(*args, **kwargs)

    @property
    def schema_id(self) -> str:
        return f"{self.schema}/{self.version}"

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    def parameters(self) -> dict[str, dict[str, Any]]:
        """Name -> {annotation, default, required, role} for every parameter a face may set."""
        out: dict[str, dict[str, Any]] = {}
        for p in self.signature.parameters.values():
            if p.name in _NOT_PARAMETERS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            role = "input" if p.name in self.inputs else "output" if p.name in self.outputs else \
                "seed" if p.name == self.seed else "option"
            ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", str(p.annotation))
            out[p.name] = {"annotation": ann, "required": p.default is p.empty,
                           "default": None if p.default is p.empty else json_safe(describe_parameter(p.default)),
                           "role": role}
        return out


TASKS: Registry[TaskSpec] = Registry("task", load_plugins=True)


def describe_parameter(value: Any) -> Any:
    """A JSON-safe description of a parameter value for the provenance record.

    Plain values pass; paths become strings; an object with ``get_params`` becomes its
    class and parameters; anything else its class name (never its bytes).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): describe_parameter(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [describe_parameter(v) for v in value]
    if hasattr(value, "get_params") and callable(value.get_params):
        try:
            params = value.get_params()
        except Exception:  # a broken get_params must not fail the task's record
            params = {}
        return {"class": type(value).__name__, "params": describe_parameter(params)}
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return json_safe(value)
    return {"class": type(value).__name__}


def input_files(bound: dict[str, Any], names: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name in names:
        v = bound.get(name)
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                if isinstance(item, (str, Path)):
                    files[f"{name}[{i}]"] = Path(item)
        elif isinstance(v, (str, Path)):
            files[name] = Path(v)
    return files


def task(name: str, *, schema: str | None = None, version: int = 1, inputs: tuple[str, ...] = (),
         outputs: tuple[str, ...] = (), seed: str | None = "seed", libraries: tuple[str, ...] = ()):
    """Register a use-case function as the task ``name`` (see the module docstring).

    ``inputs`` name the parameters that are input files or directories (hashed into the
    provenance), ``outputs`` those that are files the task writes (listed as the result's
    artifacts when written), ``seed`` the parameter holding the random seed.
    """

    def deco(fn: Callable[..., Any]) -> TaskSpec:
        sig = inspect.signature(fn)
        seed_name = seed if seed in sig.parameters else None
        for n in (*inputs, *outputs):
            if n not in sig.parameters:
                raise TypeError(f"task {name!r}: {n!r} is not a parameter of {fn.__qualname__}")

        def execute(bound: inspect.BoundArguments, input_hashes: dict[str, str] | None = None) -> Result:
            bound.apply_defaults()
            args_ = dict(bound.arguments)
            params = {k: describe_parameter(v) for k, v in args_.items() if k not in _NOT_PARAMETERS}
            prov = Provenance.start(parameters=params, seed=args_.get(seed_name) if seed_name else None,
                                    libraries=libraries)
            # a runner that hashed the inputs already (to record the run) passes them: read once
            prov.inputs = dict(input_hashes) if input_hashes is not None else \
                hash_inputs(input_files(args_, inputs))
            out = fn(*bound.args, **bound.kwargs)
            if isinstance(out, Result):
                result = out
                for key in ("parameters", "inputs", "versions", "host"):
                    if not getattr(result.provenance, key):
                        setattr(result.provenance, key, getattr(prov, key))
                if result.provenance.seed is None:
                    result.provenance.seed = prov.seed
                if result.provenance.started_at is None:
                    result.provenance.started_at = prov.started_at
            else:
                if not isinstance(out, dict):
                    raise TypeError(f"task {name!r} returned {type(out).__name__}; a task returns a payload "
                                    "dict or a Result")
                extras = out.pop("_extras", {}) if "_extras" in out else {}
                result = Result(schema or name, version, out, prov, extras=extras)
            drawn = result.payload.get("random_state") if isinstance(result.payload, dict) else None
            if result.provenance.seed is None and isinstance(drawn, int) and not isinstance(drawn, bool):
                result.provenance.seed = drawn  # a task that drew its own seed reports it as random_state
            for n in outputs:
                v = args_.get(n)
                if isinstance(v, (str, Path)) and Path(v).exists():
                    result.artifacts.setdefault(n, str(Path(v)))
            result.provenance.finish()
            return result

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Result:
            return execute(sig.bind(*args, **kwargs))

        def run_hashed(kwargs: dict[str, Any], input_hashes: dict[str, str]) -> Result:
            return execute(sig.bind(**kwargs), input_hashes)

        summary = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
        spec = TaskSpec(name=name, schema=schema or name, version=version, fn=run, summary=summary,
                        inputs=tuple(inputs), outputs=tuple(outputs), seed=seed_name, libraries=tuple(libraries),
                        run_hashed=run_hashed)
        TASKS.register(name, spec, help=summary, replace=True)
        return spec

    return deco


def import_all_tasks() -> list[str]:
    """Import every capability's ``tasks`` module (registering its tasks); the names."""
    import importlib

    for cap in CAPABILITIES:
        try:
            importlib.import_module(f"hpcopt.{cap}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name != f"hpcopt.{cap}.tasks":
                raise
    return TASKS.names()
