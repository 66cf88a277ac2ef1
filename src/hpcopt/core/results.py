"""``Result``: every task's answer, with a schema id, a version and its provenance.

``Result(schema="schedule.compare", version=1, payload={...}, provenance={...})`` is what
the CLI renders, the REST service returns and the run store records. ``to_dict`` gives a
JSON-safe dictionary (NaN and infinities become null, numpy scalars plain numbers) and
``Result.from_dict`` reads it back; the round trip is exact for JSON-safe payloads.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcopt.errors import InputError

__all__ = ["Result", "json_safe", "Provenance"]


def json_safe(obj: Any) -> Any:
    """NaN/inf to None, numpy scalars and arrays to Python, tuples to lists, keys to str."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and callable(obj.tolist) and getattr(obj, "ndim", 0) >= 1:
        return json_safe(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class Provenance:
    """Inputs (name -> SHA-256), parameters, seed, versions, host and wall-clock times."""

    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    host: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    run_id: str | None = None  # the store's run id when the run was recorded

    @classmethod
    def start(cls, *, parameters: dict[str, Any] | None = None, inputs: dict[str, str | Path] | None = None,
              seed: int | None = None, libraries: tuple[str, ...] = ()) -> "Provenance":
        from hpcopt.core.provenance import hash_inputs, host_record, version_record

        return cls(parameters=dict(parameters or {}), inputs=hash_inputs(inputs or {}), seed=seed,
                   versions=version_record(*libraries), host=host_record(), started_at=time.time())

    def finish(self) -> "Provenance":
        self.finished_at = time.time()
        return self

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


@dataclass
class Result:
    schema: str
    version: int
    payload: dict[str, Any]
    provenance: Provenance = field(default_factory=Provenance)
    #: files the task wrote, name -> path (serialised; the store hashes and keeps them)
    artifacts: dict[str, str] = field(default_factory=dict)
    #: objects for a renderer in the same process (a fitted model, a table); never serialised
    extras: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def schema_id(self) -> str:
        return f"{self.schema}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema_id, "payload": json_safe(self.payload),
                "artifacts": {str(k): str(v) for k, v in self.artifacts.items()},
                "provenance": self.provenance.to_dict()}

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, expect: str | None = None) -> "Result":
        if not isinstance(data, dict) or not isinstance(data.get("schema"), str) or "/" not in data["schema"]:
            raise InputError("not a result: it has no 'schema' of the form name/version")
        name, _, ver = data["schema"].rpartition("/")
        if not ver.isdigit():
            raise InputError(f"result schema {data['schema']!r} has no integer version")
        if expect is not None and name != expect:
            raise InputError(f"expected a {expect!r} result, got {name!r}")
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise InputError("result 'payload' must be an object")
        prov = data.get("provenance") or {}
        if not isinstance(prov, dict):
            raise InputError("result 'provenance' must be an object")
        known = set(Provenance.__dataclass_fields__)
        artifacts = data.get("artifacts") or {}
        if not isinstance(artifacts, dict):
            raise InputError("result 'artifacts' must be an object")
        return cls(name, int(ver), payload, Provenance(**{k: v for k, v in prov.items() if k in known}),
                   artifacts={str(k): str(v) for k, v in artifacts.items()})
