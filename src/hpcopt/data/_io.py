"""Opening text files, plain or gzip-compressed, with clear errors."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from hpcopt.errors import InputError


def read_text(path: str | Path) -> str:
    """The whole file as text; ``.gz`` (or gzip magic bytes) is decompressed."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", source=str(p), hint="check the path")
    if p.is_dir():
        raise InputError("is a directory, not a file", source=str(p))
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b" or p.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(
                f"is not a valid gzip file ({exc})", source=str(p), hint="re-download it or pass the uncompressed file"
            ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
