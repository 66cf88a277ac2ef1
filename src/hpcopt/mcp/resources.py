"""What the MCP resources show: runs, models, traces and reports, read from the store.

Plain functions over :class:`hpcopt.store.Store` returning JSON-safe dictionaries (or an
artifact's bytes), so they are testable without MCP; the server maps each URI to one:

* ``hpcopt://runs`` -- the newest runs; ``hpcopt://runs/{run_id}`` -- one run (parameters,
  input hashes, seed, versions, result, artifacts); ``hpcopt://runs/{run_id}/artifacts/{name}``
  -- a file the run wrote, checked against its recorded SHA-256;
* ``hpcopt://models`` -- every registered model version; ``hpcopt://models/{name}`` -- the
  versions of one model; ``hpcopt://models/{name}/{version}`` -- one version with its lineage;
* ``hpcopt://traces`` -- the workload traces known here: the bundled samples and every trace
  a recorded run read (path, SHA-256, the runs that used it); ``hpcopt://traces/{name}`` -- one;
* ``hpcopt://reports`` -- the HTML reports recorded runs wrote; ``hpcopt://reports/{run_id}``
  -- one run's report.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from hpcopt.core.results import json_safe
from hpcopt.errors import InputError

__all__ = ["runs", "run", "artifact", "models", "model", "model_version", "traces", "trace", "reports",
           "report", "RUN_SCAN"]

#: how many of the newest runs the trace and report listings look through
RUN_SCAN = 500

_TRACE_SUFFIXES = (".swf", ".swf.gz", ".swf.bz2", ".swf.xz", ".csv", ".parquet")


def _summary(r) -> dict[str, Any]:
    return {"id": r.id, "uri": f"hpcopt://runs/{r.id}", "task": r.task, "status": r.status,
            "result_schema": r.result_schema, "seed": r.seed, "started_at": r.started_at,
            "duration_s": r.duration_s, "artifacts": [a["name"] for a in r.artifacts]}


def runs(store, *, limit: int = 50) -> dict[str, Any]:
    """The newest ``limit`` runs (summaries; read one run's URI for its result)."""
    return {"schema": "store.runs/1", "runs": [_summary(r) for r in store.list_runs(limit=limit)]}


def run(store, run_id: str) -> dict[str, Any]:
    """One run as the store holds it, with the URIs of its artifacts."""
    d = store.get_run(run_id).to_dict()
    for a in d["artifacts"]:
        a["uri"] = f"hpcopt://runs/{d['id']}/artifacts/{a['name']}"
    return {"schema": "store.run/1", **d}


def artifact(store, run_id: str, name: str) -> tuple[bytes, str]:
    """The bytes of the artifact ``name`` of a run and its MIME type, after checking its SHA-256."""
    from hpcopt.core.provenance import file_sha256

    r = store.get_run(run_id)
    found = [a for a in r.artifacts if a["name"] == name]
    if not found:
        have = ", ".join(a["name"] for a in r.artifacts) or "none"
        raise InputError(f"run {r.id} has no artifact {name!r} (it has: {have})")
    a = found[-1]
    p = Path(a["path"])
    if not p.is_file():
        raise InputError(f"the artifact {name!r} of run {r.id} is gone from {p}")
    if file_sha256(p) != a["sha256"]:
        raise InputError(f"the artifact {name!r} of run {r.id} at {p} changed since the run wrote it "
                         "(its SHA-256 differs from the recorded one)")
    mime = mimetypes.guess_type(p.name)[0] or ("application/json" if p.suffix == ".json" else
                                               "application/octet-stream")
    return p.read_bytes(), mime


def models(store) -> dict[str, Any]:
    return {"schema": "store.models/1", "models": [_model(m) for m in store.models.list()]}


def _model(m) -> dict[str, Any]:
    d = m.to_dict()
    d["uri"] = f"hpcopt://models/{m.name}/{m.version}"
    d["reference"] = f"model:{m.name}:{m.version}"  # what a tool argument takes
    if m.run_id:
        d["run_uri"] = f"hpcopt://runs/{m.run_id}"
    return d


def model(store, name: str) -> dict[str, Any]:
    versions = store.models.list(name)
    if not versions:
        raise InputError(f"no model named {name!r} is registered", hint="see hpcopt://models")
    return {"schema": "store.models/1", "models": [_model(m) for m in versions]}


def model_version(store, name: str, version: str | int) -> dict[str, Any]:
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise InputError(f"a model version is a positive integer; got {version!r}") from None
    return {"schema": "store.model/1", **_model(store.models.get(name, v))}


def _is_trace(path: str) -> bool:
    return path.lower().endswith(_TRACE_SUFFIXES)


def _trace_table(store) -> dict[str, dict[str, Any]]:
    from hpcopt.data.samples import SAMPLES, sample_path

    table: dict[str, dict[str, Any]] = {}
    for name, file in SAMPLES.items():
        if _is_trace(file):
            p = sample_path(name)
            table[name] = {"name": name, "uri": f"hpcopt://traces/{name}", "path": str(p), "bundled": True,
                           "size": p.stat().st_size if p.is_file() else None, "sha256": None, "runs": []}
    for r in store.list_runs(limit=RUN_SCAN):
        prov = (r.result or {}).get("provenance") or {}
        params, hashes = prov.get("parameters") or {}, prov.get("inputs") or {}
        for key, digest in hashes.items():
            base, _, index = key.partition("[")
            value = params.get(base)
            if index and isinstance(value, list):
                value = value[int(index.rstrip("]"))] if index.rstrip("]").isdigit() else None
            if not isinstance(value, str) or not _is_trace(value):
                continue
            entry = next((t for t in table.values() if t["path"] == value), None)
            if entry is None:
                name = Path(value).name
                if name in table:  # two traces of one file name: keep both, told apart by their hash
                    name = f"{name}-{digest[:8]}"
                entry = table[name] = {"name": name, "uri": f"hpcopt://traces/{name}", "path": value,
                                       "bundled": False, "size": None, "sha256": digest, "runs": []}
            entry["sha256"] = entry["sha256"] or digest
            entry["runs"].append(r.id)
    return table


def traces(store) -> dict[str, Any]:
    """Workload traces: the bundled samples and those recorded runs read."""
    return {"schema": "mcp.traces/1", "traces": list(_trace_table(store).values())}


def trace(store, name: str) -> dict[str, Any]:
    table = _trace_table(store)
    if name not in table:
        from hpcopt.core.registry import did_you_mean

        raise InputError(f"no trace named {name!r}{did_you_mean(name, list(table))}", hint="see hpcopt://traces")
    t = dict(table[name])
    p = Path(t["path"])
    t["exists"] = p.is_file()
    if t["exists"]:
        t["size"] = p.stat().st_size
    t["run_uris"] = [f"hpcopt://runs/{rid}" for rid in t["runs"]]
    return json_safe({"schema": "mcp.trace/1", **t})


def _report_artifacts(r) -> list[dict[str, Any]]:
    return [a for a in r.artifacts if a["name"] == "report" or a["path"].lower().endswith((".html", ".htm"))]


def reports(store) -> dict[str, Any]:
    """The HTML reports recorded runs wrote, newest first."""
    rows = []
    for r in store.list_runs(limit=RUN_SCAN):
        for a in _report_artifacts(r):
            rows.append({"run_id": r.id, "task": r.task, "uri": f"hpcopt://reports/{r.id}", "path": a["path"],
                         "size": a["size"], "started_at": r.started_at})
    return {"schema": "mcp.reports/1", "reports": rows}


def report(store, run_id: str) -> str:
    """The HTML text of a run's report."""
    r = store.get_run(run_id)
    found = _report_artifacts(r)
    if not found:
        raise InputError(f"run {r.id} ({r.task}) wrote no report", hint="see hpcopt://reports")
    data, _ = artifact(store, r.id, found[-1]["name"])
    return data.decode("utf-8", errors="replace")
