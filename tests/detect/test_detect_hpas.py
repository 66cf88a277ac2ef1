"""HPAS/LDMS features and evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the 'detect' extra; CI installs it

from hpcopt.data.telemetry import RepairLog
from hpcopt.detect import make_detector
from hpcopt.detect.hpas import evaluate_hpas, hpas_run_features, is_counter, write_hpas_report
from hpcopt.errors import InputError

HPAS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry" / "hpas_ldms"
needs_shared = pytest.mark.skipif(not HPAS.is_dir(), reason="../shared/data is absent")


def test_counter_rules():
    assert not is_counter("meminfo", "MemFree")
    assert is_counter("vmstat", "pgfault") and not is_counter("vmstat", "nr_free_pages")
    assert is_counter("procstat", "user") and not is_counter("procstat", "procs_running")
    assert not is_counter("procstat", "per_core_cpu_enabled3")
    with pytest.raises(InputError):
        is_counter("lustre", "x")


def _write_run(d: Path, leak_from: int, t0: float = 1_700_000_000.0):
    """A synthetic 1 Hz run: MemFree falls after ``leak_from``; pgfault a counter; user jiffies."""
    import gzip

    d.mkdir(parents=True)
    n = 200
    rows_m, rows_v, rows_p = [], [], []
    for k in range(n):
        t = t0 + k + 0.001 * (k % 3)
        free = 1000.0 - (5.0 * (k - leak_from) if k >= leak_from else 0.0) + (k % 2)
        rows_m.append(f"{t},0,n1,1,0,0,{free},{500 + k % 3}")
        rows_v.append(f"{t},0,n1,1,0,0,{100 + k % 2},{10 * k}")
        rows_p.append(f"{t},0,n1,1,0,0,{2},{100 * k + (k % 5)}")
    for name, head, rows in (("meminfo", "MemFree,Cached", rows_m), ("vmstat", "nr_free_pages,pgfault", rows_v),
                             ("procstat", "procs_running,user", rows_p)):
        with gzip.open(d / f"{name}.csv.gz", "wt") as fh:
            fh.write(f"#Time,Time_usec,ProducerName,component_id,job_id,app_id,{head}\n" + "\n".join(rows) + "\n")


def test_features_rates_and_per_run_baseline(tmp_path):
    _write_run(tmp_path / "r", leak_from=10_000)
    log = RepairLog()
    X = hpas_run_features(tmp_path / "r", baseline_s=30, repairs=log)
    assert list(X.columns) == ["meminfo.MemFree", "meminfo.Cached", "vmstat.nr_free_pages", "vmstat.pgfault",
                               "procstat.procs_running", "procstat.user"]
    assert X.index[0] == 1 and len(X) == 199  # rates drop the first second
    np.testing.assert_allclose(X["vmstat.pgfault"], 0.0, atol=1e-9)  # rate 10/s minus its baseline 10/s
    assert abs(X["meminfo.MemFree"].median()) <= 0.5


def test_evaluate_hpas_on_synthetic_runs(tmp_path):
    import pandas as pd

    root = tmp_path / "hpas"
    _write_run(root / "runs" / "App", leak_from=10_000)
    _write_run(root / "runs" / "App_ML__ST100_ET180", leak_from=100)
    pd.DataFrame([
        {"run_id": "App", "app": "App", "n_anomalies": 0, "included": True, "anomaly": "none", "start_s": None,
         "end_s": None},
        {"run_id": "App_ML__ST100_ET180", "app": "App", "n_anomalies": 1, "included": True, "anomaly": "memleak",
         "start_s": 100, "end_s": 180},
    ]).to_csv(root / "labels.csv.gz", index=False)
    res = evaluate_hpas(root, make_detector("mad", random_state=0))
    run = res["runs"][0]
    assert run["event_recall"] == 1.0 and run["windows"][0]["delay_s"] <= 5
    assert run["auroc"] > 0.9
    assert res["window_recall_by_anomaly"] == {"memleak": 1.0}
    # random alerts at the same rate: a window of L s is hit with probability 1 - (1 - r)^L
    r, L = run["alert_rate"], 80
    assert run["event_recall_random_same_rate"] == pytest.approx(1.0 - (1.0 - r) ** L)
    # streaming threshold and the HTML report
    res2 = evaluate_hpas(root, make_detector("mad", random_state=0), adapt="dspot", adapt_params={"depth": 10, "min_peaks": 3},
                         keep_scores=True)
    assert res2["threshold"] == "dspot" and res2["runs"][0]["event_recall"] == 1.0
    out = write_hpas_report(tmp_path / "hpas.html", res2)
    text = out.read_text()
    assert "App_ML__ST100_ET180" in text and "random, same alert rate" in text and "data:image/png;base64," in text
    with pytest.raises(InputError, match="keep_scores"):
        write_hpas_report(tmp_path / "x.html", res)


@pytest.mark.shared
@needs_shared
def test_hpas_real_runs_sw4lite():
    res = evaluate_hpas(HPAS, make_detector("mad", random_state=0), apps=("SW4lite",))
    assert len(res["runs"]) == 17
    assert res["fitted"]["SW4lite"]["train_run"] == "SW4lite"
    # memleak is the most visible HPAS anomaly in meminfo: measured window recall 1.0 for MAD
    assert res["window_recall_by_anomaly"]["memleak"] >= 0.9
    assert res["repairs"]  # the source files have cut lines; they are counted, not hidden


def test_shifted_event_recall_by_hand_and_against_np_roll():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from hpcopt.detect.hpas import shifted_event_recall

    a = np.zeros(10, dtype=int)
    a[[2, 3]] = 1  # one run of two alerts
    # window rows 5-6: alerts shifted by 2, 3 or 4 land in it -> 3 of 10 offsets
    assert shifted_event_recall(a, [np.array([5, 6])], n_shifts=10) == pytest.approx(0.3)
    # independent alerts at the same rate (0.2) would give 1 - 0.8^2 = 0.36: clustering lowers the floor
    assert shifted_event_recall(a, [np.array([5, 6])], n_shifts=10) < 1 - 0.8 ** 2

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.integers(0, 1), min_size=5, max_size=60), st.data())
    def check(bits, data):
        alerts = np.array(bits)
        n = len(alerts)
        lo = data.draw(st.integers(0, n - 1))
        hi = data.draw(st.integers(lo + 1, n))
        brute = np.mean([np.roll(alerts, k)[lo:hi].any() for k in range(n)])
        assert shifted_event_recall(alerts, [np.arange(lo, hi)], n_shifts=n) == pytest.approx(brute)

    check()


def _three_runs(root: Path, window_a=(100, 200), b_first: bool = False):
    import pandas as pd

    if not (root / "runs").exists():
        # run one after another, as on the real node: healthy, then A, then B
        _write_run(root / "runs" / "App", leak_from=10_000, t0=1_700_000_000.0)
        _write_run(root / "runs" / "App_ML__A", leak_from=100, t0=1_700_002_000.0 if b_first else 1_700_001_000.0)
        _write_run(root / "runs" / "App_ML__B", leak_from=50, t0=1_700_001_000.0 if b_first else 1_700_002_000.0)
    pd.DataFrame([
        {"run_id": "App", "app": "App", "n_anomalies": 0, "included": True, "anomaly": "none", "start_s": None,
         "end_s": None},
        {"run_id": "App_ML__A", "app": "App", "n_anomalies": 1, "included": True, "anomaly": "memleak",
         "start_s": window_a[0], "end_s": window_a[1]},
        {"run_id": "App_ML__B", "app": "App", "n_anomalies": 1, "included": True, "anomaly": "memleak",
         "start_s": 50, "end_s": 200},  # the synthetic leaks never recover: windows to the end
    ]).to_csv(root / "labels.csv.gz", index=False)


def test_hpas_leave_one_run_out_trains_on_the_other_runs_normal_seconds(tmp_path):
    root = tmp_path / "hpas"
    _three_runs(root)
    res = evaluate_hpas(root, make_detector("mad", random_state=0), train_on="other-runs", keep_scores=True)
    assert res["train_on"] == "other-runs"
    runs = {r["run_id"]: r for r in res["runs"]}
    # 199 rows per run, seconds 1..199 (rates drop the first); B's normal seconds are 1..49, A's 1..99
    assert runs["App_ML__A"]["n_train"] == 199 + 49
    assert runs["App_ML__B"]["n_train"] == 199 + 99
    assert all(r["event_recall"] == 1.0 for r in runs.values())
    # the scored run's own labels are never read: moving A's window leaves A's scores and alerts as they were
    _three_runs(root, window_a=(20, 60))
    moved = evaluate_hpas(root, make_detector("mad", random_state=0), train_on="other-runs", keep_scores=True)
    a0 = runs["App_ML__A"]["_arrays"]
    a1 = next(r for r in moved["runs"] if r["run_id"] == "App_ML__A")["_arrays"]
    np.testing.assert_array_equal(a0["scores"], a1["scores"])
    np.testing.assert_array_equal(a0["alerts"], a1["alerts"])
    # ... while B's training set (A's normal seconds) changed with it
    b1 = next(r for r in moved["runs"] if r["run_id"] == "App_ML__B")
    assert b1["n_train"] == 199 + (199 - 40)  # A's window [20, 60) now
    assert res["fitted"]["App"]["per_run"] and "threshold" not in res["fitted"]["App"]
    assert runs["App_ML__A"]["train_runs"] == ["App", "App_ML__B"]
    # the default trains on the healthy run only, whatever the other runs hold
    healthy = evaluate_hpas(root, make_detector("mad", random_state=0))
    assert healthy["train_on"] == "healthy" and {r["n_train"] for r in healthy["runs"]} == {199}
    assert healthy["fitted"]["App"]["n_train"] == 199
    assert "leave one run out" in write_hpas_report(tmp_path / "loro.html", res).read_text()


def test_hpas_bad_training_choice_and_unknown_application(tmp_path):
    from hpcopt.errors import ConfigError

    root = tmp_path / "hpas"
    _three_runs(root)
    with pytest.raises(ConfigError, match=r"train_on \(--train-on\) must be one of healthy, past-runs, other-runs"):
        evaluate_hpas(root, make_detector("mad"), train_on="all")
    with pytest.raises(InputError, match="no runs of application.*Nope.*the labels list App"):
        evaluate_hpas(root, make_detector("mad"), apps=("Nope",))


def test_hpas_cli_leave_one_run_out_and_bad_choice(tmp_path, capsys):
    import json

    from hpcopt.cli import main

    root = tmp_path / "hpas"
    _three_runs(root)
    with pytest.raises(SystemExit) as ei:
        main(["detect", "hpas", "--data", str(root), "--detector", "mad", "--threshold", "pot", "--train-on", "other-runs", "--json"])
    out = capsys.readouterr().out
    assert ei.value.code == 0
    res = json.loads(out)["payload"]
    assert res["train_on"] == "other-runs" and sorted(r["n_train"] for r in res["runs"]) == [248, 298]
    with pytest.raises(SystemExit) as ei:
        main(["detect", "hpas", "--data", str(root), "--train-on", "everything", "--json"])
    err = capsys.readouterr()
    assert ei.value.code == 64 and "--train-on) must be one of healthy, past-runs, other-runs" in err.out + err.err


def test_hpas_past_runs_train_only_on_runs_that_ended_before(tmp_path):
    root = tmp_path / "hpas"
    _three_runs(root)
    res = evaluate_hpas(root, make_detector("mad", random_state=0), train_on="past-runs")
    runs = {r["run_id"]: r for r in res["runs"]}
    # A ran first after the healthy run: nothing earlier to add; B gets A's normal seconds 1..99
    assert runs["App_ML__A"]["train_runs"] == ["App"] and runs["App_ML__A"]["n_train"] == 199
    assert runs["App_ML__B"]["train_runs"] == ["App", "App_ML__A"] and runs["App_ML__B"]["n_train"] == 199 + 99
    report = evaluate_hpas(root, make_detector("mad"), train_on="past-runs", keep_scores=True)
    assert "ended before it started" in write_hpas_report(tmp_path / "past.html", report).read_text()


def test_hpas_past_runs_follow_time_not_names(tmp_path):
    root = tmp_path / "hpas"
    _three_runs(root, b_first=True)  # B ran before A: A may learn from B, not the other way round
    runs = {r["run_id"]: r for r in evaluate_hpas(root, make_detector("mad"), train_on="past-runs")["runs"]}
    assert runs["App_ML__B"]["train_runs"] == ["App"] and runs["App_ML__B"]["n_train"] == 199
    assert runs["App_ML__A"]["train_runs"] == ["App", "App_ML__B"] and runs["App_ML__A"]["n_train"] == 199 + 49


def test_hpas_past_runs_skip_a_run_still_going(tmp_path):
    root = tmp_path / "hpas"
    root.mkdir()
    import pandas as pd

    # B starts 100 s after A, while A (200 s long) is still running: neither is the other's past
    _write_run(root / "runs" / "App", leak_from=10_000, t0=1_700_000_000.0)
    _write_run(root / "runs" / "App_ML__A", leak_from=100, t0=1_700_001_000.0)
    _write_run(root / "runs" / "App_ML__B", leak_from=50, t0=1_700_001_100.0)
    pd.DataFrame([
        {"run_id": "App", "app": "App", "n_anomalies": 0, "included": True, "anomaly": "none", "start_s": None,
         "end_s": None},
        {"run_id": "App_ML__A", "app": "App", "n_anomalies": 1, "included": True, "anomaly": "memleak",
         "start_s": 100, "end_s": 200},
        {"run_id": "App_ML__B", "app": "App", "n_anomalies": 1, "included": True, "anomaly": "memleak",
         "start_s": 50, "end_s": 200},
    ]).to_csv(root / "labels.csv.gz", index=False)
    runs = {r["run_id"]: r for r in evaluate_hpas(root, make_detector("mad"), train_on="past-runs")["runs"]}
    assert runs["App_ML__A"]["train_runs"] == ["App"] and runs["App_ML__B"]["train_runs"] == ["App"]
