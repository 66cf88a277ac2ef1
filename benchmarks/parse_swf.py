"""SWF reader speed and memory on a large trace: prints one JSON object.

    python benchmarks/parse_swf.py --jobs 1000000 --repeat 3
    python benchmarks/parse_swf.py --jobs 1000000 --repeat 3 --baseline

Builds a trace of ``--jobs`` jobs by chaining copies of a real trace (job ids shifted by
the largest id, submit times by the span plus one second, preceding-job numbers shifted
with the ids), writes it as plain ``.swf`` and parses it with ``read_swf``. Each parse
runs in a fresh child process, so ``peak_rss_mb`` (``ru_maxrss``) is that parse's own
peak, imports included; ``import_rss_mb`` is the same child's peak before it reads.
``seconds`` is the median of ``--repeat`` parses. ``--baseline`` also runs the reader
as it was at ``--baseline-ref`` (the line-by-line reader this one replaced), loaded from
a temporary file taken out of git, alternating with the new one so both see the same
machine load, and checks that both give the same job table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hpcopt.data import read_swf
from hpcopt.data.workload import COLUMNS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO.parent / "shared" / "data" / "traces" / "KTH-SP2-1996_predictsim.swf.gz"
# The last commit with the line-by-line reader.
BASELINE_REF = "0ae370e691aa2593a3d59c40452d31b6a6b65824"

CHILD = r"""
import importlib.util, json, resource, sys, time
import numpy as np
module_path, trace, digest_out = sys.argv[1], sys.argv[2], sys.argv[3]
if module_path == "-":
    from hpcopt.data.swf import read_swf
else:
    spec = importlib.util.spec_from_file_location("swf_baseline", module_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    read_swf = mod.read_swf
import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
w = read_swf(trace)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if digest_out != "-":
    from hpcopt.data.workload import COLUMNS
    np.savez(digest_out, **{c: w.jobs[c].to_numpy() for c in COLUMNS})
print(json.dumps({"seconds": seconds, "peak_rss_kb": peak, "import_rss_kb": import_rss, "jobs": len(w)}))
"""


def build_trace(source: Path, jobs: int, out: Path) -> dict:
    """Chain copies of ``source`` until ``jobs`` jobs; write them as SWF text."""
    w = read_swf(source)
    base = w.jobs  # the 18 fields and any extra (Alea) columns
    n = len(base)
    copies = -(-jobs // n)
    id_step = int(base["job_id"].max()) + 1
    span = float(base["submit"].max() - base["submit"].min()) + 1.0
    header = "".join(f"; {k}: {line}\n" for k, v in w.header.items() for line in str(v).split("\n"))
    with open(out, "w") as fh:
        fh.write(header)
        written = 0
        for k in range(copies):
            part = base.iloc[: min(n, jobs - written)].copy()
            part["job_id"] += k * id_step
            part["submit"] += k * span
            part.loc[part["prev_job"] > 0, "prev_job"] += k * id_step
            part.to_csv(fh, sep=" ", header=False, index=False, float_format="%.17g", lineterminator="\n")
            written += len(part)
    return {"source": source.name, "source_jobs": n, "copies": copies, "jobs": written,
            "bytes": out.stat().st_size}


def baseline_module(ref: str, tmp: Path) -> Path:
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:src/hpcopt/data/swf.py"],
                          check=True, capture_output=True, text=True).stdout
    path = tmp / "swf_baseline.py"
    path.write_text(text)
    return path


def run_child(module: str, trace: Path, digest: Path | None) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, module, str(trace), str(digest) if digest else "-"],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "seconds_all": [round(r["seconds"], 3) for r in runs],
        "peak_rss_mb": statistics.median(r["peak_rss_kb"] for r in runs) / 1024,
        "import_rss_mb": statistics.median(r["import_rss_kb"] for r in runs) / 1024,
        "jobs": runs[0]["jobs"],
    }


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE, help="real SWF trace to replicate")
    ap.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the built trace")
    ap.add_argument("--repeat", type=int, default=3, help="parses per reader (median reported)")
    ap.add_argument("--baseline", action="store_true", help="also run the reader at --baseline-ref")
    ap.add_argument("--baseline-ref", default=BASELINE_REF, help="git revision of the baseline reader")
    add_out_option(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="parse_swf_") as d:
        tmp = Path(d)
        trace = tmp / "big.swf"
        result = {"trace": build_trace(args.trace, args.jobs, trace), "repeat": args.repeat,
                  "python": platform.python_version(), "numpy": np.__version__,
                  "cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]}
        new_digest, old_digest = tmp / "new.npz", tmp / "old.npz"
        old_module = str(baseline_module(args.baseline_ref, tmp)) if args.baseline else None
        new_runs, old_runs = [], []
        # Interleaved, so that both readers see the same load on a shared machine.
        for i in range(args.repeat):
            new_runs.append(run_child("-", trace, new_digest if args.baseline and i == 0 else None))
            if old_module:
                old_runs.append(run_child(old_module, trace, old_digest if i == 0 else None))
        result["new"] = summarize(new_runs)
        if args.baseline:
            result["baseline"] = summarize(old_runs)
            a, b = np.load(new_digest), np.load(old_digest)
            result["same_table"] = all(a[c].dtype == b[c].dtype and np.array_equal(a[c], b[c]) for c in COLUMNS)
            result["speedup"] = result["baseline"]["seconds"] / result["new"]["seconds"]
            result["memory_ratio"] = result["new"]["peak_rss_mb"] / result["baseline"]["peak_rss_mb"]
        result["loadavg_1m_end"] = os.getloadavg()[0]
    emit(result, args.out)


if __name__ == "__main__":
    main()
