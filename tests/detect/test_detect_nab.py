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
