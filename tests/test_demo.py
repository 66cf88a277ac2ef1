"""``hpcopt demo``: the tour runs on the bundled data, beside its baselines, recorded in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_tour_end_to_end(tmp_path):
    env = {**os.environ, "HPCOPT_HOME": str(tmp_path / "home")}
    report = tmp_path / "out" / "demo.html"
    r = subprocess.run([sys.executable, "-m", "hpcopt", "demo", "--report", str(report), "--json"],
                       capture_output=True, text=True, env=env, timeout=1800, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["schema"] == "demo/1" and out["provenance"]["seed"] == 0
    steps = out["payload"]["steps"]
    rows = {(p["policy"], p["runtimes"]): p for p in steps["schedule"]["policies"]}
    assert steps["schedule"]["jobs"] == 3170 and len(rows) == 8
    oracle = rows[("sjf+easy", "actual (oracle)")]["avg_bsld"]
    for runtimes in ("requested", "predicted:tsafrir", "predicted:gbm"):
        # no runtime source can beat perfect knowledge of the runtimes on this trace
        assert rows[("sjf+easy", runtimes)]["avg_bsld"] > oracle
    d = steps["detect"]
    assert d["labelled_anomalous_rows"] == 11 and d["metrics"]["f1"] > d["random_baseline"]["f1"]
    assert d["first_alerts"] and all(a["top_metrics_1based"] for a in d["first_alerts"])
    t = steps["tune"]
    assert set(t["scores"]) == {"random", "bo"} and t["budget"] == 227 and t["scores"]["bo"] > 0.5
    assert report.read_text().count("<h2>") == 3
    # every step recorded, and the default report path is replaced on a rerun without --force
    runs = json.loads(subprocess.run([sys.executable, "-m", "hpcopt", "runs", "list", "--json"], capture_output=True,
                                     text=True, env=env, timeout=300).stdout)["runs"]
    # each step ran through its capability's tasks, each run recorded under the task's own name
    assert sorted(x["task"] for x in runs) == ["detect.evaluate", *["schedule.compare"] * 4, "tune.compare_strategies"]
    assert all(x["status"] == "succeeded" for x in runs)
    assert sorted(sum(out["payload"]["runs"].values(), [])) == sorted(x["id"] for x in runs)
    r2 = subprocess.run([sys.executable, "-m", "hpcopt", "demo", "--report", str(report), "--json"],
                        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r2.returncode == 64 and "--force" in json.loads(r2.stdout)["error"]["message"]
