"""Standard Workload Format (SWF) reader and writer.

SWF (Feitelson et al., Parallel Workloads Archive): one job per line, 18 whitespace-
separated numeric fields, -1 for unknown; header comments ``; Key: value``. Alea's
extended variant adds three text columns (allocated node list, queue name, resource
request); they are kept as ``alloc_nodes``, ``queue_name`` and ``resource_spec``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.core.files import read_text
from hpcopt.data.workload import COLUMNS, INT_COLUMNS, Workload, field_label
from hpcopt.errors import InputError

ALEA_EXTRA_COLUMNS = ("alloc_nodes", "queue_name", "resource_spec")
# Fields where a negative value other than -1 cannot be read as "unknown".
_NO_NEGATIVE = {1: "submit time", 4: "allocated processors", 7: "requested processors"}


def _parse_header(line: str, header: dict[str, str]) -> None:
    body = line.lstrip(";").strip()
    if ":" in body:
        key, _, value = body.partition(":")
        key = key.strip()
        if key and " " not in key:
            # Repeated keys (e.g. several Note lines) are joined.
            header[key] = f"{header[key]}\n{value.strip()}" if key in header else value.strip()


def _locate_bad_cell(rows: list[list[str]], line_numbers: list[int], source: str) -> InputError:
    for row, lineno in zip(rows, line_numbers):
        for i, token in enumerate(row[:18]):
            try:
                value = float(token)
            except ValueError:
                return InputError(f"{token!r} is not a number", source=source, line=lineno, field=field_label(i))
            if not math.isfinite(value):
                return InputError(f"{token!r} is not a finite number", source=source, line=lineno, field=field_label(i))
    return InputError("could not read the numeric fields", source=source)


def parse_swf(text: str, source: str = "<text>") -> Workload:
    """Parse SWF text into a :class:`Workload` (nothing is dropped)."""
    header: dict[str, str] = {}
    rows: list[list[str]] = []
    extras: list[list[str]] = []
    line_numbers: list[int] = []
    has_extras = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(";"):
            _parse_header(stripped, header)
            continue
        tokens = stripped.split()
        n = len(tokens)
        if n == 18:
            rows.append(tokens)
            extras.append(["", "", ""])
        elif n == 21:
            rows.append(tokens[:18])
            extras.append(tokens[18:])
            has_extras = True
        else:
            raise InputError(
                f"has {n} fields; an SWF job line has 18 (or 21 in Alea's extended variant)",
                source=source,
                line=lineno,
                hint="is the file truncated, or not SWF?",
            )
        line_numbers.append(lineno)
    if not rows:
        raise InputError("contains no jobs", source=source, hint="an SWF file needs at least one job line")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        raise _locate_bad_cell(rows, line_numbers, source) from None
    if not np.isfinite(values).all():
        raise _locate_bad_cell(rows, line_numbers, source)
    for col, what in _NO_NEGATIVE.items():
        bad = np.flatnonzero(values[:, col] < -1)
        if len(bad):
            r = int(bad[0])
            raise InputError(
                f"{rows[r][col]!r} is negative; {what} must be >= 0 or -1 (unknown)",
                source=source,
                line=line_numbers[r],
                field=field_label(col),
            )
    data = {}
    for i, name in enumerate(COLUMNS):
        col = values[:, i]
        if name in INT_COLUMNS:
            frac = np.flatnonzero(col != np.floor(col))
            if len(frac):
                r = int(frac[0])
                raise InputError(
                    f"{rows[r][i]!r} is not an integer", source=source, line=line_numbers[r], field=field_label(i)
                )
            data[name] = col.astype(np.int64)
        else:
            data[name] = col
    frame = pd.DataFrame(data)
    if has_extras:
        extra = np.array(extras, dtype=object)
        for j, name in enumerate(ALEA_EXTRA_COLUMNS):
            frame[name] = extra[:, j]
    return Workload(frame, header, source)


def read_swf(path: str | Path) -> Workload:
    """Read an ``.swf`` or ``.swf.gz`` file."""
    return parse_swf(read_text(path), source=str(path))


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_swf(workload: Workload, path: str | Path) -> Path:
    """Write the 18 SWF fields (``.gz`` suffix compresses); the header is kept."""
    import gzip

    p = Path(path)
    lines = [f"; {k}: {line}" for k, v in workload.header.items() for line in str(v).split("\n")]
    cols = [workload.jobs[name].to_numpy() for name in COLUMNS]
    for i in range(len(workload.jobs)):
        lines.append(" ".join(_format(c[i]) for c in cols))
    text = "\n".join(lines) + "\n"
    if p.suffix == ".gz":
        p.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        p.write_text(text)
    return p
