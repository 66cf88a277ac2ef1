"""File paths from clients: accepted only under the configured data roots.

A path is resolved with every symbolic link followed (``resolve(strict=True)`` on the
part that exists) and must then lie under a root, so ``..`` and links pointing outside are
refused alike. A path that does not exist yet (an output) is checked through its nearest
existing ancestor, and its missing part may not contain ``..``. :func:`check_paths` applies
this to every path parameter of a call (an input must exist; ``model:NAME`` references pass
to the runner, which resolves them in the store). The REST service and the MCP server's
HTTP transport share these rules.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from hpcopt.errors import ConfigError
from hpcopt.store.runner import MODEL_REF

__all__ = ["PathRefused", "check_path", "check_paths", "safe_filename"]


class PathRefused(ConfigError):
    """A path outside the data roots (or otherwise not acceptable); the REST service answers 400."""


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def check_path(value: str, roots: tuple[Path, ...], *, param: str, must_exist: bool) -> str:
    """The absolute, link-free path of ``value`` if it lies under one of ``roots``."""
    if not roots:
        raise PathRefused(f"the {param!r} parameter names a file, but the service has no data roots configured "
                          "(start it with --data-root DIR)")
    if not isinstance(value, str) or not value or "\x00" in value or len(value) > 4096:
        raise PathRefused(f"the {param!r} parameter is not a usable path")
    p = Path(value)
    if not p.is_absolute():
        p = roots[0] / p
    missing: list[str] = []
    probe = p
    while not probe.exists() and not probe.is_symlink():
        missing.append(probe.name)
        if probe.parent == probe:
            break
        probe = probe.parent
    if missing and must_exist:
        raise PathRefused(f"the {param!r} parameter {value!r} does not exist under the data roots")
    if any(part in ("..", "") for part in missing):
        raise PathRefused(f"the {param!r} parameter {value!r} leaves the data roots")
    try:
        real = probe.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling or looping link
        raise PathRefused(f"the {param!r} parameter {value!r} is a broken link") from None
    for name in reversed(missing):
        real = real / name
    if not any(real.is_relative_to(r) for r in roots):
        raise PathRefused(f"the {param!r} parameter {value!r} is outside the data roots")
    return str(real)


def check_paths(params: dict[str, Any], paths: dict[str, str], roots: tuple[Path, ...]) -> dict[str, Any]:
    """``params`` with every path parameter replaced by its checked absolute path (or PathRefused).

    ``paths`` maps a parameter to its role, ``"input"`` (must exist) or ``"output"``, as
    :attr:`hpcopt.faces.schema.TaskSchema.paths` gives it; a list value is checked item by item.
    """
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


def _one(v: Any, name: str, role: str, roots: tuple[Path, ...]) -> Any:
    if not isinstance(v, str):
        raise PathRefused(f"the {name!r} parameter must be a path (a string); got {type(v).__name__}")
    if role == "input" and MODEL_REF.match(v):
        return v  # a registered model, resolved by the runner in the store
    return check_path(v, roots, param=name, must_exist=role == "input")


def safe_filename(name: str | None, *, default: str = "upload") -> str:
    """A file name with no directory part and only ``[A-Za-z0-9._-]`` (no leading dot)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).lstrip(".")[:120]
    return base or default
