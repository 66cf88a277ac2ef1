"""What every benchmark emits: its JSON, plus the command, date, machine and versions that made it.

``add_out_option(parser)`` gives a script ``--out PATH``; ``emit(result, out, ...)`` adds the
``recorded`` block, prints the JSON and, with ``--out``, writes the same text atomically
(``benchmarks/results/<name>.json`` is where the docs' results pages read it from);
``write(result, out)`` writes without printing, for scripts whose stdout is a summary. Scripts
run as ``python benchmarks/x.py``, so this module is importable beside them as ``_record``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from hpcopt.core.files import atomic_write_text
from hpcopt.core.provenance import host_record, version_record
from hpcopt.core.results import json_safe

ROOT = Path(__file__).resolve().parents[1]
_ENV = ("OMP_NUM_THREADS", "PYTHONHASHSEED", "NUMBA_NUM_THREADS")
_START = _dt.datetime.now(_dt.UTC)
# as the command was started: libraries (dask) set some of these in os.environ while running
_START_ENV = {k: os.environ[k] for k in _ENV if k in os.environ}


def add_out_option(parser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the printed JSON here, atomically (e.g. benchmarks/results/NAME.json)")


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git() -> dict:
    def run(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": run("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def command_line() -> str:
    """The command as typed from the repository root, with the environment variables that matter."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(ROOT))
    except ValueError:
        script_s = str(script)
    env = [f"{k}={shlex.quote(v)}" for k, v in _START_ENV.items()]
    return " ".join([*env, "python", shlex.join([script_s, *sys.argv[1:]])])


def recorded(*, seed=None, libraries: tuple[str, ...] = ()) -> dict:
    now = _dt.datetime.now(_dt.UTC)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "command": command_line(),
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_seconds": round((now - _START).total_seconds(), 1),
        "seed": seed,
        "machine": {**host_record(), "cpu": _cpu_model(), "cpus": os.cpu_count(),
                    "loadavg_1m_end": None if load is None else round(load[0], 2)},
        "environment": dict(_START_ENV),
        "versions": version_record(*libraries),
        "git": _git(),
    }


def dumps(result: dict, *, seed=None, libraries: tuple[str, ...] = (), indent: int | None = 2) -> str:
    """``result`` with its ``recorded`` block as JSON text (NaN and infinities become null)."""
    result = {**result, "recorded": recorded(seed=seed, libraries=libraries)}
    return json.dumps(json_safe(result), indent=indent, allow_nan=False, default=str)


def write(result: dict, out: Path, **kw) -> None:
    """Write ``result`` and its ``recorded`` block to ``out`` atomically (for scripts that print a summary)."""
    atomic_write_text(out, dumps(result, **kw) + "\n")


def emit(result: dict, out: Path | None, **kw) -> None:
    """Print ``result`` with its ``recorded`` block as JSON; with ``out``, write the same text there."""
    text = dumps(result, **kw)
    if out is not None:
        atomic_write_text(out, text + "\n")
    print(text)
