"""Replay: tune offline against a cache of measured results (Kernel Tuner's cache JSON).

A Kernel Tuner cache (plain or gzipped JSON) has ``tune_params_keys``, ``tune_params``
and ``cache``, which maps ``"v1,v2,..."`` to a record with ``time`` (or another
objective). A record whose objective is not a number (``"RuntimeFailedConfig"``,
``"CompilationFailedConfig"``, ...) was measured and failed; a configuration absent from
the cache was excluded by the tuner's restrictions. :func:`load_cache` turns the file into
a :class:`ReplayCache` whose space has exactly the cached points, and whose runner answers
from the cache, so any strategy runs as if on the original GPU.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hpcopt.errors import InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.space import Ordinal, SearchSpace

_FAILURE_STATUS = {
    "CompilationFailedConfig": Status.COMPILE_ERROR,
    "RuntimeFailedConfig": Status.RUNTIME_ERROR,
    "InvalidConfig": Status.INVALID,
}


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
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the cache: {exc.strerror}", source=str(path),
                         hint="give the path of a Kernel Tuner cache file (.json or .json.gz)") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"the gzip stream is damaged: {exc}", source=str(path)) from None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        # Kernel Tuner writes the closing braces only at the end of a run: accept an
        # unfinished cache the way Kernel Tuner itself does.
        stripped = text.rstrip().rstrip(",")
        for tail in ("}}", "}\n}", "\n}"):
            try:
                return json.loads(stripped + tail)
            except json.JSONDecodeError:
                continue
        raise InputError(f"not valid JSON: {first.msg}", source=str(path), line=first.lineno,
                         hint="is this a Kernel Tuner cache file?") from None


def load_cache(path: str | Path, *, objective: str | None = None) -> ReplayCache:
    """Read a Kernel Tuner cache file (``.json`` or ``.json.gz``)."""
    path = Path(path)
    data = _read_json(path)
    for key in ("tune_params_keys", "tune_params", "cache"):
        if key not in data:
            raise InputError(f"missing top-level key {key!r}", source=str(path), field=key,
                             hint="a Kernel Tuner cache has tune_params_keys, tune_params and cache")
    keys = list(data["tune_params_keys"])
    objective = objective or data.get("objective") or "time"
    params = []
    for k in keys:
        vals = data["tune_params"].get(k)
        if not vals:
            raise InputError(f"parameter {k!r} has no values in tune_params", source=str(path), field=k)
        params.append(Ordinal(k, tuple(vals)))
    points: list[tuple[Any, ...]] = []
    values: list[float] = []
    statuses: list[Status] = []
    for ckey, rec in data["cache"].items():
        try:
            pt = tuple(rec[k] for k in keys)
        except (KeyError, TypeError):
            raise InputError(f"record {ckey!r} lacks a parameter value", source=str(path), field="cache",
                             hint=f"each record needs {', '.join(keys)}") from None
        v = rec.get(objective) if isinstance(rec, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            values.append(float(v))
            statuses.append(Status.OK)
        else:
            values.append(math.nan)
            statuses.append(_FAILURE_STATUS.get(str(v), Status.RUNTIME_ERROR))
        points.append(pt)
    if not points:
        raise InputError("the cache holds no configurations", source=str(path), field="cache")
    space = SearchSpace(params, points=points)
    name = path.name
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return ReplayCache(name=name, space=space, points=points, values=np.asarray(values), statuses=statuses,
                       objective=objective, device=str(data.get("device_name", "")),
                       kernel=str(data.get("kernel_name", "")), source=str(path))


__all__ = ["ReplayCache", "ReplayRunner", "load_cache"]
