"""NAB layout -> labelled series (probationary period as training part)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpcopt.detect.nab import list_nab_files, load_nab_series
from hpcopt.errors import InputError

NAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry" / "nab"


def _nab(tmp_path: Path, bad: bool = False) -> Path:
    root = tmp_path / "nab"
    (root / "data" / "realX").mkdir(parents=True)
    ts = pd.date_range("2020-01-01", periods=100, freq="5min")
    vals = [str(float(i % 7)) for i in range(100)]
    if bad:
        vals[41] = "n/a"
    with gzip.open(root / "data" / "realX" / "a.csv.gz", "wt") as fh:
        fh.write("timestamp,value\n" + "\n".join(f"{t},{v}" for t, v in zip(ts, vals)) + "\n")
    pd.DataFrame([{"file": "realX/a.csv", "kind": "window", "idx": 0, "start": str(ts[50]), "end": str(ts[59]),
                   "point": None},
                  {"file": "realX/a.csv", "kind": "point", "idx": 0, "start": None, "end": None,
                   "point": str(ts[55])}]).to_csv(root / "labels.csv.gz", index=False)
    return root


def test_load_nab_series_splits_probation_and_labels_windows(tmp_path):
    root = _nab(tmp_path)
    assert list_nab_files(root) == ["realX/a.csv"]
    s = load_nab_series(root, "realX/a.csv")
    assert s.train.shape == (15, 1) and s.test.shape == (85, 1)
    assert s.interval_s == 300.0
    y = np.zeros(100, dtype=np.int8)
    y[50:60] = 1  # window ends are inclusive in NAB
    np.testing.assert_array_equal(s.labels, y[15:])


def test_load_nab_accepts_the_gz_name_and_reports_what_it_cannot_score(tmp_path):
    root = _nab(tmp_path)
    s = load_nab_series(root, "realX/a.csv.gz")  # the data file's own name: same labels
    assert s.labels.sum() == 10 and not s.repairs
    s = load_nab_series(root, "realX/a.csv", probation=0.7)  # the window now lies in the training part
    assert s.labels.sum() == 0
    assert s.repairs.as_dict() == {"anomaly windows wholly in the probationary (training) part, not scored": 1}


def test_load_nab_keeps_rows_whose_time_steps_back_and_counts_them(tmp_path):
    root = _nab(tmp_path)
    p = root / "data" / "realX" / "a.csv.gz"
    lines = gzip.open(p, "rt").read().splitlines()
    lines[31] = lines[30].replace(lines[30].split(",")[1], "9.0")  # row 30 repeats row 29's timestamp
    with gzip.open(p, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    s = load_nab_series(root, "realX/a.csv")
    assert s.train.shape[0] + s.test.shape[0] == 100  # nothing dropped
    assert s.repairs.as_dict() == {"rows whose timestamp does not increase (kept in file order, as NAB scores them)": 1}


def test_load_nab_bad_value_names_the_line(tmp_path):
    root = _nab(tmp_path, bad=True)
    with pytest.raises(InputError, match="line 43"):
        load_nab_series(root, "realX/a.csv")
    with pytest.raises(InputError, match="not found"):
        load_nab_series(root, "realX/none.csv")


@pytest.mark.shared
@pytest.mark.skipif(not NAB.is_dir(), reason="../shared/data is absent")
def test_real_nab_subset_shares_inside_windows():
    files = list_nab_files(NAB)
    assert len(files) == 20
    s = load_nab_series(NAB, "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv")
    assert s.train.shape[0] + s.test.shape[0] == 4032
    # PROVENANCE: 0.0997 of the rows lie inside the windows of this file
    assert (s.labels.sum()) / 4032 == pytest.approx(0.0997, abs=0.002)


def _nab_spike(tmp_path: Path) -> Path:
    """Two 400-row files. b: noise, a jump inside its window (rows 250..269) and a false run of
    five rows at 150..154; c: no window, a false run at 300..303."""
    root = tmp_path / "nabspike"
    (root / "data" / "realY").mkdir(parents=True)
    ts = pd.date_range("2021-01-01", periods=400, freq="5min")
    for name, jumps in (("b", [(255, 262), (150, 155)]), ("c", [(300, 304)])):
        v = np.random.default_rng(len(name)).normal(10.0, 1.0, 400)
        for lo, hi in jumps:
            v[lo:hi] += 15.0
        with gzip.open(root / "data" / "realY" / f"{name}.csv.gz", "wt") as fh:
            fh.write("timestamp,value\n" + "\n".join(f"{t},{x:.4f}" for t, x in zip(ts, v)) + "\n")
    pd.DataFrame([{"file": "realY/b.csv", "kind": "window", "idx": 0, "start": str(ts[250]), "end": str(ts[269]),
                   "point": None}]).to_csv(root / "labels.csv.gz", index=False)
    return root


def test_evaluate_nab_scores_rows_and_onsets_as_the_scorer_does(tmp_path):
    from hpcopt.detect import make_detector
    from hpcopt.detect.evaluate import alert_metrics
    from hpcopt.detect.nab import evaluate_nab, nab_windows
    from hpcopt.detect.nab_score import alert_onsets, nab_score_file

    root = _nab_spike(tmp_path)
    det = make_detector("mad", random_state=0, level=0.90, smoothing=1)
    res = evaluate_nab(root, det, keep_arrays=True)
    fb, fc = res["files"]
    alerts = fb["_arrays"]["alerts"]
    assert alerts[255 - 60] == 1 and alerts[150 - 60:155 - 60].all()  # the jump and the false run (60 training rows)
    assert fc["_arrays"]["alerts"][300 - 60:304 - 60].all() and not fc["has_window"]
    raw_rows = {p: 0.0 for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")}
    raw_on = dict(raw_rows)
    for f, name in ((fb, "realY/b.csv"), (fc, "realY/c.csv")):
        wins, n = nab_windows(root, name)
        for prof in raw_rows:
            raw_rows[prof] += nab_score_file(f["_arrays"]["alerts"], wins, n, probation=60, profile=prof).raw
            raw_on[prof] += nab_score_file(alert_onsets(f["_arrays"]["alerts"]), wins, n, probation=60,
                                           profile=prof).raw
    for prof in raw_rows:
        assert res["nab"][prof]["raw"] == pytest.approx(raw_rows[prof])
        assert res["nab_onsets"][prof]["raw"] == pytest.approx(raw_on[prof])
        assert res["nab"][prof]["null"] == pytest.approx(-(2.0 if prof == "reward_low_FN_rate" else 1.0))
        # the false runs cost once per run as onsets, once per row as rows
        assert res["nab_onsets"][prof]["score"] > res["nab"][prof]["score"]
    assert res["nab"]["standard"]["windows_detected"] == 1
    # F1 and event recall: over the file with a window only; false alarms per day: over both
    assert res["n_files_with_windows"] == 1 and res["mean"]["f1"] == pytest.approx(fb["f1"])
    assert res["mean"]["false_alarms_per_day"] == pytest.approx((fb["false_alarms_per_day"]
                                                                 + fc["false_alarms_per_day"]) / 2)
    assert set(res["chance_shifted"]["nab"]) == set(raw_rows) and 0.0 <= res["chance_shifted"]["f1"] <= 1.0
    # DSPOT: the metrics are those of the DSPOT alerts, not of the fixed ones
    dres = evaluate_nab(root, det, adapt="dspot", adapt_params={"depth": 10, "min_peaks": 5}, keep_arrays=True)
    db = dres["files"][0]
    m = alert_metrics(np.asarray(load_nab_series(root, "realY/b.csv").labels), db["_arrays"]["scores"],
                      db["_arrays"]["alerts"], interval_s=300.0)
    assert db["f1"] == pytest.approx(m["f1"]) and dres["n_fixed_threshold_fallback"] == 0
    assert not np.array_equal(db["_arrays"]["alerts"], alerts)
    # too few calibration peaks: every file keeps its fixed alerts, and says so
    fres = evaluate_nab(root, det, adapt="spot", adapt_params={"min_peaks": 10_000}, keep_arrays=True)
    assert fres["n_fixed_threshold_fallback"] == 2 and all(f["fixed_threshold_fallback"] for f in fres["files"])
    np.testing.assert_array_equal(fres["files"][0]["_arrays"]["alerts"], alerts)
    assert fres["mean"]["f1"] == pytest.approx(res["mean"]["f1"])
    with pytest.raises(InputError, match="adapt must be"):
        evaluate_nab(root, det, adapt="fixed")


def test_detect_nab_cli(tmp_path, capsys):
    import json

    from hpcopt.cli import main

    root = _nab_spike(tmp_path)
    with pytest.raises(SystemExit) as ei:
        main(["detect", "nab", "--data", str(root), "--detector", "mad", "--threshold", "dspot", "--json"])
    out = json.loads(capsys.readouterr().out)["payload"]
    assert ei.value.code == 0 and out["threshold"] == "dspot"
    assert set(out["nab"]) == set(out["nab_onsets"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert out["n_files"] == 2 and out["mean"]["f1"] == out["files"][0]["f1"]
    assert set(out["chance_shifted"]["nab_onsets"]) == set(out["nab"])
    with pytest.raises(SystemExit) as ei:  # the table names the chance rows
        main(["detect", "nab", "--data", str(root), "--detector", "mad"])
    assert ei.value.code == 0 and "chance" in capsys.readouterr().out
    with pytest.raises(SystemExit) as ei:
        main(["detect", "nab", "--data", str(tmp_path / "nowhere"), "--json"])
    err = capsys.readouterr()
    assert ei.value.code == 2 and "no data/ folder" in err.out + err.err
