"""Declarative parameter validation and one ``get_params`` / ``set_params`` / ``clone``.

A class lists its constraints once, scikit-learn style::

    class MAD(ParamsMixin):
        _parameter_constraints = {
            "window": [Interval(int, 1, None)],
            "threshold": [Options("pot", "far")],
            "random_state": [None, int],
        }

        def __init__(self, window=5, threshold="pot", random_state=0):
            self.window = window
            ...

``validate_params(obj)`` (called by ``fit``) checks every constraint and raises a
:class:`~hpcopt.errors.ConfigError` shaped as scikit-learn's messages: "The 'window'
parameter of MAD must be an int in the range [1, inf); got 0 instead."
``__init__`` only stores parameters; learned state ends in ``_`` and is not cloned.
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

from hpcopt.errors import ConfigError

__all__ = ["Interval", "Options", "Predicate", "ParamsMixin", "validate_params", "clone", "positive_env"]


def positive_env(name: str, default, cast=int):
    """A positive number from the environment variable ``name`` (``default`` when unset)."""
    import os

    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise ConfigError(f"environment variable {name} must be {kind}; got {raw!r} instead") from None
    if not value > 0:
        raise ConfigError(f"environment variable {name} must be positive; got {raw!r} instead")
    return value


@dataclass(frozen=True)
class Interval:
    """A number of ``kind`` (int or float; bools never count) within ``[low, high]``.

    ``closed`` is one of "both", "left", "right", "neither"; ``None`` bounds are open-ended.
    Floats must be finite unless ``allow_inf``.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    allow_inf: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real):
            return False
        v = float(value)
        if math.isnan(v) or (math.isinf(v) and not self.allow_inf):
            return False
        if self.low is not None:
            if v < self.low or (v == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if v > self.high or (v == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{name} in the range {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of the listed values."""

    values: tuple

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Predicate:
    """Any check with a description, e.g. ``Predicate(callable, "a callable")``."""

    check: Callable[[Any], bool]
    description: str

    def accepts(self, value: Any) -> bool:
        return bool(self.check(value))

    def describe(self) -> str:
        return self.description


def _accepts(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        if constraint in (int, float) and isinstance(value, bool):
            return False
        if constraint is float:
            return isinstance(value, numbers.Real)
        if constraint is int:
            return isinstance(value, numbers.Integral)
        return isinstance(value, constraint)
    return constraint.accepts(value)


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        return {int: "an int", float: "a float", str: "a str", bool: "a bool"}.get(
            constraint, f"an instance of {constraint.__name__}")
    return constraint.describe()


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def validate_params(obj: Any, params: dict[str, Any] | None = None) -> None:
    """Check ``obj``'s parameters against its class's ``_parameter_constraints``."""
    constraints: dict[str, list] = {}
    for klass in reversed(type(obj).__mro__):
        constraints.update(getattr(klass, "_parameter_constraints", {}) or {})
    values = obj.get_params() if params is None else params
    for name, value in values.items():
        allowed = constraints.get(name)
        if allowed is None or allowed == "no_validation":
            continue
        if any(_accepts(c, value) for c in allowed):
            continue
        raise ConfigError(f"The {name!r} parameter of {type(obj).__name__} must be "
                          f"{_joined([_describe(c) for c in allowed])}; got {value!r} instead.")


class ParamsMixin:
    """``get_params``, ``set_params``, ``clone`` and ``repr`` from ``__init__``'s signature."""

    _parameter_constraints: dict[str, list] = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any):
        valid = self._param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                from hpcopt.core.registry import did_you_mean

                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}{did_you_mean(name, valid)}; "
                                  f"valid parameters: {', '.join(valid)}")
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


def clone(obj: Any, **overrides: Any) -> Any:
    """A new, unfitted object with the same parameters (nested objects cloned too)."""
    params = obj.get_params(deep=False)
    params = {k: clone(v) if hasattr(v, "get_params") and not isinstance(v, type) else v
              for k, v in params.items()}
    params.update(overrides)
    return type(obj)(**params)
