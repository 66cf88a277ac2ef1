"""Replay: tune offline against a cache of measured results (Kernel Tuner's cache JSON).

A Kernel Tuner cache (plain or gzipped JSON) has ``tune_params_keys``, ``tune_params``
and ``cache``, which maps ``"v1,v2,..."`` to a record with ``time`` (or another
objective). A record whose objective is one of Kernel Tuner's failure strings
(``"InvalidConfig"``, ``"CompilationFailedConfig"``, ``"RuntimeFailedConfig"``: the names
of its ``ErrorConfig`` classes) was measured and failed; a measured time is a positive
finite number (another objective, e.g. GFLOP/s, a finite one). Anything else (NaN,
Infinity, ``1e999``, null, a negative time, another string, a missing objective) is not
something Kernel Tuner writes, so it is refused, naming the record and the field. A
configuration absent from the cache was excluded by the tuner's restrictions. :func:`load_cache` turns the file into
a :class:`ReplayCache` whose space has exactly the cached points, and whose runner answers
from the cache, so any strategy runs as if on the original GPU.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hpcopt.core.files import read_text
from hpcopt.errors import InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.space import Ordinal, SearchSpace

_FAILURE_STATUS = {
    "CompilationFailedConfig": Status.COMPILE_ERROR,
    "RuntimeFailedConfig": Status.RUNTIME_ERROR,
    "InvalidConfig": Status.INVALID,
}


_ALLOWED = "a positive finite number of {unit} or one of " + ", ".join(repr(k) for k in _FAILURE_STATUS)


def _objective_value(v: Any, ckey: str, objective: str, src: str) -> tuple[float, Status]:
    """``(value, status)`` of one record's objective, or the InputError that names it."""
    if isinstance(v, str) and v in _FAILURE_STATUS:
        return math.nan, _FAILURE_STATUS[v]
    value = None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            value = float(v)
        except OverflowError:  # a JSON integer too large for a float64
            value = None
    # Kernel Tuner measures times (ms) > 0; other objectives (GFLOP/s, energy) only need to be finite
    positive = objective == "time"
    if value is not None and math.isfinite(value) and (value > 0 or not positive):
        return value, Status.OK
    shown = "missing" if v is _MISSING else json.dumps(v, default=str)[:40]
    allowed = _ALLOWED.format(unit="milliseconds") if positive else _ALLOWED.replace("positive ", "").format(
        unit=objective)
    raise InputError(f"record {ckey!r}: {objective} is {shown}; allowed: {allowed}", source=src,
                     field=f"cache.{ckey}.{objective}",
                     hint="a failed configuration keeps Kernel Tuner's failure string; remove or re-measure the record")


_MISSING = object()


@dataclass
class ReplayCache:
    """A loaded cache: its space, each point's objective (``nan`` when it failed) and statuses."""

    name: str
    space: SearchSpace
    points: list[tuple[Any, ...]]
    values: np.ndarray            # objective per point, nan for failures
    statuses: list[Status]
    objective: str
    device: str
    kernel: str
    source: str

    def __post_init__(self) -> None:
        self._index = {p: i for i, p in enumerate(self.points)}

    @property
    def n_valid(self) -> int:
        return int(np.isfinite(self.values).sum())

    @property
    def optimum(self) -> float:
        return float(np.nanmin(self.values))

    def lookup(self, config: Mapping[str, Any]) -> Result:
        key = self.space.key(config)
        i = self._index.get(key)
        if i is None:
            return Result.failure(Status.INVALID, f"configuration {key} is not in the cache (restricted)")
        v = self.values[i]
        if math.isfinite(v):
            return Result.success(float(v))
        return Result.failure(self.statuses[i], f"{self.statuses[i].value} in the cache")

    def runner(self) -> "ReplayRunner":
        return ReplayRunner(self)

    def summary(self) -> dict[str, Any]:
        finite = self.values[np.isfinite(self.values)]
        return {
            "name": self.name, "kernel": self.kernel, "device": self.device, "objective": self.objective,
            "parameters": self.space.names, "points": len(self.points), "valid": int(finite.size),
            "failed": int(len(self.points) - finite.size), "cartesian_size": self.space.cartesian_size(),
            "optimum": float(finite.min()) if finite.size else None,
            "median": float(np.median(finite)) if finite.size else None,
        }


class ReplayRunner:
    """A runner that answers from a :class:`ReplayCache` (no hardware, deterministic)."""

    name = "replay"

    def __init__(self, cache: ReplayCache) -> None:
        self.cache = cache

    def __call__(self, config: Mapping[str, Any]) -> Result:
        return self.cache.lookup(config)


def _read_json(path: Path) -> dict[str, Any]:
    src = str(path)
    text = read_text(path)  # bounded gzip, NUL refused, UTF-8 with the stated Latin-1 fallback
    try:
        data = json.loads(text)
    except json.JSONDecodeError as first:
        # Kernel Tuner writes the closing braces only at the end of a run: accept an
        # unfinished cache the way Kernel Tuner itself does.
        stripped = text.rstrip().rstrip(",")
        for tail in ("}}", "}\n}", "\n}"):
            try:
                data = json.loads(stripped + tail)
                break
            except (ValueError, RecursionError):  # JSONDecodeError included
                continue
        else:
            raise InputError(f"not valid JSON at column {first.colno}: {first.msg}", source=src, line=first.lineno,
                             hint="is this a Kernel Tuner cache file?") from None
    except RecursionError:
        raise InputError("JSON nested too deeply", source=src, hint="is this a Kernel Tuner cache file?") from None
    except ValueError as exc:  # not a JSONDecodeError: an integer of more than 4,300 digits
        raise InputError(f"not a valid Kernel Tuner cache: {str(exc)[:120]}", source=src,
                         hint="is this a Kernel Tuner cache file?") from None
    if not isinstance(data, dict):
        raise InputError(f"a Kernel Tuner cache must be a JSON object; got {type(data).__name__}", source=src,
                         hint="a Kernel Tuner cache has tune_params_keys, tune_params and cache")
    return data


def load_cache(path: str | Path, *, objective: str | None = None) -> ReplayCache:
    """Read a Kernel Tuner cache file (``.json`` or ``.json.gz``), every key checked."""
    path = Path(path)
    src = str(path)
    data = _read_json(path)
    for key in ("tune_params_keys", "tune_params", "cache"):
        if key not in data:
            raise InputError(f"missing top-level key {key!r}", source=src, field=key,
                             hint="a Kernel Tuner cache has tune_params_keys, tune_params and cache")
    keys = data["tune_params_keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise InputError(f"tune_params_keys must be a list of parameter names; got {str(keys)[:80]}", source=src,
                         field="tune_params_keys")
    if not isinstance(data["tune_params"], dict):
        raise InputError("tune_params must be an object (parameter name -> list of values)", source=src,
                         field="tune_params")
    if not isinstance(data["cache"], dict):
        raise InputError("cache must be an object (\"v1,v2,...\" -> record)", source=src, field="cache")
    objective = objective or data.get("objective") or "time"
    if not isinstance(objective, str):
        raise InputError(f"objective must be a string; got {objective!r}", source=src, field="objective")
    params = []
    for k in keys:
        vals = data["tune_params"].get(k)
        if not vals:
            raise InputError(f"parameter {k!r} has no values in tune_params", source=src, field=f"tune_params.{k}")
        if not isinstance(vals, list):
            raise InputError(f"tune_params.{k} must be a list of values; got {type(vals).__name__}", source=src,
                             field=f"tune_params.{k}")
        try:
            params.append(Ordinal(k, tuple(vals)))
        except InputError as exc:
            raise InputError(exc.reason, source=src, field=f"tune_params.{k}", hint=exc.hint) from None
    points: list[tuple[Any, ...]] = []
    values: list[float] = []
    statuses: list[Status] = []
    for ckey, rec in data["cache"].items():
        if not isinstance(rec, dict):
            raise InputError(f"record {ckey!r} must be an object; got {type(rec).__name__}", source=src,
                             field=f"cache.{ckey}")
        pt = []
        for p in params:
            if p.name not in rec:
                raise InputError(f"record {ckey!r} lacks parameter {p.name!r}", source=src, field=f"cache.{ckey}",
                                 hint=f"each record needs {', '.join(keys)}")
            v = rec[p.name]
            try:
                pt.append(p.value_at(p.index(v)))
            except (InputError, TypeError):
                raise InputError(f"record {ckey!r}, parameter {p.name!r}: {str(v)[:40]} is not among "
                                 f"tune_params.{p.name}", source=src, field=f"cache.{ckey}.{p.name}") from None
        value, status = _objective_value(rec.get(objective, _MISSING), ckey, objective, src)
        values.append(value)
        statuses.append(status)
        points.append(tuple(pt))
    if not points:
        raise InputError("the cache holds no configurations", source=src, field="cache")
    space = SearchSpace(params, points=points, source=src)
    name = path.name
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return ReplayCache(name=name, space=space, points=points, values=np.asarray(values), statuses=statuses,
                       objective=objective, device=str(data.get("device_name", "")),
                       kernel=str(data.get("kernel_name", "")), source=src)


__all__ = ["ReplayCache", "ReplayRunner", "load_cache"]
