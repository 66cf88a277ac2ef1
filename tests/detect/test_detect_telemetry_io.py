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


# --------------------------------------------------------------------------- hardening (issue 10)


def _raw(p: Path, data: bytes) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_read_matrix_non_utf8_byte_names_the_cell(tmp_path):
    # was a UnicodeDecodeError traceback; Latin-1 is the stated fallback, then the cell is refused
    p = _raw(tmp_path / "m.txt", b"0.1,0.2\n0.3,0.\xe94\n")
    with pytest.raises(InputError) as ei:
        tm.read_matrix(p)
    assert ei.value.line == 2 and ei.value.field == "column 2" and "not a number" in str(ei.value)


def test_read_matrix_nul_byte_is_refused_not_truncating_the_number(tmp_path):
    p = _raw(tmp_path / "m.txt", b"0.1,0.2\n0.3,12\x0034\n")
    with pytest.raises(InputError, match="NUL") as ei:
        tm.read_matrix(p)
    assert ei.value.line == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "not_gzip"])
def test_read_matrix_damaged_gzip_is_an_input_error(tmp_path, damage):
    good = gzip.compress(("0.1,0.2\n" * 2000).encode())
    data = {"truncate": good[: len(good) // 2], "flip": good[:20] + bytes([good[20] ^ 0xFF]) + good[21:],
            "not_gzip": b"0.1,0.2\n"}[damage]
    p = _raw(tmp_path / "m.txt.gz", data)
    with pytest.raises(InputError) as ei:
        tm.read_matrix(p)
    assert ei.value.source == str(p)


@pytest.mark.parametrize("cell,problem", [("True", "not a number"), ("inf", "infinite"), ("-Infinity", "infinite"),
                                          ("1e999", "overflows"), ("0x10", "not a number"), ("1_0", "not a number"),
                                          ("\"1\"", "not a number"), ("\u0661", "not a number")])
def test_read_matrix_refuses_what_pandas_would_accept(tmp_path, cell, problem):
    p = _write(tmp_path / "m.txt", f"0.1,0.2\n0.3,{cell}\n")
    with pytest.raises(InputError, match=problem) as ei:
        tm.read_matrix(p)
    assert (ei.value.line, ei.value.field) == (2, "column 2")


def test_read_matrix_nan_is_missing_refused_or_filled_and_counted(tmp_path):
    p = _write(tmp_path / "m.txt", "0.1,0.2\nnan,0.4\n0.5,NaN\n")
    with pytest.raises(InputError, match="empty cell or NaN") as ei:
        tm.read_matrix(p)
    assert (ei.value.line, ei.value.field) == (2, "column 1")
    log = tm.RepairLog()
    np.testing.assert_array_equal(tm.read_matrix(p, missing="ffill", repairs=log), [[0.1, 0.2], [0.1, 0.4], [0.5, 0.4]])
    assert log.as_dict() == {"m.txt: empty or NaN cells forward-filled": 2}
    # a short row is ragged, never "missing" (it is not filled, even when asked)
    q = _write(tmp_path / "r.txt", "0.1,0.2\n0.3\n")
    with pytest.raises(InputError, match="1 fields, expected 2"):
        tm.read_matrix(q, missing="ffill", repairs=tm.RepairLog())
    with pytest.raises(InputError, match="empty line"):
        tm.read_matrix(_write(tmp_path / "e.txt", "0.1,0.2\n\n0.3,0.4\n"))
    with pytest.raises(InputError, match="no value at all"):
        tm.read_matrix(_write(tmp_path / "c.txt", "0.1,\n0.3,\n"), missing="ffill")


def test_read_matrix_fast_and_exact_paths_agree_on_crlf_and_spaces(tmp_path):
    a = tm.read_matrix(_raw(tmp_path / "a.txt", b"0.1, 0.2\r\n 1e-3,\t5.\r\n\r\n"))
    np.testing.assert_array_equal(a, [[0.1, 0.2], [0.001, 5.0]])


@pytest.mark.parametrize("text,what", [("0\n2\n", "label '2' is not 0 or 1"), ("0\n0.5\n", "label '0.5'"),
                                       ("0\nnan\n", "label 'nan'"), ("0\n\n1\n", "empty line"),
                                       ("0\nyes\n", "label 'yes'")])
def test_read_labels_refuses_values_other_than_0_1(tmp_path, text, what):
    with pytest.raises(InputError, match=what) as ei:
        tm.read_labels(_write(tmp_path / "l.txt", text))
    assert ei.value.line == 2
    np.testing.assert_array_equal(tm.read_labels(_write(tmp_path / "ok.txt", "0\n1.0\n1\n\n")), [0, 1, 1])


@pytest.mark.parametrize("line,what", [("3-x:1", "is not 'start-end"), ("5-3:1", "not after start"),
                                       ("3-11:1", "past the 10 test rows"), ("3-5:0", "outside 1..3"),
                                       ("3-5:4", "outside 1..3"), ("3-5:\u0661", "is not 'start-end"),
                                       ("3-5:1,,2", "empty metric number in '1,,2'"),
                                       ("3-5:1,2,", "empty metric number"), ("3-5:", "empty metric number"),
                                       ("3-5: 1 , 3", None)])
def test_read_interpretation_malformed_or_out_of_range(tmp_path, line, what):
    p = _write(tmp_path / "i.txt", "1-2:1\n" + line + "\n")
    if what is None:
        assert tm.read_interpretation(p, n_rows=10, n_metrics=3)[1] == tm.Segment(3, 5, (0, 2))
        return
    with pytest.raises(InputError, match=what) as ei:
        tm.read_interpretation(p, n_rows=10, n_metrics=3)
    assert ei.value.line == 2


def test_read_table_timestamps_must_strictly_increase(tmp_path):
    with pytest.raises(InputError, match="duplicated") as ei:
        tm.read_table(_write(tmp_path / "d.csv", "t,a\n1,2\n2,3\n2,4\n"), timestamp="t")
    assert (ei.value.line, ei.value.field) == (4, "column 't'")
    with pytest.raises(InputError, match="goes back in time") as ei:
        tm.read_table(_write(tmp_path / "b.csv", "t,a\n1,2\n3,3\n2,4\n"), timestamp="t")
    assert ei.value.line == 4
    iso = tm.read_table(_write(tmp_path / "i.csv", "t,a\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,2\n"),
                        timestamp="t")
    assert iso.index.tolist() == [1704067200.0, 1704067260.0]
    with pytest.raises(InputError, match="not a number or an ISO 8601 time"):
        tm.read_table(_write(tmp_path / "x.csv", "t,a\n1,2\nsoon,3\n"), timestamp="t")


@pytest.mark.parametrize("text,what,line", [("t,a\n1,2\n2,3,4\n", "3 fields, the header has 2", 3),
                                            ("t,a\n1,2\n2\n", "1 fields, the header has 2", 3),
                                            ("t,t\n1,2\n", "appears twice", 1), ("t,,a\n1,2,3\n", "no name", 1),
                                            ("t,a\n1,inf\n", "infinite", 2), ("t,a\n1,\"2\n", "not valid CSV", 3)])
def test_read_table_ragged_rows_and_header_problems(tmp_path, text, what, line):
    with pytest.raises(InputError, match=what) as ei:
        tm.read_table(_write(tmp_path / "t.csv", text), timestamp="t")
    assert ei.value.line == line


def test_read_table_damaged_parquet_is_an_input_error(tmp_path):
    df = pd.DataFrame({"t": [1.0, 2.0], "a": [1.0, np.inf]})
    df.to_parquet(tmp_path / "x.parquet")
    with pytest.raises(InputError, match="infinite") as ei:
        tm.read_table(tmp_path / "x.parquet", timestamp="t")
    assert ei.value.line == 2 and ei.value.field == "column 'a'"
    raw = (tmp_path / "x.parquet").read_bytes()
    _raw(tmp_path / "cut.parquet", raw[: len(raw) // 2])
    with pytest.raises(InputError, match="not a readable Parquet file"):
        tm.read_table(tmp_path / "cut.parquet")


_LDMS_HEAD = "#Time,Time_usec,ProducerName,component_id,job_id,app_id,A,B\n"


@pytest.mark.parametrize("body,what,line", [("10.0,0,n1,1,0,0,1,2,3\n", "9 fields, the header has 8", 2),
                                            ("10.0,0,n1,1,0,0,1,abc\n", "'abc' is not a number", 2),
                                            ("10.0,0,n1,1,0,0,1,inf\n", "infinite", 2),
                                            ("soon,0,n1,1,0,0,1,2\n", "'soon' is not a number", 2),
                                            ("11.0,0,n1,1,0,0,1,2\n10.0,0,n1,1,0,0,1,2\n", "earlier than", 3)])
def test_ldms_rows_that_are_refused(tmp_path, body, what, line):
    p = _write(tmp_path / "l.csv", _LDMS_HEAD + body)
    with pytest.raises(InputError, match=what) as ei:
        tm.read_ldms_csv(p)
    assert ei.value.line == line


def test_ldms_header_problems_and_out_of_order_repair(tmp_path):
    for head, what in (("Time,A\n", "#Time"), ("#Time,A,A\n", "appears twice"), ("#Time,,A\n", "no name")):
        with pytest.raises(InputError, match=what):
            tm.read_ldms_csv(_write(tmp_path / "h.csv", head + "1.0,2,3\n"))
    p = _write(tmp_path / "o.csv", _LDMS_HEAD + "11.0,0,n1,1,0,0,3,4\n10.0,0,n1,1,0,0,1,2\n")
    log = tm.RepairLog()
    df = tm.read_ldms_csv(p, repairs=log)
    assert df.index.tolist() == [10.0, 11.0] and df["A"].tolist() == [1.0, 3.0]
    assert log.as_dict() == {"o.csv: rows re-sorted by Time": 1}


def test_read_jsonl_file(tmp_path):
    p = _write(tmp_path / "x.jsonl", '{"timestamp": 1, "metrics": {"a": 1, "b": 2}}\n'
                                     '{"timestamp": 2, "metrics": {"a": 3, "b": null}}\n')
    with pytest.raises(InputError, match="empty cell or NaN") as ei:
        tm.read_jsonl(p)
    assert (ei.value.line, ei.value.field) == (2, "column 'b'")
    log = tm.RepairLog()
    df = tm.read_jsonl(p, missing="ffill", repairs=log)
    assert df.to_dict("list") == {"a": [1.0, 3.0], "b": [2.0, 2.0]} and df.index.tolist() == [1.0, 2.0]
    bad = {
        '{"values": [1, NaN]}\n': "NaN is not valid JSON",
        '{"values": [1, 2]}\n{"values": [1]}\n': "1 values, expected 2",
        '{"values": [1, "x"]}\n': "is not a number",
        '{"values": [1, true]}\n': "true is not a number",
        '{"values": [1, 1e999]}\n': "overflows",
        '{"timestamp": 2, "values": [1]}\n{"timestamp": 1, "values": [1]}\n': "goes back in time",
        '{"entity": "a", "values": [1]}\n{"entity": "b", "values": [1]}\n': "one file, one entity",
        '{"values": [1]}\n{"metrics": {"a": 1}}\n': "has 'metrics' but line 1 has 'values'",
        '[1, 2]\n': "must be a JSON object",
        '{"values": [1]\n': "not JSON",
    }
    for text, what in bad.items():
        with pytest.raises(InputError, match=what):
            tm.read_jsonl(_write(tmp_path / "b.jsonl", text))


def test_iter_jsonl_samples_takes_bytes_and_names_bad_lines():
    lines = [b'{"values": [1]}', b'{"values": [\xe9]}', b'']
    it = tm.iter_jsonl_samples(lines, source="s")
    assert next(it) == (1, {"values": [1]})
    with pytest.raises(InputError) as ei:
        next(it)
    assert ei.value.line == 2
    with pytest.raises(InputError, match="NUL") as ei:
        list(tm.iter_jsonl_samples([b'{"values": [1]}\x00'], source="s"))


def test_detect_format_and_read_telemetry(tmp_path):
    m = _write(tmp_path / "m.txt", "0.1,0.2\n0.3,0.4\n")
    c = _write(tmp_path / "c.csv", "timestamp,node_id,cpu,mem\n1,n1,0.1,0.2\n2,n1,0.3,0.4\n")
    l = _write(tmp_path / "l.csv", "#Time,Time_usec,ProducerName,component_id,job_id,app_id,cpu,mem\n"
                                   "1.0,0,n1,1,0,0,0.1,0.2\n2.0,0,n1,1,0,0,0.3,0.4\n")
    j = _write(tmp_path / "j.jsonl", '{"metrics": {"cpu": 0.1, "mem": 0.2}}\n{"metrics": {"cpu": 0.3, "mem": 0.4}}\n')
    pd.DataFrame({"cpu": [0.1, 0.3], "mem": [0.2, 0.4]}).to_parquet(tmp_path / "p.parquet")
    for path, fmt in ((m, "matrix"), (c, "csv"), (l, "ldms"), (j, "jsonl"), (tmp_path / "p.parquet", "parquet")):
        assert tm.detect_format(path) == fmt
        tel = tm.read_telemetry(path)
        assert tel.format == fmt
        np.testing.assert_array_equal(tel.values, [[0.1, 0.2], [0.3, 0.4]])
        assert tel.metric_names == (None if fmt == "matrix" else ["cpu", "mem"])
    assert tm.read_telemetry(c).time.tolist() == [1.0, 2.0]
    two = _write(tmp_path / "two.csv", "timestamp,node_id,cpu\n1,n1,0.1\n2,n2,0.3\n")
    with pytest.raises(InputError, match="several entities"):
        tm.read_telemetry(two)
    from hpcopt.errors import ConfigError

    with pytest.raises(ConfigError, match="--format must be one of"):
        tm.read_telemetry(m, format="xml")


def test_hpas_labels_are_checked(tmp_path):
    from hpcopt.detect.hpas import load_hpas_labels

    head = "run_id,app,n_anomalies,included,anomaly,start_s,end_s\n"
    ok = "A,A,0,True,none,,\nA_ML,A,1,True,memleak,10,20\n"
    for bad, what in (("A_ML,A,1,True,memleak,20,10\n", "needs 0 <= start_s < end_s"),
                      ("A_ML,A,1,True,memleak,10,inf\n", "infinite"), ("A_ML,A,one,True,memleak,10,20\n", "whole number"),
                      ("A_ML,A,1,yes,memleak,10,20\n", "not True or False"), ("../x,A,1,True,memleak,10,20\n", "folder name"),
                      ("A_ML,A,1,True,memleak,,20\n", "needs its window")):
        with gzip.open(tmp_path / "labels.csv.gz", "wt") as fh:
            fh.write(head + ok + bad)
        with pytest.raises(InputError, match=what) as ei:
            load_hpas_labels(tmp_path)
        assert ei.value.line == 4
    with gzip.open(tmp_path / "labels.csv.gz", "wt") as fh:
        fh.write(head + ok)
    lab = load_hpas_labels(tmp_path)
    assert lab["end_s"].tolist()[1] == 20.0 and lab["n_anomalies"].tolist() == [0, 1]


def test_nab_files_are_checked(tmp_path):
    from hpcopt.detect.nab import load_nab_series

    (tmp_path / "data" / "g").mkdir(parents=True)
    rows = "".join(f"2014-02-14 {h:02d}:{m:02d}:00,{h + m / 60:.3f}\n" for h in range(10) for m in range(0, 60, 5))
    (tmp_path / "data" / "g" / "f.csv").write_text("timestamp,value\n" + rows)
    lab = "file,kind,idx,start,end,point\n"
    with gzip.open(tmp_path / "labels.csv.gz", "wt") as fh:
        fh.write(lab + "g/f.csv,window,0,2014-02-14 05:00:00.000000,2014-02-14 06:00:00.000000,\n")
    s = load_nab_series(tmp_path, "g/f.csv")
    assert s.labels.sum() == 13
    with gzip.open(tmp_path / "labels.csv.gz", "wt") as fh:
        fh.write(lab + "g/f.csv,window,0,yesterday,2014-02-14 06:00:00.000000,\n")
    with pytest.raises(InputError, match="'yesterday' is not a date-time") as ei:
        load_nab_series(tmp_path, "g/f.csv")
    assert ei.value.line == 2
    with gzip.open(tmp_path / "labels.csv.gz", "wt") as fh:
        fh.write(lab + "g/f.csv,window,0,2014-02-14 06:00:00,2014-02-14 05:00:00,\n")
    with pytest.raises(InputError, match="ends before it starts"):
        load_nab_series(tmp_path, "g/f.csv")
    with gzip.open(tmp_path / "labels.csv.gz", "wt") as fh:
        fh.write(lab)
    (tmp_path / "data" / "g" / "f.csv").write_text("timestamp,value\n" + rows + "2014-02-14 11:00:00,inf\n")
    with pytest.raises(InputError, match="infinite") as ei:
        load_nab_series(tmp_path, "g/f.csv")
    assert ei.value.line == 122 and ei.value.field == "column 'value'"
    (tmp_path / "data" / "g" / "f.csv").write_bytes(b"timestamp,value\n2014-02-14 11:00:00,1\xff\n")
    with pytest.raises(InputError, match="not a number"):
        load_nab_series(tmp_path, "g/f.csv")


def test_jsonl_values_lines_have_numbered_metrics(tmp_path):
    p = _write(tmp_path / "v.jsonl", '{"values": [1, 2]}\n{"values": [3, 4]}\n')
    tel = tm.read_telemetry(p)
    assert tel.format == "jsonl" and tel.metric_names is None and tel.metric_label(1) == 2
    np.testing.assert_array_equal(tel.values, [[1.0, 2.0], [3.0, 4.0]])


def test_hpas_run_with_a_damaged_sampler_file_names_it(tmp_path):
    from hpcopt.detect.hpas import hpas_run_features

    src = Path(__file__).resolve().parents[1] / "data" / "telemetry" / "hpas" / "runs" / "ExaMiniMD" / "meminfo.csv.gz"
    run = tmp_path / "run"
    raw = src.read_bytes()
    _raw(run / "meminfo.csv.gz", raw[: len(raw) - 40])  # cut short: the gzip stream ends early
    with pytest.raises(InputError, match="truncated") as ei:
        hpas_run_features(run, files=("meminfo",))
    assert ei.value.source == str(run / "meminfo.csv.gz")
    _raw(run / "meminfo.csv.gz", raw)
    X = hpas_run_features(run, files=("meminfo",), repairs=tm.RepairLog())
    assert X.shape[0] == 60 and np.isfinite(X.to_numpy()).all()


def test_ldms_line_cut_after_a_comma_is_a_truncated_row_not_an_empty_cell(tmp_path):
    # the real vmstat.csv.gz of the ExaMiniMD run ends so: all fields there, the last ones empty
    p = _write(tmp_path / "v.csv", _LDMS_HEAD + "10.0,0,n1,1,0,0,1,2\n11.0,0,n1,1,0,0,3,\n")
    with pytest.raises(InputError, match="truncated row \\(1 trailing") as ei:
        tm.read_ldms_csv(p)
    assert ei.value.line == 3
    log = tm.RepairLog()
    assert tm.read_ldms_csv(p, repairs=log).index.tolist() == [10.0]
    assert log.as_dict() == {"v.csv: truncated rows dropped": 1}
    q = _write(tmp_path / "h.csv", _LDMS_HEAD + "10.0,0,n1,1,0,0,1,2\n11.0,0,n1,1,0,0,,4\n")
    with pytest.raises(InputError, match="empty cell"):
        tm.read_ldms_csv(q)


# --------------------------------------------------------------------------- the value rule (issue 10)
# A telemetry value is a finite number with magnitude below 2**64; a timestamp is also >= 0.

_BIG = str(2**70)  # finite as a float, past any u64 counter


@pytest.mark.parametrize("cell", ["1e308", _BIG, "-" + _BIG, "18446744073709551616", "-1.8446744073709552e19"])
def test_values_of_magnitude_2_64_or_more_are_refused_by_every_reader(tmp_path, cell):
    # the same cell rule in the matrix (both its paths), tables, LDMS, JSON lines and HPAS runs
    for text in (f"0.1,0.2\n0.3,{cell}\n", f"0.1,0.2\n0.3, {cell}\n0.5,abc\n"):  # pandas' fast path / the exact scan
        with pytest.raises(InputError, match="magnitude 2\\*\\*64 or more") as ei:
            tm.read_matrix(_write(tmp_path / "m.txt", text))
        assert (ei.value.source, ei.value.line, ei.value.field) == (str(tmp_path / "m.txt"), 2, "column 2")
    with pytest.raises(InputError, match="magnitude") as ei:
        tm.read_table(_write(tmp_path / "t.csv", f"t,node,a\n1,n1,2\n2,n1,{cell}\n"), timestamp="t",
                      text_columns=["node"])
    assert (ei.value.line, ei.value.field) == (3, "column 'a'")
    with pytest.raises(InputError, match="magnitude") as ei:
        tm.read_ldms_csv(_write(tmp_path / "l.csv", _LDMS_HEAD + f"10.0,0,n1,1,0,0,1,2\n11.0,0,n1,1,0,0,{cell},4\n"),
                         repairs=tm.RepairLog())  # no repair applies to a damaged value
    assert (ei.value.line, ei.value.field) == (3, "column 'A'")
    with pytest.raises(InputError, match="magnitude") as ei:
        tm.read_jsonl(_write(tmp_path / "j.jsonl", f'{{"values": [1, 2]}}\n{{"values": [3, {cell}]}}\n'))
    assert (ei.value.line, ei.value.field) == (2, "values[1]")


def test_the_bound_is_2_64_exclusive_and_parquet_floats_follow_it(tmp_path):
    below = 2.0**64 - 2.0**12  # the largest float below 2**64
    np.testing.assert_array_equal(tm.read_matrix(_write(tmp_path / "m.txt", f"{below!r},-{below!r}\n")),
                                  [[below, -below]])
    df = pd.DataFrame({"t": [1.0, 2.0], "a": [1.0, 2.0**64], "b": [np.nan, 1.0]})
    df.to_parquet(tmp_path / "x.parquet")
    with pytest.raises(InputError, match="magnitude") as ei:
        tm.read_table(tmp_path / "x.parquet", timestamp="t", missing="ffill", repairs=tm.RepairLog())
    assert (ei.value.line, ei.value.field) == (2, "column 'a'")
    # a uint64 column cannot exceed the bound; NaN stays a missing value (filled and counted)
    pd.DataFrame({"t": [1.0, 2.0], "a": np.array([2**64 - 1, 5], dtype=np.uint64), "b": [np.nan, 1.0]}).to_parquet(
        tmp_path / "u.parquet")
    log = tm.RepairLog()
    out = tm.read_table(tmp_path / "u.parquet", timestamp="t", missing="ffill", repairs=log)
    assert out["a"].tolist() == [float(2**64 - 1), 5.0] and out["b"].tolist() == [1.0, 1.0] and sum(log.as_dict().values()) == 1


def test_hpas_run_with_a_value_past_2_64_names_file_line_and_column(tmp_path):
    from hpcopt.detect.hpas import hpas_run_features

    src = Path(__file__).resolve().parents[1] / "data" / "telemetry" / "hpas" / "runs" / "ExaMiniMD" / "meminfo.csv.gz"
    lines = gzip.decompress(src.read_bytes()).decode().split("\n")
    cells = lines[5].split(",")
    cells[7] = _BIG
    lines[5] = ",".join(cells)
    run = tmp_path / "run"
    _raw(run / "meminfo.csv.gz", gzip.compress("\n".join(lines).encode()))
    name = lines[0].lstrip("#").split(",")[7]
    with pytest.raises(InputError, match="magnitude") as ei:
        hpas_run_features(run, files=("meminfo",), repairs=tm.RepairLog())
    assert (ei.value.source, ei.value.line, ei.value.field) == (str(run / "meminfo.csv.gz"), 6, f"column {name!r}")


@pytest.mark.parametrize("ts,what", [("-5", "timestamp '-5' is negative"), ("1e308", "magnitude"),
                                     ("1969-12-31T23:59:59Z", "is negative")])
def test_table_and_ldms_timestamps_are_non_negative_seconds_since_the_epoch(tmp_path, ts, what):
    with pytest.raises(InputError, match=what) as ei:
        later = "1970-01-02T00:00:00Z" if "T" in ts else "5"  # one column is numbers or ISO times
        tm.read_table(_write(tmp_path / "t.csv", f"t,a\n{ts},1\n{later},2\n"), timestamp="t")
    assert (ei.value.line, ei.value.field) == (2, "column 't'")
    if "T" not in ts:  # LDMS Time is a number
        with pytest.raises(InputError, match=what) as ei:
            tm.read_ldms_csv(_write(tmp_path / "l.csv", _LDMS_HEAD + f"{ts},0,n1,1,0,0,1,2\n"))
        assert (ei.value.line, ei.value.field) == (2, "column 'Time'")
    # 0 (the epoch itself) and ISO times after it are fine
    out = tm.read_table(_write(tmp_path / "ok.csv", "t,a\n1970-01-01T00:00:00Z,1\n1970-01-01T00:00:05Z,2\n"),
                       timestamp="t")
    assert out.index.tolist() == [0.0, 5.0]


@pytest.mark.parametrize("ts,what", [("-5", "timestamp -5 is negative"), ("-0.5", "is negative"),
                                     (_BIG, "magnitude"), ("1e999", "overflows"), ("NaN", "not valid JSON"),
                                     ('"soon"', "is not a number")])
def test_jsonl_file_timestamps_are_non_negative_finite_numbers(tmp_path, ts, what):
    p = _write(tmp_path / "j.jsonl", f'{{"timestamp": 0, "values": [1]}}\n{{"timestamp": {ts}, "values": [2]}}\n')
    with pytest.raises(InputError, match=what) as ei:
        tm.read_jsonl(p)
    assert (ei.value.source, ei.value.line) == (str(p), 2)
