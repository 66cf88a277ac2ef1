"""Readers of hpcopt.data.telemetry: SMD layout, labels, interpretation, long/wide, rates, LDMS, Prometheus."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpcopt.data import telemetry as tm
from hpcopt.errors import InputError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")


def _write(p: Path, text: str, gz: bool = False) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        p = p.with_name(p.name + ".gz")
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


def test_read_matrix_plain_and_gzip_agree(tmp_path):
    text = "0.1,0.2\n0.3,0.4\n"
    a = tm.read_matrix(_write(tmp_path / "a.txt", text))
    b = tm.read_matrix(_write(tmp_path / "b.txt", text, gz=True))
    np.testing.assert_array_equal(a, [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(a, b)
    # x.txt resolves to x.txt.gz
    np.testing.assert_array_equal(tm.read_matrix(tmp_path / "b.txt"), a)


def test_read_matrix_non_numeric_names_line_and_column(tmp_path):
    p = _write(tmp_path / "m.txt", "0.1,0.2\n0.3,abc\n")
    with pytest.raises(InputError) as ei:
        tm.read_matrix(p)
    assert ei.value.line == 2 and ei.value.field == "column 2" and "'abc'" in str(ei.value)


def test_read_matrix_ragged_row(tmp_path):
    p = _write(tmp_path / "m.txt", "0.1,0.2\n0.3,0.4,0.5\n")
    with pytest.raises(InputError) as ei:
        tm.read_matrix(p)
    assert ei.value.line == 2


def test_read_matrix_gap_errors_or_is_repaired_and_counted(tmp_path):
    p = _write(tmp_path / "m.txt", "0.1,0.2\n,0.4\n0.5,0.6\n")
    with pytest.raises(InputError) as ei:
        tm.read_matrix(p)
    assert ei.value.line == 2 and ei.value.field == "column 1"
    log = tm.RepairLog()
    a = tm.read_matrix(p, missing="ffill", repairs=log)
    np.testing.assert_array_equal(a[:, 0], [0.1, 0.1, 0.5])
    assert sum(log.as_dict().values()) == 1


def test_read_matrix_column_count_checked(tmp_path):
    p = _write(tmp_path / "m.txt", "1,2,3\n")
    with pytest.raises(InputError, match="3 columns, expected 2"):
        tm.read_matrix(p, n_columns=2)


def test_read_labels_length_mismatch(tmp_path):
    p = _write(tmp_path / "l.txt", "0\n1\n1\n")
    np.testing.assert_array_equal(tm.read_labels(p, n_rows=3), [0, 1, 1])
    with pytest.raises(InputError, match="3 labels for 4 test rows"):
        tm.read_labels(p, n_rows=4)
    with pytest.raises(InputError, match="not 0 or 1"):
        tm.read_labels(_write(tmp_path / "bad.txt", "0\n2\n"))


def test_read_interpretation_is_zero_based_exclusive_and_metrics_zero_based(tmp_path):
    p = _write(tmp_path / "i.txt", "3-5:1,3\n7-8:2\n")
    segs = tm.read_interpretation(p, n_rows=10, n_metrics=3)
    assert segs == [tm.Segment(3, 5, (0, 2)), tm.Segment(7, 8, (1,))]
    with pytest.raises(InputError, match="1-based"):
        tm.read_interpretation(_write(tmp_path / "z.txt", "3-5:0\n"), n_metrics=3)
    with pytest.raises(InputError, match="past the 4"):
        tm.read_interpretation(p, n_rows=4)
    with pytest.raises(InputError) as ei:
        tm.read_interpretation(_write(tmp_path / "q.txt", "3-5:1\nxx\n"))
    assert ei.value.line == 2


def test_label_segments_hand_case():
    assert tm.label_segments(np.array([0, 1, 1, 0, 1])) == [(1, 3), (4, 5)]
    assert tm.label_segments(np.array([1, 1])) == [(0, 2)]
    assert tm.label_segments(np.array([], dtype=int)) == []


def test_load_labelled_series_layout(tmp_path):
    _write(tmp_path / "train" / "e1.txt", "0,1\n1,0\n0,1\n", gz=True)
    _write(tmp_path / "test" / "e1.txt", "0,1\n5,5\n", gz=True)
    _write(tmp_path / "test_label" / "e1.txt", "0\n1\n", gz=True)
    _write(tmp_path / "interpretation_label" / "e1.txt", "1-2:2\n", gz=True)
    assert tm.list_entities(tmp_path) == ["e1"]
    s = tm.load_labelled_series(tmp_path, "e1")
    assert s.train.shape == (3, 2) and s.test.shape == (2, 2)
    assert s.labels.tolist() == [0, 1] and s.interpretation == [tm.Segment(1, 2, (1,))]
    _write(tmp_path / "test_label" / "e1.txt", "0\n1\n0\n", gz=True)
    with pytest.raises(InputError, match="3 labels for 2 test rows"):
        tm.load_labelled_series(tmp_path, "e1")


def test_long_wide_round_trip_and_duplicates():
    wide = pd.DataFrame({"cpu": [1.0, 2.0], "mem": [3.0, 4.0]}, index=[10.0, 20.0])
    long = tm.to_long(wide, entity="n1")
    assert list(long.columns) == ["timestamp", "entity", "metric", "value"] and len(long) == 4
    back = tm.to_wide(long)["n1"]
    pd.testing.assert_frame_equal(back, wide, check_names=False, check_index_type=False)
    dup = pd.concat([long, long.iloc[[0]].assign(value=3.0)], ignore_index=True)
    with pytest.raises(InputError, match="duplicated timestamp"):
        tm.to_wide(dup)
    log = tm.RepairLog()
    merged = tm.to_wide(dup, duplicates="mean", repairs=log)["n1"]
    assert merged.loc[10.0, "cpu"] == 2.0 and sum(log.as_dict().values()) == 1
    bad = long.assign(value=long["value"].astype(object))
    bad.loc[2, "value"] = "x"
    with pytest.raises(InputError, match="not a number"):
        tm.to_wide(bad)


def test_counters_to_rates_with_reset():
    w = pd.DataFrame({"c": [100.0, 110.0, 130.0, 5.0]}, index=[0.0, 1.0, 3.0, 4.0])
    log = tm.RepairLog()
    r = tm.counters_to_rates(w, repairs=log)
    np.testing.assert_allclose(r["c"].to_numpy(), [10.0, 10.0, 5.0])
    assert log.as_dict() == {"counter resets in c": 1}
    with pytest.raises(InputError, match="does not increase"):
        tm.counters_to_rates(pd.DataFrame({"c": [1.0, 2.0]}, index=[1.0, 1.0]))


def test_resample_nearest_alignment_avoids_jitter_gaps():
    w = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}, index=[100.002, 100.9995, 102.003, 102.9990])
    with pytest.raises(InputError, match="gap"):
        tm.resample(w, 1.0, how="last")  # floor bins: 100, 100, 102, 102 -> bin 101 empty
    r = tm.resample(w, 1.0, how="last", align="nearest")
    assert r["a"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_resample_mean_and_gap():
    w = pd.DataFrame({"a": [1.0, 3.0, 5.0, 7.0]}, index=[0.0, 0.5, 1.2, 3.1])
    with pytest.raises(InputError, match="gap of 1"):
        tm.resample(w, 1.0)
    log = tm.RepairLog()
    r = tm.resample(w, 1.0, max_gap=1, repairs=log)
    np.testing.assert_allclose(r["a"].to_numpy(), [2.0, 5.0, 6.0, 7.0])
    np.testing.assert_allclose(r.index.to_numpy(), [0.0, 1.0, 2.0, 3.0])
    assert log.as_dict() == {"empty bins interpolated": 1}


def test_prometheus_parse_and_write_round_trip():
    text = """# HELP node_load1 1m load
# TYPE node_load1 gauge
node_load1{instance="n1"} 0.5 1700000000000
node_cpu_seconds_total{instance="n1",mode="idle",cpu="0"} 123.25
node_up 1
"""
    df = tm.parse_prometheus_text(text, default_timestamp=5.0)
    assert df["metric"].tolist() == ["node_load1", 'node_cpu_seconds_total{cpu="0",mode="idle"}', "node_up"]
    assert df["entity"].tolist() == ["n1", "n1", ""]
    assert df["timestamp"].tolist() == [1700000000.0, 5.0, 5.0]
    assert df["value"].tolist() == [0.5, 123.25, 1.0]
    out = tm.write_prometheus_text({"hpcopt_score": ("anomaly score", [({"entity": 'a"b'}, 1.5)])})
    back = tm.parse_prometheus_text(out, entity_label="entity")
    assert back["entity"].tolist() == ['a"b'] and back["value"].tolist() == [1.5]  # escapes undone
    with pytest.raises(InputError) as ei:
        tm.parse_prometheus_text("ok 1\nnot a line\n")
    assert ei.value.line == 2
    with pytest.raises(InputError, match="not a number"):
        tm.parse_prometheus_text("x{a=\"1\"} abc\n")


def test_ldms_csv_reader(tmp_path):
    p = _write(tmp_path / "meminfo.csv", "#Time,Time_usec,ProducerName,component_id,job_id,app_id,MemFree,Cached,\n"
               "10.0,0,n1,1,0,0,100,5,\n11.0,0,n1,1,0,0,90,6,\n")
    df = tm.read_ldms_csv(p)
    assert list(df.columns) == ["MemFree", "Cached"] and df.index.tolist() == [10.0, 11.0]
    p2 = _write(tmp_path / "dup.csv", "#Time,Time_usec,ProducerName,component_id,job_id,app_id,A\n"
                "10.0,0,n1,1,0,0,1\n10.0,0,n1,1,0,0,2\n")
    with pytest.raises(InputError, match="duplicated timestamp"):
        tm.read_ldms_csv(p2)
    log = tm.RepairLog()
    assert tm.read_ldms_csv(p2, repairs=log)["A"].tolist() == [2.0]
    p3 = _write(tmp_path / "trunc.csv", "#Time,Time_usec,ProducerName,component_id,job_id,app_id,A,B\n"
                "10.0,0,n1,1,0,0,1,2\n11.0,0,ubuntu\n12.0,0,n1,1,0,0,3,4\n13.0,0,n1,1,0,0,5\n")
    with pytest.raises(InputError) as ei:
        tm.read_ldms_csv(p3)
    assert ei.value.line == 3 and "truncated" in str(ei.value)
    log = tm.RepairLog()
    assert tm.read_ldms_csv(p3, repairs=log)["A"].tolist() == [1.0, 3.0]
    assert log.as_dict() == {"trunc.csv: truncated rows dropped": 2}
    p4 = _write(tmp_path / "hole.csv", "#Time,Time_usec,ProducerName,component_id,job_id,app_id,A,B\n"
                "10.0,0,n1,1,0,0,1,2\n11.0,0,n1,1,0,0,,3\n")
    with pytest.raises(InputError, match="empty cell"):
        tm.read_ldms_csv(p4)
    log = tm.RepairLog()
    assert tm.read_ldms_csv(p4, repairs=log)["A"].tolist() == [1.0, 1.0]
    with pytest.raises(InputError, match="#Time"):
        tm.read_ldms_csv(_write(tmp_path / "x.csv", "a,b\n1,2\n"))


def test_read_table_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"t": [1.0, 2.0], "a": [1.0, 2.0]})
    df.to_parquet(tmp_path / "x.parquet")
    df.to_csv(tmp_path / "x.csv", index=False)
    for name in ("x.parquet", "x.csv"):
        assert tm.read_table(tmp_path / name, timestamp="t")["a"].tolist() == [1.0, 2.0]
    (tmp_path / "bad.csv").write_text("t,a\n1,2\n2,zz\n")
    with pytest.raises(InputError) as ei:
        tm.read_table(tmp_path / "bad.csv", timestamp="t")
    assert ei.value.line == 3


@pytest.mark.shared
@needs_shared
def test_shared_smd_machine_shapes_and_label_agreement():
    s = tm.load_labelled_series(SHARED / "smd", "machine-3-4")
    assert s.train.shape == (23687, 38) and s.test.shape == (23687, 38)
    assert abs(s.labels.mean() - 0.0412) < 1e-3
    # every interpretation segment lies inside labelled rows (0-based, exclusive end)
    for seg in s.interpretation:
        assert s.labels[seg.start:seg.end].all()
    assert s.interval_s == 60.0


@pytest.mark.shared
@needs_shared
def test_shared_ldms_and_e2ewatch_files():
    run = SHARED / "hpas_ldms" / "runs" / "ExaMiniMD"
    log = tm.RepairLog()
    mem = tm.read_ldms_csv(run / "meminfo.csv.gz", repairs=log)
    # the source file has one line cut short (its last 5 values missing): dropped and counted
    assert mem.shape == (1036, 55) and "MemAvailable" in mem.columns
    assert log.as_dict() == {"meminfo.csv.gz: truncated rows dropped": 1}
    with pytest.raises(InputError, match="truncated row"):
        tm.read_ldms_csv(run / "meminfo.csv.gz")
    e2e = tm.read_table(SHARED / "formats" / "ldms_cray_aries_sample_e2ewatch.csv.gz", timestamp="timestamp",
                         text_columns=["node_id"])
    assert e2e.shape == (5, 133) and e2e["job_id"].dtype.kind in "if"
