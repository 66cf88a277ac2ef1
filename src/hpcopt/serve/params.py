"""What the REST service adds to a task's parameters model (:mod:`hpcopt.faces.schema`):
the submit body around it and the check for numbers a JSON client cannot send exactly."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from hpcopt.core.tasks import TaskSpec

#: the largest integer a JSON client can send exactly (IEEE double), and so the service's bound
MAX_INT = 2**53

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=False)


class HugeNumber(ValueError):
    pass


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
