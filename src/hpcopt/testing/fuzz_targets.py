"""hpcopt's input formats and the readers and commands fuzzed on them (see :mod:`hpcopt.testing.fuzz`).

:func:`build_corpus` lays out a work folder from the real samples (``tests/data`` and the
package's bundled files): one folder per format with the files a mutant replaces, and the
companions a command needs besides (a fitted detector, a trained runtime model, the test
matrix...). :func:`fuzz` then runs, in worker processes, every target once on the clean
input (its *baseline*: it must succeed, and its counted repairs and its output are what a
mutant is compared with) and on mutants, and returns one record per run.

A target is a library reader called in-process or a ``python -m hpcopt`` command run
in-process through :func:`hpcopt.cli.main` (``SystemExit`` captured, stdout and stderr
redirected). A success on a mutant is a *silent acceptance* when the mutant carries a
forbidden value and the run counted no more repairs than the baseline, when a model file
that was damaged loads and changes the output, or when loading a file ran code in it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from hpcopt.testing import fuzz as fz
from hpcopt.testing.fuzz import Field, Format, Mutant

__all__ = ["TARGETS", "build_corpus", "load_formats", "fuzz", "reproduce", "plan"]

# --------------------------------------------------------------------------- field tables

_STATES = (b"COMPLETED", b"FAILED", b"TIMEOUT", b"CANCELLED", b"NODE_FAIL", b"OUT_OF_MEMORY", b"PENDING", b"RUNNING",
           b"PREEMPTED", b"BOOT_FAIL", b"DEADLINE", b"REQUEUED", b"SUSPENDED", b"RESIZING", b"REVOKED")
_FINISHED = (b"COMPLETED", b"FAILED", b"TIMEOUT", b"NODE_FAIL", b"OUT_OF_MEMORY")


def _slurm_state(raw: bytes) -> bool:
    return raw.split(b" ")[0].upper() in _STATES


def _slurm_time(raw: bytes) -> bool:
    return re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", raw) is not None


def _csv_time(raw: bytes) -> bool:
    return re.fullmatch(rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", raw) is not None


def _slurm_id(raw: bytes) -> bool:
    m = re.fullmatch(rb"(\d+)([_+]\d+)?", raw)
    return m is not None and int(m.group(1)) < 2**32


def _slurm_mem(raw: bytes) -> bool:
    m = re.fullmatch(rb"(\d+(?:\.\d+)?)([KMGTP]?)([nc]?)", raw)
    if not m:
        return False
    scale = {b"": 2**20, b"K": 2**10, b"M": 2**20, b"G": 2**30, b"T": 2**40, b"P": 2**50}[m.group(2)]
    return float(m.group(1)) * scale < fz.INT64


def _timelimit(raw: bytes) -> bool:
    return raw.upper() in (b"UNLIMITED", b"PARTITION_LIMIT") or fz.integer(low=0)(raw)


def _labels_value(raw: bytes) -> bool:
    return raw in (b"", b"label")


def _label_text(raw: bytes) -> bool:
    # any text without NUL: non-UTF-8 bytes are read with the project's stated Latin-1
    # fallback (hpcopt.core.files.decode_text), as in every text format; an unescaped quote,
    # backslash or line break would end the label value and break the line
    return fz.text_cell(raw) and b'"' not in raw and b"\\" not in raw and b"\n" not in raw


def _json_int(low: int) -> Callable[[bytes], bool]:
    def allowed(raw: bytes) -> bool:
        return re.fullmatch(rb"-?\d+", raw) is not None and low <= int(raw) < fz.INT64

    allowed.__name__ = f"JSON integer >= {low}"
    return allowed


def _kt_time(raw: bytes) -> bool:
    # a measured time is a positive finite number (ms); a failed configuration one of the
    # names of Kernel Tuner's ErrorConfig classes (kernel_tuner/util.py), nothing else
    if raw in (b'"InvalidConfig"', b'"CompilationFailedConfig"', b'"RuntimeFailedConfig"'):
        return True
    return fz.json_finite(low=0)(raw) and float(raw) > 0


# the telemetry rule (hpcopt.data.telemetry): a value is finite with magnitude below 2**64;
# a timestamp is also >= 0 (seconds since the epoch)
_TELEMETRY_LIMIT = 2.0**64


def _telemetry_value(raw: bytes) -> bool:
    v = fz._number(raw)
    return v is not None and abs(v) < _TELEMETRY_LIMIT


def _telemetry_time(raw: bytes) -> bool:
    v = fz._number(raw)
    return v is not None and 0 <= v < _TELEMETRY_LIMIT


def _json_ts(raw: bytes) -> bool:
    # a number of seconds (the telemetry rule), null (no timestamp) or a string (e.g. ISO 8601: passed through)
    return (raw == b"null" or (fz.json_finite(low=0)(raw) and float(raw) < _TELEMETRY_LIMIT)
            or re.fullmatch(rb'"[^"\\]*"', raw) is not None)


_U = dict(unknown=-1)
# The reader's rule for every SWF field (hpcopt.data.workload.FIELD_RULES): a finite number,
# -1 (unknown) or >= 0, an integer where SWF counts. The standard says more (numbers from 1,
# status 0-5), but real logs break it (wagap-2013 numbers its first job 0), so the reader
# and this oracle hold to the rule above.
_SWF_DOMAINS = (
    ("job number", fz.integer(low=0)),  # a counter from 1 in the standard, but wagap-2013 numbers its first job 0
    ("submit time", fz.real(low=0, **_U)),
    ("wait time", fz.real(low=0, **_U)),
    ("run time", fz.real(low=0, **_U)),
    ("allocated processors", fz.integer(low=0, **_U)),
    ("average CPU time", fz.real(low=0, **_U)),
    ("used memory", fz.real(low=0, **_U)),
    ("requested processors", fz.integer(low=0, **_U)),
    ("requested time", fz.real(low=0, **_U)),
    ("requested memory", fz.real(low=0, **_U)),
    ("status", fz.integer(low=0, **_U)),
    ("user id", fz.integer(low=0, **_U)),
    ("group id", fz.integer(low=0, **_U)),
    ("executable number", fz.integer(low=0, **_U)),
    ("queue number", fz.integer(low=0, **_U)),
    ("partition number", fz.integer(low=0, **_U)),
    ("preceding job number", fz.integer(low=0, **_U)),
    ("think time", fz.real(low=0, **_U)),
)
SWF_FIELDS = tuple(Field(f"field {i + 1} ({name})", dom, column=i) for i, (name, dom) in enumerate(_SWF_DOMAINS))
ALEA_FIELDS = SWF_FIELDS + tuple(Field(f"field {19 + i} ({name})", fz.text_cell, column=18 + i)
                                 for i, name in enumerate(("allocated nodes", "queue name", "resource request")))

_SACCT_COLUMNS = {
    "JobID": _slurm_id, "JobIDRaw": _slurm_id, "User": fz.text_cell, "Group": fz.text_cell,
    "Account": fz.text_cell, "Partition": fz.text_cell, "QOS": fz.text_cell, "Submit": _slurm_time,
    "Start": _slurm_time, "End": _slurm_time, "ElapsedRaw": fz.integer(low=0), "AllocCPUS": fz.integer(low=1),
    "ReqCPUS": fz.integer(low=1), "TimelimitRaw": fz.optional(_timelimit), "ReqMem": fz.optional(_slurm_mem),
    "NNodes": fz.integer(low=1), "State": _slurm_state,
}
_NREL_COLUMNS = {
    "job_id": fz.integer(low=0), "user": fz.text_cell, "account": fz.text_cell, "partition": fz.text_cell,
    "qos": fz.text_cell, "wallclock_req": fz.optional(fz.real(low=0)), "nodes_req": fz.integer(low=1),
    "processors_req": fz.integer(low=1), "mem_req": fz.optional(fz.real(low=0)), "submit_time": _csv_time,
    "start_time": _csv_time, "end_time": _csv_time, "run_time": fz.real(low=0), "state": _slurm_state,
    "name": fz.text_cell,
}


def _columns(header: bytes, sep: bytes, domains: dict) -> list[Field]:
    names = header.lstrip(b"#").rstrip(b"\r").decode().split(sep.decode())
    return [Field(f"column {n}", domains[n], column=i) for i, n in enumerate(names) if n in domains]


def _finished_job(sep: bytes, state_col: int, id_col: int = 0) -> Callable[[bytes], bool]:
    """Records whose fields all have a meaning: finished jobs, not steps, not the header."""

    def pred(line: bytes) -> bool:
        cells = line.rstrip(b"\r").split(sep)
        if len(cells) <= state_col or b"." in cells[id_col]:
            return False
        return cells[state_col].split(b" ")[0] in _FINISHED

    return pred


def _prom_value(raw: bytes) -> bool:
    # any float64, NaN and +-Inf spelled out; a literal too large for a float64 (1e400, 400
    # digits) is an error, as in Prometheus' own parser (Go's ParseFloat range error)
    if not fz.prometheus_value(raw):
        return False
    t = raw.decode().strip()
    return math.isfinite(float(t)) or re.fullmatch(r"[+-]?(inf(inity)?|nan)", t, re.IGNORECASE) is not None


_prom_value.__name__ = "float64 sample value"
# the reader's stated range of timestamps: the Unix epoch to the year 3000, in milliseconds
_PROM_TS_MS = fz.integer(low=0, high=32503680000 * 1000 + 1)

_PROM_HEAD = rb"^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}\n]*\})?[ \t]+"
PROM_FIELDS = (
    # an emptied value lets the timestamp stand as the value: still a valid sample line, so
    # not a forbidden value (no parser can tell); without a timestamp the line is invalid
    Field("sample value", fz.optional(_prom_value), pattern=_PROM_HEAD + rb"(\S+)"),
    Field("sample timestamp (ms)", fz.optional(_PROM_TS_MS), pattern=_PROM_HEAD + rb"\S+[ \t]+(\S+)[ \t]*$"),
    Field("label value", _label_text, pattern=rb'instance="([^"\n]*)"'),
)
JSONL_FIELDS = (
    # the telemetry rule (hpcopt.data.telemetry): finite, magnitude below 2**64
    Field("values item", fz.json_finite(magnitude=2.0**64), pattern=rb'(?:\[|, )([^,\]\n]+)(?=[,\]])', json=True),
    Field("timestamp", _json_ts, pattern=rb'"timestamp": ([^,}\n]+)', json=True),
)
def _constraint_number(raw: bytes) -> bool:
    # A constraint replaced by a number is still a valid expression (a constant: -5 keeps
    # every point, 0 keeps none and the reader says the space is empty), so it is not a
    # forbidden value; an integer literal beyond 2**62 is (constraints bound integer sizes).
    m = re.fullmatch(rb"-?(\d+)(\.\d*)?([eE][+-]?\d+)?", raw)
    if m is None:
        return False
    return m.group(2) is not None or m.group(3) is not None or int(m.group(1)) <= 2**62


TOML_FIELDS = (
    Field("study.budget", fz.integer(low=1), pattern=rb"^budget\s*=\s*(\S+)"),
    Field("study.random_state", fz.integer(low=0), pattern=rb"^random_state\s*=\s*(\S+)"),
    Field("runner.repeats", fz.integer(low=1), pattern=rb"^repeats\s*=\s*(\S+)"),
    Field("runner.warmup", fz.integer(low=0), pattern=rb"^warmup\s*=\s*(\S+)"),
    Field("runner.timeout", fz.real(low=1e-3), pattern=rb"^timeout\s*=\s*(\S+)"),
    Field("parameter low", fz.integer(low=1, high=2**40), pattern=rb"\blow\s*=\s*([^,}\s]+)"),
    Field("parameter high", fz.integer(low=1, high=2**40), pattern=rb"\bhigh\s*=\s*([^,}\s]+)"),
    Field("constraint", _constraint_number, pattern=rb'^\s*"([^"\n]*)",?\s*$'),
)
KT_FIELDS = (
    Field("record time", _kt_time, pattern=rb'"time": ([^,}\n]+)', json=True),
)
GBM_META_FIELDS = (
    Field("conformal_q", fz.json_finite(low=0), pattern=rb'"conformal_q": ([^,}\n]+)', json=True),
    Field("n_train", _json_int(1), pattern=rb'"n_train": ([^,}\n]+)', json=True),
    Field("n_calibration", _json_int(1), pattern=rb'"n_calibration": ([^,}\n]+)', json=True),
)

# Pathological constraints: each must be refused or evaluated within bounds.
_BAD_CONSTRAINTS = (
    "9**9**9**9 > 0",
    "TILE_I ** 10**8 > 0" ,
    "(TILE_I << 10**9) > 0",
    "__import__('os').makedirs('hpcopt-fuzz-code-ran') or True",
    "[x for x in range(10**12)] == []",
    "().__class__.__mro__[1].__subclasses__() != []",
    "'a' * 10**10 != ''",
)


def bad_constraint(rng, data: bytes, fmt):
    hits = list(re.finditer(rb'^(\s*")([^"\n]*)(",?\s*)$', data, flags=re.MULTILINE))
    expr = rng.choice(_BAD_CONSTRAINTS).replace("TILE_I", _first_param(data))
    if not hits:
        return None
    m = rng.choice(hits)
    out = data[:m.start(2)] + expr.encode() + data[m.end(2):]
    return out, f"constraint -> {expr}", True


def _first_param(data: bytes) -> str:
    m = re.search(rb"^\[parameters\]\s*\n\s*([A-Za-z_]\w*)", data, flags=re.MULTILINE)
    return m.group(1).decode() if m else "x"


def huge_range(rng, data: bytes, fmt):
    m = re.search(rb"^\[parameters\]\s*\n", data, flags=re.MULTILINE)
    if not m:
        return None
    # (spec, forbidden): the tune capability sizes and samples an integer range lazily (no
    # list of values is built), so a range of 10**12 values is a valid spec, not a forbidden
    # value; a pow2 bound past 2**62 and an infinite real bound stay forbidden.
    spec, forbidden = rng.choice(((b'BIG = { type = "int", low = 0, high = 1000000000000 }', False),
                                  (b'BIG = { type = "pow2", low = 1, high = 1180591620717411303424 }', True),
                                  (b'BIG = { type = "real", low = 0.0, high = inf }', True)))
    return data[:m.end()] + spec + b"\n" + data[m.end():], spec.decode(), forbidden


_CODE_MARKER = "hpcopt-fuzz-code-ran"


class _Payload:
    def __reduce__(self):
        return (os.makedirs, (_CODE_MARKER,))


def pickle_exec(rng, data: bytes, fmt):
    """A pickle that creates a folder when loaded: loading it must not run it."""
    import pickle

    obj = rng.choice(({"format": "hpcopt-detector", "version": 1, "detector": _Payload()}, _Payload()))
    return pickle.dumps(obj, protocol=rng.choice((2, 4, 5))), "pickle whose load runs os.makedirs", True


def path_escape(rng, data: bytes, fmt):
    """metadata.json naming a file outside the model folder (a copy is placed there)."""
    hits = list(re.finditer(rb'"((?:point_\d+|lower|upper)\.txt)"', data))
    if not hits:
        return None
    m = rng.choice(hits)
    return data[:m.start(1)] + b"../" + m.group(1) + data[m.end(1):], f"files entry -> ../{m.group(1).decode()}", True


# --------------------------------------------------------------------------- corpus


def _gunzip(p: Path) -> bytes:
    raw = p.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _head_swf(text: bytes, jobs: int) -> bytes:
    out, n = [], 0
    for ln in text.split(b"\n"):
        if ln.strip().startswith(b";") or not ln.strip():
            out.append(ln)
            continue
        if n >= jobs:
            break
        out.append(ln)
        n += 1
    return b"\n".join(out).rstrip(b"\n") + b"\n"


def build_corpus(data_dir: str | Path, work: str | Path) -> Path:
    """Lay out the fuzz corpus in ``work`` from the samples in ``data_dir`` (the repo's
    ``tests/data``) and the package's bundled trace; fit the detectors and train the model the
    model targets load. Returns ``work``."""
    import numpy as np

    data = Path(data_dir)
    fzd = data / "fuzz"
    work = Path(work)
    base = work / "base"
    comp = work / "companions"
    for d in (base, comp, work / "tmp"):
        d.mkdir(parents=True, exist_ok=True)

    def put(fmt: str, rel: str, raw: bytes) -> Path:
        p = base / fmt / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(raw)
        return p

    from hpcopt.data import sample_path

    lublin = _head_swf(_gunzip(data / "lublin_256.swf.gz"), 300)
    put("swf", "lublin.swf", lublin)
    put("swf_alea", "hpc2n.swf", _head_swf(_gunzip(sample_path("hpc2n")), 300))
    (comp / "lublin.swf").write_bytes(lublin)
    put("sacct", "sacct.txt", (fzd / "sacct_sample.txt").read_bytes())
    put("csv_jobs", "jobs.csv", (fzd / "nrel_eagle_100.csv").read_bytes())
    put("matrix", "train.txt", (fzd / "smd_m16_train.txt").read_bytes())
    put("labels", "labels.txt", (fzd / "smd_m16_labels.txt").read_bytes())
    put("interpretation", "interpretation.txt", (fzd / "smd_m16_interpretation.txt").read_bytes())
    for name in ("smd_m16_train.txt", "smd_m16_test.txt", "smd_m16_labels.txt", "smd_m16_interpretation.txt"):
        shutil.copy(fzd / name, comp / name)
    put("ldms", "meminfo.csv", (fzd / "hpas_meminfo_60.csv").read_bytes())
    put("hpas", "run/meminfo.csv.gz", gzip.compress((fzd / "hpas_meminfo_60.csv").read_bytes(), mtime=0))
    put("table", "e2ewatch.csv", (fzd / "ldms_e2ewatch.csv").read_bytes())
    import pandas as pd

    (base / "parquet").mkdir(exist_ok=True)
    pd.read_csv(fzd / "ldms_e2ewatch.csv").to_parquet(base / "parquet" / "e2ewatch.parquet", index=False)
    put("nab", "nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv", (fzd / "nab_ec2_cpu_400.csv").read_bytes())
    (base / "nab" / "nab" / "labels.csv.gz").write_bytes(gzip.compress((fzd / "nab_labels.csv").read_bytes(), mtime=0))
    for k in (1, 2, 3):
        put("prometheus", f"scrape_{k}.prom", (fzd / f"prom_scrape_{k}.prom").read_bytes())
    shutil.copy(fzd / "prom_scrape_1.prom", comp / "scrape_1.prom")
    put("jsonl", "stream.jsonl", (fzd / "jsonl_meminfo_60.jsonl").read_bytes())
    from hpcopt.tune.spec import example_path

    for name in ("matmul", "stencil"):
        put("toml", f"{name}.toml", example_path(name).read_bytes())
    put("ktcache", "kt_pnpoly.json", (fzd / "kt_pnpoly_30.json").read_bytes())

    # detectors: PCA on the SMD cut (detect score), MAD on the 4 meminfo metrics (streams)
    from hpcopt.data.telemetry import read_ldms_csv, read_matrix
    from hpcopt.detect import make_detector

    train = read_matrix(comp / "smd_m16_train.txt")
    det_path = _save_detector(make_detector("pca", random_state=0).fit(train), base / "detector" / "detector.pkl")
    mem = read_ldms_csv(fzd / "hpas_meminfo_60.csv")
    X = mem[["MemFree", "MemAvailable", "Cached", "Active"]].to_numpy(dtype=np.float64) * 1024.0
    _save_detector(make_detector("mad", random_state=0).fit(X), comp / "det_mem.pkl")
    (comp / "metrics.txt").write_text("".join(f"node_memory_{c}_bytes\n" for c in ("MemFree", "MemAvailable", "Cached", "Active")))
    # a runtime model on the Lublin cut (few rounds: loading it is what is fuzzed)
    from hpcopt.data import load_workload
    from hpcopt.estimate.gbm import GBMEstimator

    model = GBMEstimator(random_state=0, n_estimators=8).fit(load_workload(comp / "lublin.swf"))
    model.save(base / "gbm_model" / "model")
    # compile the simulator once (numba caches it on disk) so that workers do not
    from hpcopt.cli import main as cli_main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        with contextlib.suppress(SystemExit):
            cli_main(["simulate", "--trace", str(comp / "lublin.swf"), "--json"])
    (work / "manifest.json").write_text(json.dumps({"detector": str(det_path.relative_to(base / "detector")),
                                                    "det_mem": _only_path(comp, "det_mem")}))
    return work


def _save_detector(det, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    got = det.save(path)
    return Path(got) if isinstance(got, (str, Path)) else path


def _only_path(comp: Path, stem: str) -> str:
    hits = sorted(p for p in comp.iterdir() if p.name.startswith(stem))
    return str(hits[0])


# --------------------------------------------------------------------------- formats


@dataclass
class Source:
    """Where a format's files live in the corpus and how a mutant becomes an input path."""

    fmt: Format
    root: Path                 # base/<format>
    members: list[str]         # the files a mutant may replace (relative to root)
    parts: bool = False        # True: the input is the whole root folder (a model); members are its parts
    must_gz: bool = False      # the file name ends .gz: a plain mutant is written gzipped
    input_rel: str | None = None  # the path handed to the target, relative to the copy of root


def load_formats(work: str | Path) -> dict[str, Source]:
    """The formats of a corpus built by :func:`build_corpus`, samples read from disk."""
    work = Path(work)
    base = work / "base"
    manifest = json.loads((work / "manifest.json").read_text())

    def src(name: str, members: list[str], **kw) -> Source:
        fmt_kw = kw.pop("fmt_kw", {})
        samples = [(base / name / m).read_bytes() for m in members]
        if kw.get("must_gz"):
            samples = [gzip.decompress(s) if s[:2] == b"\x1f\x8b" else s for s in samples]
        return Source(Format(name, samples, **fmt_kw), base / name, members, **kw)

    sacct = (base / "sacct" / "sacct.txt").read_bytes()
    nrel = (base / "csv_jobs" / "jobs.csv").read_bytes()
    ldms = (base / "ldms" / "meminfo.csv").read_bytes()
    table = (base / "table" / "e2ewatch.csv").read_bytes()
    swf_record = lambda ln: not ln.strip().startswith(b";")  # noqa: E731
    ldms_cols = ldms.split(b"\n", 1)[0].lstrip(b"#").split(b",")
    # LDMS meminfo/vmstat/procstat metrics are u64, but the readers apply the one telemetry rule
    # (negative gauges exist elsewhere): finite, magnitude below 2**64
    u64 = _telemetry_value
    ldms_fields = [Field("column Time", _telemetry_time, column=0)] + [
        Field(f"column {c.decode()}", u64, column=i) for i, c in enumerate(ldms_cols) if i >= 6 and c]
    table_cols = table.split(b"\n", 1)[0].split(b",")
    table_fields = [Field("column timestamp", _telemetry_time, column=2)] + [
        Field(f"column {c.decode()[:30]}", u64, column=i) for i, c in enumerate(table_cols) if i >= 3 and c]
    det_member = manifest["detector"]
    det_is_dir = (base / "detector" / det_member).is_dir()
    det_members = (sorted(str(p.relative_to(base / "detector")) for p in (base / "detector" / det_member).rglob("*")
                          if p.is_file()) if det_is_dir else [det_member])
    gbm_members = sorted(str(p.relative_to(base / "gbm_model")) for p in (base / "gbm_model" / "model").rglob("*")
                         if p.is_file())
    out = {
        "swf": src("swf", ["lublin.swf"], fmt_kw=dict(fields=SWF_FIELDS, delimiter=None, is_record=swf_record)),
        "swf_alea": src("swf_alea", ["hpc2n.swf"], fmt_kw=dict(fields=ALEA_FIELDS, delimiter=None,
                                                                 is_record=swf_record)),
        "sacct": src("sacct", ["sacct.txt"], fmt_kw=dict(
            fields=_columns(sacct.split(b"\n", 1)[0], b"|", _SACCT_COLUMNS), delimiter=b"|",
            is_record=_finished_job(b"|", 16))),
        "csv_jobs": src("csv_jobs", ["jobs.csv"], fmt_kw=dict(
            fields=_columns(nrel.split(b"\n", 1)[0], b",", _NREL_COLUMNS), delimiter=b",",
            is_record=_finished_job(b",", 14))),
        "matrix": src("matrix", ["train.txt"], fmt_kw=dict(
            fields=[Field(f"column {i + 1}", _telemetry_value, column=i) for i in range(38)])),
        "labels": src("labels", ["labels.txt"], fmt_kw=dict(fields=[Field("label", _labels_value, column=0)])),
        "interpretation": src("interpretation", ["interpretation.txt"], fmt_kw=dict(fields=[
            Field("segment start", fz.nothing, pattern=rb"^(\d+)-"),
            Field("segment end", fz.nothing, pattern=rb"-(\d+):"),
            Field("metric number", fz.nothing, pattern=rb"[:,](\d+)(?=,|$)"),
        ])),
        "ldms": src("ldms", ["meminfo.csv"], fmt_kw=dict(fields=ldms_fields,
                                                         is_record=lambda ln: not ln.startswith(b"#"))),
        "hpas": src("hpas", ["run/meminfo.csv.gz"], must_gz=True, input_rel="run", fmt_kw=dict(
            fields=ldms_fields, is_record=lambda ln: not ln.startswith(b"#"))),
        "table": src("table", ["e2ewatch.csv"], fmt_kw=dict(fields=table_fields,
                                                            is_record=lambda ln: not ln.startswith(b"job_id"))),
        "parquet": src("parquet", ["e2ewatch.parquet"], fmt_kw=dict(binary=True, gzip_ok=False)),
        "nab": src("nab", ["nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"], input_rel="nab", fmt_kw=dict(
            fields=[Field("column timestamp", _csv_time, column=0), Field("column value", _telemetry_value, column=1)],
            is_record=lambda ln: not ln.startswith(b"timestamp"))),
        "prometheus": src("prometheus", ["scrape_1.prom", "scrape_2.prom", "scrape_3.prom"], fmt_kw=dict(
            fields=PROM_FIELDS, gzip_ok=False, is_record=lambda ln: not ln.startswith(b"#"))),
        "jsonl": src("jsonl", ["stream.jsonl"], fmt_kw=dict(fields=JSONL_FIELDS, gzip_ok=False)),
        "toml": src("toml", ["matmul.toml", "stencil.toml"], fmt_kw=dict(
            fields=TOML_FIELDS, gzip_ok=False, is_record=lambda ln: not ln.strip().startswith(b"#"),
            extra_mutators=(("bad_constraint", 8, bad_constraint), ("huge_range", 4, huge_range)))),
        "ktcache": src("ktcache", ["kt_pnpoly.json"], fmt_kw=dict(fields=KT_FIELDS)),
        "detector": src("detector", det_members, parts=det_is_dir, input_rel=det_member, fmt_kw=dict(
            binary=True, gzip_ok=False, extra_mutators=(("pickle_exec", 2, pickle_exec),))),
        "gbm_model": src("gbm_model", gbm_members, parts=True, input_rel="model", fmt_kw=dict(
            fields=GBM_META_FIELDS, gzip_ok=False, is_record=lambda ln: True,
            extra_mutators=(("path_escape", 3, path_escape),))),
    }
    return out


def _mutant_for(source: Source, seed: int, index: int) -> Mutant:
    """Mutant ``index`` (>= 0), or for ``index < 0`` the clean sample ``-1 - index``."""
    fmt = source.fmt
    if index < 0:
        k = -1 - index
        return Mutant(fmt.name, seed, index, "none", fmt.samples[k], "clean sample", False, False, k)
    if source.parts:
        # one part of a folder input: mutate that member only
        import random

        k = random.Random(f"{seed}/{fmt.name}/{index}/part").randrange(len(fmt.samples))
        one = Format(fmt.name, [fmt.samples[k]], fmt.fields if source.members[k].endswith(".json") else (),
                     fmt.delimiter, fmt.is_record, fmt.binary or not _is_text(fmt.samples[k]), fmt.gzip_ok,
                     fmt.extra_mutators)
        m = fz.make_mutant(one, seed, index)
        m.sample = k
        return m
    return fz.make_mutant(fmt, seed, index)


def _is_text(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in raw


def materialize(source: Source, mutant: Mutant, tmp: Path) -> Path:
    """Write the mutant where the target reads it; return the path handed to the target."""
    member = source.members[mutant.sample]
    if source.parts or source.input_rel:
        shutil.copytree(source.root, tmp, dirs_exist_ok=True)
    if mutant.index < 0 and (source.parts or source.input_rel):
        return tmp / (source.input_rel or member)
    target = tmp / member
    target.parent.mkdir(parents=True, exist_ok=True)
    data = mutant.data
    if source.must_gz:
        if not mutant.gzipped:
            data = gzip.compress(data, mtime=0)
    elif mutant.gzipped:
        if target.exists():
            target.unlink()
        target = target.with_name(target.name + ".gz")
    target.write_bytes(data)
    if mutant.mutator == "path_escape":
        # the escaped name exists outside the folder, so that only a path check can stop it
        model = tmp / (source.input_rel or "")
        for f in model.iterdir():
            if f.suffix == ".txt":
                shutil.copy(f, model.parent / f.name)
    if source.parts or source.input_rel:
        return tmp / (source.input_rel or member)
    return target


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A reader (``lib``) or a command (``argv``) fuzzed on one format; ``weight`` is its share of
    the mutants, ``model`` turns on the changed-output oracle."""

    name: str
    format: str
    lib: Callable[[Path, Path], tuple[Any, Any]] | None = None
    argv: tuple[str, ...] | None = None
    alts: tuple[tuple[str, ...], ...] = ()  # other spellings of the command; the clean run picks one
    stdin: bool = False
    weight: float = 1.0
    model: bool = False


def _workload_repairs(w) -> Any:
    from hpcopt.schedule.jobs import prepare_jobs

    c = prepare_jobs(w).cleaning.to_dict()
    return {"read_notes": list(getattr(w, "read_notes", [])), "dropped": c["dropped"], "repaired": c["repaired"]}


def _lib_read_swf(p, comp):
    from hpcopt.data import read_swf

    return None, _workload_repairs(read_swf(p))


def _lib_load_workload(p, comp):
    from hpcopt.data import load_workload

    return None, _workload_repairs(load_workload(p))


def _lib_read_sacct(p, comp):
    from hpcopt.data import read_sacct

    return None, _workload_repairs(read_sacct(p))


def _lib_read_job_table(p, comp):
    from hpcopt.data import read_job_table

    return None, _workload_repairs(read_job_table(p))


def _lib_read_matrix(p, comp):
    from hpcopt.data.telemetry import RepairLog, read_matrix

    log = RepairLog()
    read_matrix(p, repairs=log)
    return None, log.as_dict()


def _lib_read_matrix_ffill(p, comp):
    from hpcopt.data.telemetry import RepairLog, read_matrix

    log = RepairLog()
    read_matrix(p, missing="ffill", repairs=log)
    return None, log.as_dict()


def _lib_read_labels(p, comp):
    from hpcopt.data.telemetry import read_labels

    read_labels(p, n_rows=120)
    return None, None


def _lib_read_interpretation(p, comp):
    from hpcopt.data.telemetry import read_interpretation

    read_interpretation(p, n_rows=120, n_metrics=38)
    return None, None


def _lib_read_ldms(p, comp):
    from hpcopt.data.telemetry import read_ldms_csv

    read_ldms_csv(p)
    return None, None


def _lib_read_ldms_repairs(p, comp):
    from hpcopt.data.telemetry import RepairLog, read_ldms_csv

    log = RepairLog()
    read_ldms_csv(p, repairs=log)
    return None, log.as_dict()


def _lib_hpas(p, comp):
    from hpcopt.data.telemetry import RepairLog
    from hpcopt.detect.hpas import hpas_run_features

    log = RepairLog()
    hpas_run_features(p, files=("meminfo",), repairs=log)
    return None, log.as_dict()


def _lib_read_table_ts(p, comp):
    from hpcopt.data.telemetry import read_table

    read_table(p, timestamp="timestamp", text_columns=("node_id",))
    return None, None


_NAB_FILE = "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"


def _lib_nab_series(p, comp):
    from hpcopt.detect.nab import load_nab_series

    s = load_nab_series(p, _NAB_FILE)
    return None, s.repairs.as_dict()


def _lib_nab_windows(p, comp):
    from hpcopt.detect.nab import nab_windows

    nab_windows(p, _NAB_FILE)
    return None, None


def _lib_prometheus(p, comp):
    from hpcopt.core.files import read_text
    from hpcopt.data.telemetry import parse_prometheus_text

    parse_prometheus_text(read_text(p), source=str(p))
    return None, None


def _problems(samples) -> tuple[None, dict]:
    # the stream's readers never raise: a bad line is a sample with its problem, which
    # the stream reports and counts; those counts are the repairs the oracle compares
    # (a NaN or infinite value carries no problem here: the monitor reports it as not_finite)
    import numpy as np

    counts: dict[str, int] = {}
    for smp in samples:
        if smp.problem is not None or smp.values is None or not np.isfinite(smp.values).all():
            kind = smp.kind or ("bad" if smp.values is None or smp.problem is not None else "not_finite")
            counts[kind] = counts.get(kind, 0) + 1
    return None, counts


def _lib_prometheus_samples(p, comp):
    from hpcopt.detect.stream import prometheus_samples

    # the stream's reader never raises: a scrape it cannot read, or a metric it lacks, is a
    # sample with a problem, and those are its counted repairs
    names = (comp / "metrics.txt").read_text().split()
    return _problems(prometheus_samples([p], names, per_entity=True))


def _stdin_like(p: Path) -> io.TextIOWrapper:
    # what sys.stdin is under a UTF-8 locale: strict decoding of the bytes
    return io.TextIOWrapper(open(p, "rb"), encoding="utf-8", errors="strict")


def _lib_jsonl(p, comp):
    from hpcopt.detect.stream import jsonl_samples

    with open(p, "rb") as fh:
        return _problems(jsonl_samples(fh, source=str(p)))


def _lib_load_spec(p, comp):
    from hpcopt.tune.spec import load_spec

    load_spec(p)
    return None, None


def _lib_load_cache(p, comp):
    from hpcopt.tune.replay import load_cache

    load_cache(p)
    return None, None


def _digest(values) -> str:
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    return hashlib.sha256(np.round(a, 9).tobytes()).hexdigest()[:16]


def _lib_load_detector(p, comp):
    from hpcopt.data.telemetry import read_matrix
    from hpcopt.detect import load_detector

    det = load_detector(p)
    X = read_matrix(comp / "smd_m16_test.txt")
    return _digest(det.decision_function(X)), None


def _lib_load_model(p, comp):
    from hpcopt.data import load_workload
    from hpcopt.estimate.gbm import GBMEstimator

    m = GBMEstimator.load(p)
    est, pis = m.predict_interval(load_workload(comp / "lublin.swf"))
    return _digest([*est, *pis.ravel()]), None


C = "{comp}/"
_SWF_CLI = (
    ("trace_info", ("trace", "info", "{P}", "--json"), 1.0),
    ("simulate", ("simulate", "--trace", "{P}", "--json"), 1.0),
    ("compare", ("compare", "--trace", "{P}", "--policies", "fcfs,sjf+easy", "--json"), 0.5),
    ("estimate_evaluate", ("estimate", "evaluate", "--trace", "{P}", "--model", "requested", "--no-baselines",
                           "--json"), 0.5),
)


def _targets() -> dict[str, Target]:
    t: list[Target] = []
    for fmt in ("swf", "swf_alea"):
        t += [Target(f"{fmt}:read_swf", fmt, lib=_lib_read_swf, weight=3),
              Target(f"{fmt}:load_workload", fmt, lib=_lib_load_workload, weight=2)]
        t += [Target(f"{fmt}:cli {n}", fmt, argv=a, weight=w, alts=_alts(a)) for n, a, w in _SWF_CLI]
    t += [Target("swf:cli estimate predict", "swf", argv=("estimate", "predict", "--model", "{base}/gbm_model/model",
                                                              "--trace", "{P}", "--json"), weight=0.4),
          Target("swf:cli estimate explain", "swf", argv=("estimate", "explain", "--trace", "{P}", "--job", "5",
                                                              "--model", "{base}/gbm_model/model", "--json"), weight=0.3),
          Target("swf:cli estimate train", "swf", argv=("estimate", "train", "--trace", "{P}", "--out", "{T}/model",
                                                            "--n-estimators", "4", "--json"), weight=0.15)]
    for fmt, lib, name in (("sacct", _lib_read_sacct, "read_sacct"), ("csv_jobs", _lib_read_job_table, "read_job_table")):
        t += [Target(f"{fmt}:{name}", fmt, lib=lib, weight=3),
              Target(f"{fmt}:load_workload", fmt, lib=_lib_load_workload, weight=2),
              Target(f"{fmt}:cli trace_info", fmt, argv=("trace", "info", "{P}", "--json"),
                     alts=_alts(("trace", "info", "{P}", "--json"))),
              Target(f"{fmt}:cli simulate", fmt, argv=("simulate", "--trace", "{P}", "--json"))]
    quick = ("--detector", "mad", "--recenter-window", "0", "--threshold", "pot")  # the default needs 4,337 rows
    ev = ("detect", "evaluate", "--train", C + "smd_m16_train.txt", "--test", C + "smd_m16_test.txt",
          "--labels", C + "smd_m16_labels.txt", *quick, "--json")
    t += [Target("matrix:read_matrix", "matrix", lib=_lib_read_matrix, weight=3),
          Target("matrix:read_matrix ffill", "matrix", lib=_lib_read_matrix_ffill, weight=1),
          Target("matrix:cli detect evaluate --train", "matrix", argv=_swap(ev, "--train"), weight=0.6),
          Target("matrix:cli detect evaluate --test", "matrix", argv=_swap(ev, "--test"), weight=0.6),
          Target("matrix:cli detect fit", "matrix", argv=("detect", "fit", "--train", "{P}", "--out", "{T}/det.out",
                                                          *quick, "--json"), weight=0.6),
          Target("matrix:cli detect score", "matrix", argv=("detect", "score", "--model", "{base}/detector/{detector}",
                                                            "--input", "{P}", "--threshold", "fixed", "--json"), weight=0.6),
          Target("labels:read_labels", "labels", lib=_lib_read_labels, weight=2),
          Target("labels:cli detect evaluate", "labels", argv=_swap(ev, "--labels")),
          Target("interpretation:read_interpretation", "interpretation", lib=_lib_read_interpretation, weight=2),
          Target("interpretation:cli detect evaluate", "interpretation",
                 argv=ev + ("--interpretation", "{P}")),
          Target("ldms:read_ldms_csv", "ldms", lib=_lib_read_ldms, weight=2),
          Target("ldms:read_ldms_csv repairs", "ldms", lib=_lib_read_ldms_repairs, weight=2),
          Target("hpas:hpas_run_features", "hpas", lib=_lib_hpas, weight=2),
          Target("table:read_table", "table", lib=_lib_read_table_ts, weight=3),
          Target("parquet:read_table", "parquet", lib=_lib_read_table_ts, weight=2),
          Target("nab:load_nab_series", "nab", lib=_lib_nab_series, weight=1),
          Target("nab:nab_windows", "nab", lib=_lib_nab_windows, weight=0.5),
          Target("nab:cli detect nab", "nab", argv=("detect", "nab", "--data", "{P}", "--json"), weight=0.5),
          Target("prometheus:parse_prometheus_text", "prometheus", lib=_lib_prometheus, weight=3),
          Target("prometheus:prometheus_samples", "prometheus", lib=_lib_prometheus_samples, weight=2),
          Target("prometheus:cli detect stream", "prometheus",
                 argv=("detect", "stream", "--model", "{det_mem}", "--format", "prometheus", "--metrics",
                       C + "metrics.txt", "--scrape", C + "scrape_1.prom", "--scrape", "{P}")),
          Target("jsonl:jsonl_samples", "jsonl", lib=_lib_jsonl, weight=3),
          Target("jsonl:cli detect stream", "jsonl", argv=("detect", "stream", "--model", "{det_mem}"), stdin=True),
          Target("jsonl:cli detect stream --per-entity", "jsonl",
                 argv=("detect", "stream", "--model", "{det_mem}", "--per-entity"), stdin=True),
          Target("toml:load_spec", "toml", lib=_lib_load_spec, weight=3),
          Target("toml:cli tune space", "toml", argv=("tune", "space", "{P}", "--json"), weight=1.5),
          Target("ktcache:load_cache", "ktcache", lib=_lib_load_cache, weight=3),
          Target("ktcache:cli tune replay", "ktcache", argv=("tune", "replay", "--cache", "{P}", "--budget", "5",
                                                             "--strategy", "random", "--json"), weight=1),
          Target("detector:load_detector", "detector", lib=_lib_load_detector, weight=3, model=True),
          Target("detector:cli detect score", "detector", argv=("detect", "score", "--model", "{P}", "--input",
                                                                C + "smd_m16_test.txt", "--threshold", "fixed",
                                                                "--json"), model=True),
          Target("gbm_model:load_model", "gbm_model", lib=_lib_load_model, weight=3, model=True),
          Target("gbm_model:cli estimate predict", "gbm_model",
                 argv=("estimate", "predict", "--model", "{P}", "--trace", C + "lublin.swf", "--json"), model=True)]
    # a command costs 10-100x a library call (imports, rendering): fewer mutants each
    import dataclasses

    t = [dataclasses.replace(x, weight=x.weight * CLI_SHARE) if x.argv else x for x in t]
    return {x.name: x for x in t}


CLI_SHARE = 0.25


def _alts(argv: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Spellings the one CLI vocabulary may give a command (issue 10): ``--trace FILE`` for a
    positional trace, ``--kind`` for a model kind."""
    out = []
    a = list(argv)
    if a[:2] == ["trace", "info"] and a[2] == "{P}":
        out.append(tuple(a[:2] + ["--trace", "{P}"] + a[3:]))
    if "--model" in a and a[a.index("--model") + 1] in ("requested", "tsafrir", "gbm"):
        b = list(a)
        b[b.index("--model")] = "--kind"
        out.append(tuple(b))
    return tuple(out)


def _swap(argv: tuple[str, ...], option: str) -> tuple[str, ...]:
    out = list(argv)
    out[out.index(option) + 1] = "{P}"
    return tuple(out)


TARGETS = _targets()

# --------------------------------------------------------------------------- worker

_STATE: dict[str, Any] = {}
# imported once by the fork server, so that a restarted worker starts warm
PRELOAD = ["hpcopt.testing._fuzz_warm", "hpcopt.testing.fuzz_targets", "numpy", "pandas", "hpcopt.cli", "hpcopt.cli.trace", "hpcopt.cli.schedule",
           "hpcopt.cli.estimate", "hpcopt.cli.detect", "hpcopt.cli.tune", "hpcopt.data.telemetry", "hpcopt.detect",
           "hpcopt.detect.stream", "hpcopt.detect.nab", "hpcopt.detect.hpas", "hpcopt.schedule.simulate",
           "hpcopt.estimate.gbm", "hpcopt.tune.spec", "hpcopt.tune.replay", "lightgbm", "sklearn.decomposition"]


def init_worker(work: str, alts: dict | None = None, memory_mb: int = 3072) -> None:
    """Worker set-up: the corpus, the bounds the readers must honour, one thread, bounded memory,
    native output (LightGBM's C++ logging) sent to /dev/null."""
    # runs the CLI targets record go to the fuzz work folder's own store, never the user's
    os.environ.update({"HPCOPT_MAX_LINE_BYTES": str(fz.LINE_LIMIT), "HPCOPT_MAX_INPUT_BYTES": str(fz.INPUT_LIMIT),
                       "HPCOPT_HOME": str(Path(work) / "store-home"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "NUMBA_NUM_THREADS": "1", "COLUMNS": "150", "NO_COLOR": "1", "TERM": "dumb"})
    import warnings

    warnings.simplefilter("ignore")
    with contextlib.suppress(OSError):
        os.nice(5)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        import resource

        with open("/proc/self/status") as fh:
            vm = next((int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmSize:")), 0)
        limit = vm + memory_mb * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass
    _STATE["work"] = Path(work)
    _STATE["sources"] = load_formats(work)
    _STATE["manifest"] = json.loads((Path(work) / "manifest.json").read_text())
    _STATE["alts"] = dict(alts or {})
    import hpcopt.cli as cli

    cli._register()


def _cli(argv: list[str], stdin_path: Path | None) -> tuple[int | None, str, str, BaseException | None]:
    from hpcopt.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    code: int | None = 0
    exc: BaseException | None = None
    fh = _stdin_like(stdin_path) if stdin_path is not None else io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    try:
        sys.stdin = fh
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, int) and e.code is not None:
                    err.write(str(e.code))
            except BaseException as e:  # noqa: BLE001 - this is what is being measured
                exc = e
    finally:
        sys.stdin = old_in
        fh.close()
    return code, out.getvalue(), err.getvalue(), exc


_REPAIR_KEY = re.compile(r"repair|drop|skip|note|clean|bad|invalid|missing|imput", re.IGNORECASE)


def _cli_repairs(stdout: str, stderr: str) -> Any:
    """What a command reported having repaired, dropped or skipped (from its JSON output and stderr)."""
    found: list = []

    def walk(obj, path=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if _REPAIR_KEY.search(str(k)):
                    found.append({path + "/" + str(k): v})
                else:
                    walk(v, path + "/" + str(k))
        elif isinstance(obj, list):
            for v in obj[:50]:
                walk(v, path + "[]")

    for chunk in (stdout,):
        try:
            walk(json.loads(chunk))
        except (ValueError, TypeError):
            for ln in chunk.splitlines():
                with contextlib.suppress(ValueError, TypeError):
                    walk(json.loads(ln))
    return {"json": found, "stderr_lines": len([ln for ln in stderr.splitlines() if ln.strip()])}


def run_one(job: tuple) -> dict:
    """Run target ``job = (target, seed, index)`` on its mutant; return the raw record."""
    target_name, seed, index = job
    tgt = TARGETS[target_name]
    source = _STATE["sources"][tgt.format]
    work: Path = _STATE["work"]
    mutant = _mutant_for(source, seed, index)
    rec = {"target": target_name, "format": tgt.format, "seed": seed, "index": index, "mutator": mutant.mutator,
           "detail": mutant.detail, "forbidden": mutant.forbidden, "key": f"{target_name}|{seed}|{index}"}
    tmp = Path(tempfile.mkdtemp(dir=work / "tmp"))
    cwd = os.getcwd()
    t0 = time.perf_counter()
    try:
        path = materialize(source, mutant, tmp / "in")
        os.chdir(tmp)
        subs = {"P": str(path), "T": str(tmp), "comp": str(work / "companions"), "base": str(work / "base"),
                "detector": _STATE["manifest"]["detector"], "det_mem": _STATE["manifest"]["det_mem"]}
        if tgt.lib is not None:
            try:
                fp, repairs = tgt.lib(path, work / "companions")
                exc = None
            except BaseException as e:  # noqa: BLE001 - this is what is being measured
                fp, repairs, exc = None, None, e
            outcome, kind, msg = fz.classify_exception(exc)
        else:
            spellings = (tgt.argv, *tgt.alts)
            if index < 0:  # the clean run: the first spelling this version of the CLI accepts
                choices = range(len(spellings))
            else:
                choices = [_STATE.get("alts", {}).get(target_name, 0)]
            for k in choices:
                argv = [a.format(**subs) for a in spellings[k]]
                code, out, err, exc = _cli(argv, path if tgt.stdin else None)
                outcome, kind, msg = fz.classify_exit(code, out, err, exc)
                rec["spelling"] = k
                if outcome == "success":
                    break
            repairs = _cli_repairs(out, err) if outcome == "success" else None
            fp = None
            if tgt.model and outcome == "success":
                norm = out.replace(str(tmp), "<tmp>").replace(str(work), "<work>")
                fp = hashlib.sha256(norm.encode()).hexdigest()[:16]
        rec.update(outcome=outcome, exc_type=kind, message=msg.replace(str(tmp), "<tmp>"),
                   fingerprint=fp, repairs=json.dumps(repairs, sort_keys=True, default=str))
        if (tmp / fz_marker()).exists() or (tmp / "in" / fz_marker()).exists():
            rec.update(outcome="silent_accept", exc_type=rec["exc_type"] or "code execution",
                       message=f"loading the file ran code in it ({mutant.detail}); then: {rec['message']}")
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    rec["seconds"] = round(time.perf_counter() - t0, 4)
    return rec


def fz_marker() -> str:
    return _CODE_MARKER


def warm() -> None:
    """Load the compiled simulator and the estimator once (the fork server calls this, so
    that every worker it forks starts with them loaded)."""
    from hpcopt.cli import main
    from hpcopt.data import sample_path

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for argv in (["simulate", "--trace", str(sample_path("hpc2n")), "--json"],):
            with contextlib.suppress(BaseException):
                main(argv)


# --------------------------------------------------------------------------- driver


def plan(n_mutants: int, seed: int, targets: Sequence[str] | None = None) -> list[tuple]:
    """``n_mutants`` jobs ``(target, seed, index)`` spread over the targets by weight
    (deterministic). The targets of one format take consecutive runs of one index counter,
    so no two of them get the same mutant."""
    import zlib

    names = [n for n in (targets or TARGETS)]
    weights = [TARGETS[n].weight for n in names]
    total = sum(weights)
    share = [n_mutants * w / total for w in weights]
    counts = [max(1, int(x)) for x in share]
    by_rest = sorted(range(len(names)), key=lambda i: int(share[i]) - share[i])
    for i in by_rest[:max(0, n_mutants - sum(counts))]:
        counts[i] += 1
    next_index: dict[str, int] = {}
    jobs = []
    for name, k in zip(names, counts):
        start = next_index.get(TARGETS[name].format, 0)
        next_index[TARGETS[name].format] = start + k
        jobs += [(name, seed, i) for i in range(start, start + k)]
    # interleave so that a slow target does not come last
    jobs.sort(key=lambda j: (j[2] * 7919 + zlib.crc32(j[0].encode()) % 7919) % 1_000_003)
    return jobs


def _judge(rec: dict, baseline: dict | None) -> dict:
    """Apply the oracles that need the baseline: silent acceptance and changed model output."""
    if rec.get("outcome") != "success" or baseline is None or rec.get("index", 0) < 0:
        return rec
    tgt = TARGETS.get(rec["target"])
    if tgt is not None and tgt.model and rec.get("fingerprint") != baseline.get("fingerprint"):
        rec["outcome"] = "silent_accept"
        rec["exc_type"] = "changed output"
        rec["message"] = f"a damaged model loaded and changed the output ({rec['mutator']}: {rec['detail']})"
        return rec
    if rec.get("forbidden") and not fz.repaired_more(_counts(rec), _counts(baseline)):
        rec["outcome"] = "silent_accept"
        rec["exc_type"] = "forbidden value"
        rec["message"] = f"accepted without a counted repair: {rec['detail']}"
    return rec


def _counts(rec: dict) -> dict[str, float]:
    # job totals are not repairs (a dropped job shows in its own 'dropped' counter)
    flat = fz.flat_counts(json.loads(rec.get("repairs") or "null"))
    return {k: v for k, v in flat.items() if not re.search(r"/jobs(_in|_out)?$", k)}


def fuzz(work: str | Path, n_mutants: int, *, seed: int = 0, workers: int = 2, timeout: float = 10.0,
         targets: Sequence[str] | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Run the baselines, then ``n_mutants`` mutants; ``{"baselines": [...], "results": [...]}``.

    A target whose baseline does not succeed is not fuzzed (its baseline record says why).
    """
    import multiprocessing as mp

    work = Path(work)
    names = list(targets or TARGETS)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    n_samples = {}
    sources = load_formats(work)
    _FORMATS_CACHE["sources"] = sources
    base_jobs = []
    for n in names:
        src = sources[TARGETS[n].format]
        k = 1 if src.parts else len(src.fmt.samples)
        n_samples[n] = k
        base_jobs += [(n, seed, -1 - i) for i in range(k)]
    kw = dict(workers=workers, timeout=max(timeout, 120.0), initializer=init_worker, initargs=(str(work),), ctx=ctx)
    base = fz.run_jobs(run_one, base_jobs, **kw)
    by_key = {}
    for r in base:
        _fill(r)
        by_key[(r["target"], r["index"])] = r
    ok = [n for n in names if all(by_key.get((n, -1 - i), {}).get("outcome") == "success" for i in range(n_samples[n]))]
    alts = {n: by_key[(n, -1)].get("spelling", 0) for n in ok}
    kw["initargs"] = (str(work), alts)
    jobs = plan(n_mutants, seed, ok)
    total = len(jobs)
    # a hang is judged against the target's own clean run (the box may be busy): at least
    # ``timeout`` seconds, and 10x the clean run, up to two minutes
    slow = {n: max(r.get("seconds") or 0.0 for r in base if r.get("target") == n) for n in ok}
    kw["timeout"] = lambda job: min(max(timeout, 10.0 * slow.get(job[0], 0.0)), 120.0)
    res = fz.run_jobs(run_one, jobs, progress=(lambda d: progress(d, total)) if progress else None, **kw)
    out = []
    for r in res:
        _fill(r)
        src = sources[TARGETS[r["target"]].format]
        if src.parts:
            b = by_key.get((r["target"], -1))
        else:
            b = by_key.get((r["target"], -1 - _sample_of(src, r)))
        out.append(_judge(r, b))
    return {"baselines": base, "results": out, "skipped_targets": [n for n in names if n not in ok]}


def _sample_of(src: Source, rec: dict) -> int:
    return _mutant_for(src, rec["seed"], rec["index"]).sample if rec["index"] >= 0 else -1 - rec["index"]


def _fill(r: dict) -> None:
    job = r.get("job")
    if job is not None and "target" not in r:
        name, seed, index = job
        r.update(target=name, format=TARGETS[name].format, seed=seed, index=index, key=f"{name}|{seed}|{index}")
        try:
            m = _mutant_for(load_formats_cached()[TARGETS[name].format], seed, index)
            r.update(mutator=m.mutator, detail=m.detail, forbidden=m.forbidden)
        except Exception:  # noqa: BLE001 - a description only
            pass
    r.pop("job", None)


_FORMATS_CACHE: dict = {}


def load_formats_cached() -> dict[str, Source]:
    return _FORMATS_CACHE.get("sources") or {}


def reproduce(work: str | Path, key: str, *, timeout: float = 60.0) -> dict:
    """Rerun one mutant from its key ``target|seed|index`` in a worker process (a native crash
    or a hang is reported, not suffered), judged against the target's clean run as in
    :func:`fuzz`; the mutant's bytes are written to the work folder (``mutant_path``)."""
    import multiprocessing as mp

    name, seed, index = key.split("|")
    seed, index = int(seed), int(index)
    work = Path(work)
    ctx = mp.get_context("forkserver")
    base = fz.run_jobs(run_one, [(name, seed, -1)], workers=1, timeout=120.0, initializer=init_worker,
                       initargs=(str(work),), ctx=ctx)[0]
    _fill(base)
    alts = {name: base.get("spelling", 0)}
    rec = fz.run_jobs(run_one, [(name, seed, index)], workers=1, timeout=timeout, initializer=init_worker,
                      initargs=(str(work), alts), ctx=ctx)[0]
    sources = load_formats(work)
    _FORMATS_CACHE["sources"] = sources
    _fill(rec)
    rec = _judge(rec, base)
    m = _mutant_for(sources[TARGETS[name].format], seed, index)
    out = work / f"mutant-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{seed}-{index}.bin"
    out.write_bytes(m.data)
    rec["mutant_path"] = str(out)
    rec["clean_run"] = base.get("outcome")
    return rec


def init_worker_light(work: str | Path, alts: dict | None = None) -> None:
    """:func:`init_worker` without the process-wide changes (for a reproduction in the caller's process)."""
    os.environ.update({"HPCOPT_MAX_LINE_BYTES": str(fz.LINE_LIMIT), "HPCOPT_MAX_INPUT_BYTES": str(fz.INPUT_LIMIT),
                       "HPCOPT_HOME": str(Path(work) / "store-home")})
    _STATE["work"] = Path(work)
    _STATE["sources"] = load_formats(work)
    _STATE["manifest"] = json.loads((Path(work) / "manifest.json").read_text())
    _STATE.setdefault("alts", dict(alts or {}))
