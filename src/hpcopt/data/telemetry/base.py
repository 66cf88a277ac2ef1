"""What every telemetry reader shares: the repair log, the value rule, cell parsing.

A telemetry value must be a finite number with magnitude below 2**64 (:data:`VALUE_LIMIT`;
no counter or gauge of a real node exceeds it, so a larger value is a damaged file), and
anything else is refused with one :class:`~hpcopt.errors.InputError` naming the file, the
line and the column; a timestamp must in addition be non-negative (seconds since the
epoch). Every repair a caller asks for is counted in a :class:`RepairLog`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.errors import InputError

__all__ = ['RepairLog', 'VALUE_LIMIT', 'label_segments']

@dataclass
class RepairLog:
    """Counts of every repair a reader made, so that nothing is changed silently."""

    actions: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, count: int = 1) -> None:
        if count:
            self.actions[what] = self.actions.get(what, 0) + int(count)

    def __bool__(self) -> bool:
        return bool(self.actions)

    def as_dict(self) -> dict[str, int]:
        return dict(self.actions)



def _resolve(path: str | Path) -> Path:
    """Accept ``x.txt`` when only ``x.txt.gz`` exists, and the reverse."""
    p = Path(path)
    if p.exists():
        return p
    if p.suffix == ".gz" and p.with_suffix("").exists():
        return p.with_suffix("")
    gz = p.with_name(p.name + ".gz")
    if gz.exists():
        return gz
    return p


# --------------------------------------------------------------------------- cells and lines
#
# One rule for every numeric cell of every reader: a decimal number (``1``, ``-2.5``,
# ``.5``, ``3e-4``; spaces or tabs around it are allowed); an empty cell or ``nan`` is a
# *missing* value, refused unless the caller asks for a repair (``missing="ffill"``, CLI
# ``--fill-missing``), which is then counted; ``inf``, ``infinity`` and numbers that
# overflow a 64-bit float are always refused (no telemetry format here can mean them);
# anything else (``True``, ``0x10``, ``1_000``, ``N/A``) is not a number. A finite number
# of magnitude 2**64 or more is refused too (VALUE_LIMIT: beyond any u64 counter, so a
# damaged file); timestamps must also be >= 0 (_check_times).

#: every telemetry value (and timestamp) must be below this in magnitude
VALUE_LIMIT = 2.0**64

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_FAST_CHARS = frozenset("0123456789.eE+-, \t\n")


def _is_missing(s: str) -> bool:
    return s == "" or s.lower() in ("nan", "+nan", "-nan")


def _in_range(vals: np.ndarray) -> np.ndarray:
    """Which values are allowed: finite with magnitude below :data:`VALUE_LIMIT` (NaN: False)."""
    return np.abs(vals) < VALUE_LIMIT


def _too_large(v: object) -> str:
    return (f"{str(v)[:40]!r} has magnitude 2**64 or more: no counter or gauge of a real node reaches it "
            "(a damaged file?)")


def _cell_problem(cell: str) -> str:
    """Why one cell is not an allowed number (for a cell that failed the fast paths)."""
    s = cell.strip(" \t")
    if _NUMBER.fullmatch(s):
        return f"{s!r} overflows a 64-bit float" if math.isinf(float(s)) else _too_large(s)
    if s.lower().lstrip("+-") in ("inf", "infinity"):
        return f"{s!r}: infinite values are not allowed in telemetry"
    return f"{cell[:40]!r} is not a number"


def _parse_cells(cells: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Floats of one column of cells, the mask of missing cells, and the index of the first
    bad cell (-1 if none). Vectorised when every cell is plain ASCII number text."""
    n = len(cells)
    stripped = [c.strip(" \t") for c in cells]
    missing = np.fromiter((_is_missing(s) for s in stripped), dtype=bool, count=n)
    out = np.full(n, np.nan)
    present = [s for s, m in zip(stripped, missing) if not m]
    if present and _FAST_CHARS.issuperset("".join(present)):
        try:
            vals = np.asarray(present, dtype=np.float64)
        except ValueError:
            vals = None
        if vals is not None and _in_range(vals).all():
            out[~missing] = vals
            return out, missing, -1
    for i, s in enumerate(stripped):
        if missing[i]:
            continue
        if not _NUMBER.fullmatch(s):
            return out, missing, i
        v = float(s)
        if not abs(v) < VALUE_LIMIT:
            return out, missing, i
        out[i] = v
    return out, missing, -1


def _check_times(t: np.ndarray, source: str, field: str, line_of, shown=None) -> None:
    """Refuse a negative timestamp: timestamps are seconds since the epoch (the values
    themselves have passed the cell rule, so they are finite)."""
    neg = t < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        what = shown(i) if shown is not None else f"{t[i]:g}"
        raise InputError(f"timestamp {what} is negative", source=source, line=line_of(i), field=field,
                         hint="timestamps are seconds since the epoch (1970-01-01 UTC), 0 or more")


def _data_lines(text: str) -> list[str]:
    """Lines of a text file without line ends; blank lines at the very end are not data."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and lines[-1].strip(" \t") == "":
        lines.pop()
    return lines


def _fill_missing(arr: np.ndarray, miss: np.ndarray, source: str, names: list[str] | None, missing: str,
                  repairs: RepairLog | None, line_of=lambda r: r + 1, hint: str | None = None) -> np.ndarray:
    """Refuse missing cells, or forward-fill them (a leading gap back-filled) and count them."""
    if not miss.any():
        return arr
    r, c = (int(v) for v in np.argwhere(miss)[0])
    col = f"column {names[c]!r}" if names else f"column {c + 1}"
    if missing == "error":
        raise InputError(f"empty cell or NaN ({int(miss.sum())} in the file)", source=source, line=line_of(r),
                         field=col, hint=hint or "fill the gap, or pass missing='ffill' (CLI: --fill-missing) to "
                                                 "carry the last value forward, counted")
    empty_cols = np.flatnonzero(miss.all(axis=0))
    if empty_cols.size:
        c = int(empty_cols[0])
        col = f"column {names[c]!r}" if names else f"column {c + 1}"
        raise InputError("the column has no value at all; nothing to fill it from", source=source, field=col)
    filled = pd.DataFrame(arr).ffill().bfill().to_numpy(dtype=np.float64)
    if repairs is not None:
        repairs.add(f"{Path(source).name}: empty or NaN cells forward-filled", int(miss.sum()))
    return filled


def label_segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of 1s as ``(start, end)`` pairs with an exclusive end."""
    y = np.asarray(labels).astype(np.int8).ravel()
    if y.size == 0:
        return []
    d = np.diff(np.concatenate([[0], y, [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist()))
