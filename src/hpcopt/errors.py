"""One exception hierarchy for the whole package.

Every error a user can cause is an :class:`HpcoptError`; the ones about bad input are
also built-in ``ValueError``s so that callers may catch them either way.
"""

from __future__ import annotations

import builtins


class HpcoptError(Exception):
    """Base class of every error hpcopt raises on purpose."""


class InputError(HpcoptError, ValueError):
    """Bad input: names the file, the line and the field, and says what to do.

    ``str(err)`` reads ``"trace.swf line 4123, field 5 (allocated processors): 'abc' is
    not a number"``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.hint = hint
        self.reason = message
        where = []
        if source is not None:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        prefix = " ".join(where)
        if field is not None:
            prefix = f"{prefix}, {field}" if prefix else field
        text = f"{prefix}: {message}" if prefix else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class ConfigError(HpcoptError, ValueError):
    """A parameter or option that is not valid, e.g. an unknown policy name."""


class MissingDependencyError(HpcoptError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


def require(module: str, extra: str):
    """Import an optional dependency lazily, or say how to install it (see hpcopt.core.optional)."""
    from hpcopt.core.optional import require as _require

    return _require(module, extra)


def error_payload(exc: BaseException | None = None, *, type: str | None = None, message: str | None = None,
                  exit_code: int | None = None, **extra) -> dict:
    """The stable JSON shape of an error, schema ``error/1``, shared by every face.

    ``{"error": {"schema": "error/1", "type": ..., "message": ..., "exit_code": ...,
    "source": ..., "line": ..., "field": ..., "hint": ...}}``: the location keys are null
    when the error has no such part; a face may add keys (the REST service adds ``status``).
    Never a traceback.
    """
    body = {
        "schema": "error/1",
        "type": type or (builtins.type(exc).__name__ if exc is not None else "Error"),
        "message": message if message is not None else (str(exc) if exc is not None else ""),
        "exit_code": exit_code,
        "source": getattr(exc, "source", None),
        "line": getattr(exc, "line", None),
        "field": getattr(exc, "field", None),
        "hint": getattr(exc, "hint", None),
    }
    body.update(extra)
    return {"error": body}

