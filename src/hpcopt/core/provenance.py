"""What a result needs to be replayed: library versions, input hashes, host, times.

:func:`version_record` is the one place that builds the version dictionary recorded in
results and saved models.
"""

from __future__ import annotations

import hashlib
import importlib
import platform
import socket
from pathlib import Path

__all__ = ["version_record", "file_sha256", "host_record"]

_BASE = ("numpy", "pandas")


def _module_version(name: str) -> str | None:
    try:
        mod = importlib.import_module(name)
    except Exception:
        return None
    return str(getattr(mod, "__version__", None) or "unknown")


def version_record(*extra: str) -> dict[str, str]:
    """Versions of Python, hpcopt, numpy, pandas and the named extra libraries (if installed)."""
    from hpcopt import __version__

    out = {"python": platform.python_version(), "hpcopt": __version__}
    for name in (*_BASE, *extra):
        v = _module_version(name)
        if v is not None:
            out[name] = v
    return out


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def host_record() -> dict[str, str]:
    return {"hostname": socket.gethostname(), "machine": platform.machine(), "system": platform.system()}
