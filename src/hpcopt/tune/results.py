"""Typed results of one evaluation: a measurement or a recorded failure, never an exception."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """What happened to a configuration."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"   # crash, non-zero exit, exception in a callable
    TIMEOUT = "timeout"
    WRONG_ANSWER = "wrong_answer"     # output differs from the reference: invalid, never "fast"
    INVALID = "invalid"               # breaks a constraint, or unknown to a replay cache


@dataclass(frozen=True)
class Result:
    """The outcome of evaluating one configuration.

    ``value`` is the objective (seconds unless the runner says otherwise; lower is
    better) and is ``None`` unless ``status`` is OK. ``values`` holds every objective for
    multi-objective studies. ``samples`` are the per-repetition measurements, ``spread``
    their interquartile range. ``message`` says why a failure happened.
    """

    status: Status
    value: float | None = None
    values: tuple[float, ...] | None = None
    samples: tuple[float, ...] = ()
    spread: float | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def success(cls, value: float, samples=(), *, values=None, extra=None) -> "Result":
        samples = tuple(float(s) for s in samples)
        spread = None
        if len(samples) >= 2:
            import numpy as np

            q1, q3 = np.percentile(samples, [25, 75])
            spread = float(q3 - q1)
        vals = tuple(float(v) for v in values) if values is not None else (float(value),)
        if not all(math.isfinite(v) for v in vals):
            return cls(Status.RUNTIME_ERROR, message=f"objective is not finite: {vals}")
        return cls(Status.OK, float(value), vals, samples, spread, "", dict(extra or {}))

    @classmethod
    def failure(cls, status: Status, message: str, extra=None) -> "Result":
        if status is Status.OK:
            raise ValueError("a failure cannot have status OK")
        return cls(status, None, None, (), None, str(message)[:2000], dict(extra or {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "value": self.value,
            "values": list(self.values) if self.values is not None else None,
            "samples": list(self.samples),
            "spread": self.spread,
            "message": self.message,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Result":
        return cls(
            Status(d["status"]),
            d.get("value"),
            tuple(d["values"]) if d.get("values") is not None else None,
            tuple(d.get("samples") or ()),
            d.get("spread"),
            d.get("message", ""),
            dict(d.get("extra") or {}),
        )


__all__ = ["Status", "Result"]
