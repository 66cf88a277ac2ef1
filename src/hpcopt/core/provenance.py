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

__all__ = ["version_record", "file_sha256", "host_record", "hash_inputs"]

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


def hash_inputs(files: dict[str, str | Path]) -> dict[str, str]:
    """Name -> SHA-256 of each input file; a directory (a model, a corpus) gets ``dir:`` and
    the SHA-256 of its files' relative paths and digests in name order; a missing path is
    recorded as such."""
    out = {}
    for name, path in files.items():
        p = Path(path)
        if p.is_file():
            out[name] = file_sha256(p)
        elif p.is_dir():
            h = hashlib.sha256()
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                h.update(str(f.relative_to(p)).encode() + b"\0" + file_sha256(f).encode() + b"\n")
            out[name] = "dir:" + h.hexdigest()
        else:
            out[name] = f"not found: {p}"
    return out
