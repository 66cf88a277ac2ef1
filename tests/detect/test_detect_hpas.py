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


def _write_run(d: Path, leak_from: int):
    """A synthetic 1 Hz run: MemFree falls after ``leak_from``; pgfault a counter; user jiffies."""
    import gzip

    d.mkdir(parents=True)
    t0 = 1_700_000_000.0
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
