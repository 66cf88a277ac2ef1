"""benchmarks/mcp_overhead.py runs end to end (a few calls; the figure itself comes from a full run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO


def test_overhead_benchmark_runs(tmp_path):
    out = tmp_path / "o.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "mcp_overhead.py"), "--calls", "5", "--warmup",
                        "1", "--out", str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert json.loads(out.read_text()) == doc
    for key in ("no_record", "record"):
        assert {"stdio", "in_memory", "direct", "stdio_overhead_median_ms"} <= set(doc[key])
        assert doc[key]["stdio"]["n"] == 5 and doc[key]["stdio"]["median_ms"] > 0
    assert isinstance(doc["meets_target"], bool) and doc["target_ms"] == 20.0
