"""Each task's parameters as a pydantic model (validation and the OpenAPI schema), and the
checks the service adds before a job is accepted: paths under the data roots, no huge numbers."""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from hpcopt.core.results import json_safe
from hpcopt.core.tasks import TaskSpec, describe_parameter
from hpcopt.serve.paths import PathRefused, check_path
from hpcopt.store.runner import MODEL_REF

#: the largest integer a JSON client can send exactly (IEEE double), and so the service's bound
MAX_INT = 2**53

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=False)


class HugeNumber(ValueError):
    pass


def _field_type(hint: Any) -> Any:
    try:
        TypeAdapter(hint).json_schema()
        return hint
    except Exception:  # an annotation pydantic cannot express (a class, a callable): any JSON value
        return Any


def _mentions_path(hint: Any) -> bool:
    if hint is Path:
        return True
    return any(_mentions_path(a) for a in typing.get_args(hint))


def parameters_model(spec: TaskSpec) -> tuple[type[BaseModel], dict[str, str]]:
    """``(the model of spec's parameters, name -> "input"/"output" for its path parameters)``."""
    try:
        hints = typing.get_type_hints(spec.fn)
    except Exception:  # unresolvable annotations: every parameter takes any JSON value
        hints = {}
    described = spec.parameters()
    fields: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for name, d in described.items():
        hint = hints.get(name, Any)
        if d["role"] in ("input", "output"):
            paths[name] = d["role"]
        elif _mentions_path(hint):
            paths[name] = "output"  # a path the task was not declared to read: checked as if written
        ftype = _field_type(hint)
        if d["required"]:
            fields[name] = (ftype, Field(..., description=f"{d['role']} ({d['annotation']})"))
        else:
            default = spec.signature.parameters[name].default
            fields[name] = (ftype, Field(default=json_safe(describe_parameter(default)),
                                         description=f"{d['role']} ({d['annotation']})"))
    model = create_model(f"{spec.name.replace('.', '_')}_parameters", __config__=_CONFIG, **fields)
    model.__doc__ = spec.summary or spec.name
    return model, paths


def submit_model(spec: TaskSpec, params_model: type[BaseModel]) -> type[BaseModel]:
    """The body of ``POST /v1/tasks/<name>/jobs``."""
    extra: dict[str, Any] = {}
    if "model" in spec.outputs:
        # 'register' is the field's name in JSON; in Python it would shadow BaseModel.register
        extra["register_as"] = (str | None, Field(None, alias="register",
                                                  description="register the written model under this name"))
        extra["register_alias"] = (str | None, Field(None, description="and give it this alias"))
    return create_model(f"{spec.name.replace('.', '_')}_submit", __config__=_CONFIG,
                        parameters=(params_model, Field(...)), **extra)


def check_numbers(value: Any, where: str = "parameters") -> None:
    """Refuse integers beyond +-2**53 and non-finite floats anywhere in ``value``."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise HugeNumber(f"{where}: {str(value)[:20]}... is beyond +-2**53")
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > 1e300:
            raise HugeNumber(f"{where}: {value!r} is not a finite, representable number")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_numbers(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_numbers(v, f"{where}[{i}]")


def check_paths(params: dict[str, Any], paths: dict[str, str], roots: tuple[Path, ...]) -> dict[str, Any]:
    """``params`` with every path parameter replaced by its checked absolute path (or PathRefused)."""
    out = dict(params)
    for name, role in paths.items():
        v = out.get(name)
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            out[name] = [_one(x, name, role, roots) for x in v]
        else:
            out[name] = _one(v, name, role, roots)
    return out


def _one(v: Any, name: str, role: str, roots) -> Any:
    if not isinstance(v, str):
        raise PathRefused(f"the {name!r} parameter must be a path (a string); got {type(v).__name__}")
    if role == "input" and MODEL_REF.match(v):
        return v  # a registered model, resolved by the runner in the store
    return check_path(v, roots, param=name, must_exist=role == "input")
