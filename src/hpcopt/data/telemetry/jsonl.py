"""JSON lines telemetry (``{"values": [...]}`` or ``{"metrics": {...}}`` per line): :func:`read_jsonl`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from hpcopt.core.files import iter_text_lines, read_text
from hpcopt.errors import ConfigError, InputError
from hpcopt.data.telemetry.base import RepairLog, VALUE_LIMIT, _check_times, _fill_missing, _resolve, _too_large

__all__ = ['iter_jsonl_samples', 'parse_jsonl_line', 'read_jsonl']

def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (use null for a missing value)")


def parse_jsonl_line(text: str, lineno: int, source: str = "stdin") -> dict:
    """One JSON-lines record as a dict; ``NaN``/``Infinity`` (not JSON) and anything but an
    object raise :class:`InputError` naming the line (a stream can catch it and go on)."""
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (column {exc.colno})", source=source, line=lineno) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not JSON: {str(exc)[:80]}", source=source, line=lineno) from None
    if not isinstance(obj, dict):
        raise InputError("each line must be a JSON object", source=source, line=lineno)
    return obj


def iter_jsonl_samples(lines: Iterable[str | bytes], *, source: str = "stdin") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-empty JSON line; a bad line raises InputError.

    Lines may be text or bytes (UTF-8, Latin-1 as the stated fallback; NUL bytes and
    over-long lines refused by :func:`hpcopt.core.files.iter_text_lines`).
    """
    for lineno, text, problem in iter_text_lines(lines, source):
        if problem is not None:
            raise InputError(problem, source=source, line=lineno)
        if not text.strip():
            continue
        yield lineno, parse_jsonl_line(text, lineno, source)


def _json_number(v, source: str, lineno: int, field: str) -> float:
    if v is None:
        return math.nan  # missing: refused or filled by the caller's policy
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{json.dumps(v)[:40] if _jsonable(v) else repr(v)[:40]} is not a number", source=source,
                         line=lineno, field=field)
    try:
        f = float(v)
    except OverflowError:  # an integer too large for a float
        f = math.inf
    if math.isinf(f):
        raise InputError(f"{str(v)[:40]!r} overflows a 64-bit float", source=source, line=lineno, field=field)
    if not abs(f) < VALUE_LIMIT:
        raise InputError(_too_large(v), source=source, line=lineno, field=field)
    return f


def _jsonable(v) -> bool:
    return isinstance(v, (str, list, dict, int, float, bool)) or v is None


def read_jsonl(path: str | Path, *, metric_names: list[str] | None = None, missing: str = "error",
               repairs: RepairLog | None = None) -> pd.DataFrame:
    """Read a JSON-lines telemetry file into a wide frame (one row per line).

    Each line is ``{"timestamp": t, "values": [...]}`` (columns ``1..n``, or
    ``metric_names``) or ``{"timestamp": t, "metrics": {"name": v, ...}}`` (columns: the
    first line's names, or ``metric_names``; every line must carry the same names). An
    optional ``"entity"`` must be the same on every line. ``null`` is a missing value
    (``missing`` as in :func:`read_matrix`); ``timestamp``, when the lines have one, must
    be a number of seconds since the epoch (0 or more) that strictly increases, and becomes
    the index. Any other problem raises
    :class:`InputError` naming the line and the field.
    """
    if missing not in ("error", "ffill"):
        raise ConfigError(f"missing must be 'error' or 'ffill'; got {missing!r} instead")
    p = _resolve(path)
    source = str(p)
    text = read_text(p)
    rows: list[list[float]] = []
    lines_at: list[int] = []
    times: list[float] = []
    names = list(metric_names) if metric_names is not None else None
    kind = entity = None
    has_ts = None
    for lineno, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        obj = parse_jsonl_line(line, lineno, source)
        this = "values" if "values" in obj else ("metrics" if "metrics" in obj else None)
        if this is None:
            raise InputError("the line has neither 'values' nor 'metrics'", source=source, line=lineno)
        if kind is None:
            kind = this
        elif this != kind:
            raise InputError(f"the line has '{this}' but line {lines_at[0]} has '{kind}'", source=source, line=lineno,
                             hint="use one of the two forms in the whole file")
        ent = obj.get("entity")
        if entity is None and not rows:
            entity = ent
        elif ent != entity:
            raise InputError(f"entity {ent!r} but line {lines_at[0]} names {entity!r}", source=source, line=lineno,
                             field="entity", hint="one file, one entity: split the file by entity")
        ts = obj.get("timestamp")
        if has_ts is None:
            has_ts = ts is not None
        elif has_ts != (ts is not None):
            raise InputError("some lines have a timestamp and some do not", source=source, line=lineno,
                             field="timestamp")
        if has_ts:
            times.append(_json_number(ts, source, lineno, "timestamp"))
            if math.isnan(times[-1]):
                raise InputError("timestamp is null", source=source, line=lineno, field="timestamp")
            _check_times(np.asarray(times[-1:]), source, "timestamp", lambda i: lineno)
        if kind == "values":
            vals = obj["values"]
            if not isinstance(vals, list):
                raise InputError("'values' must be a list of numbers", source=source, line=lineno, field="values")
            if names is None:
                names = [str(k + 1) for k in range(len(vals))]
            if len(vals) != len(names):
                raise InputError(f"{len(vals)} values, expected {len(names)}", source=source, line=lineno,
                                 field="values")
            row = [_json_number(v, source, lineno, f"values[{k}]") for k, v in enumerate(vals)]
        else:
            d = obj["metrics"]
            if not isinstance(d, dict):
                raise InputError("'metrics' must be an object of name: number", source=source, line=lineno,
                                 field="metrics")
            if names is None:
                names = [str(k) for k in d]
            if set(d) != set(names):
                extra = sorted(set(d) - set(names))[:3]
                lack = sorted(set(names) - set(d))[:3]
                raise InputError(f"metrics differ from the expected names (missing {lack}, unexpected {extra})",
                                 source=source, line=lineno, field="metrics")
            row = [_json_number(d[n], source, lineno, f"metrics[{n!r}]") for n in names]
        rows.append(row)
        lines_at.append(lineno)
    if not rows:
        raise InputError("the file has no JSON line", source=source)
    arr = np.asarray(rows, dtype=np.float64)
    line_of = lambda i: lines_at[i]  # noqa: E731
    arr = _fill_missing(arr, np.isnan(arr), source, names, missing, repairs, line_of=line_of)
    out = pd.DataFrame(arr, columns=names)
    out.attrs["named"] = kind == "metrics" or metric_names is not None  # 'values' lines carry no names
    if has_ts:
        t = np.asarray(times)
        dt = np.diff(t)
        if (dt <= 0).any():
            i = int(np.flatnonzero(dt <= 0)[0]) + 1
            raise InputError(f"timestamp {t[i]:g} {'is duplicated' if dt[i - 1] == 0 else 'goes back in time'} "
                             f"(the line before has {t[i - 1]:g})", source=source, line=lines_at[i],
                             field="timestamp", hint="timestamps must strictly increase")
        out.index = pd.Index(t, name="timestamp")
    return out


# --------------------------------------------------------------------------- one entry point
