"""One entry point that picks the reader from the file's name and content."""

from __future__ import annotations

from pathlib import Path

from hpcopt.core.files import read_text
from hpcopt.data.workload import Workload
from hpcopt.errors import ConfigError

def load_workload(path: str | Path, fmt: str = "auto") -> Workload:
    """Read a trace: ``swf`` (.swf, .swf.gz), ``sacct`` (sacct -P output) or ``csv`` job table.

    ``fmt="auto"`` decides from the suffix, then from the first line. Slurm and CSV
    tables hold finished jobs in ``jobs`` and unfinished ones in ``Workload.queue``.
    """
    from hpcopt.data.slurm import read_job_table, read_sacct
    from hpcopt.data.swf import read_swf

    p = Path(path)
    if fmt == "auto":
        name = p.name.lower().removesuffix(".gz")
        if name.endswith(".swf"):
            fmt = "swf"
        elif name.endswith((".csv", ".tsv")):
            fmt = "csv"
        else:
            first = next((ln for ln in read_text(p).splitlines() if ln.strip()), "")
            if "|" in first and any(k in first.lower() for k in ("jobid", "submit")):
                fmt = "sacct"
            elif "," in first and "submit" in first.lower():
                fmt = "csv"
            else:
                fmt = "swf"
    readers = {"swf": read_swf, "sacct": read_sacct, "csv": read_job_table}
    if fmt not in readers:
        raise ConfigError(f"unknown trace format {fmt!r}; choose from auto, swf, sacct, csv")
    return readers[fmt](p)
