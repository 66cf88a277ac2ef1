import gzip

import numpy as np
import pytest

from hpcopt.data import load_workload, read_swf, write_swf
from hpcopt.data.swf import parse_swf
from hpcopt.errors import InputError

GOOD = """; Version: 2.2
; MaxNodes: 4
; MaxProcs: 8
; UnixStartTime: 1000
1 0 5 100 4 -1 -1 4 200 -1 1 1 1 -1 -1 -1 -1 -1
2 10 0 50 2 -1 -1 -1 -1 -1 1 2 1 -1 -1 -1 -1 -1

3 20 0 0 8 -1 -1 8 60 -1 0 1 1 -1 -1 -1 -1 -1
"""


def write(tmp_path, text, name="t.swf"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_fields_header_and_skips_blank_lines(tmp_path):
    w = read_swf(write(tmp_path, GOOD))
    assert len(w) == 3
    assert w.max_procs == 8 and w.max_nodes == 4 and w.unix_start_time == 1000
    assert w.machine_procs() == 8
    np.testing.assert_array_equal(w.column("runtime"), [100, 50, 0])
    np.testing.assert_array_equal(w.column("req_procs"), [4, -1, 8])
    assert w.column("job_id").dtype == np.int64


def test_round_trip_through_gzip(tmp_path):
    w = read_swf(write(tmp_path, GOOD))
    out = write_swf(w, tmp_path / "copy.swf.gz")
    back = read_swf(out)
    assert back.header["MaxProcs"] == "8"
    for c in ("submit", "runtime", "alloc_procs", "req_time", "user"):
        np.testing.assert_array_equal(back.column(c), w.column(c))


def test_summary_counts_load_and_fields(tmp_path):
    s = read_swf(write(tmp_path, GOOD)).summary()
    assert s["jobs"] == 3 and s["span_s"] == 20
    # (100*4 + 50*2 + 0) / (20 * 8)
    assert s["offered_load"] == pytest.approx(500 / 160)
    assert s["has_users"] and s["has_requested_time"]
    assert "cpu_time" in s["fields_absent"]


def test_procs_fallbacks(tmp_path):
    text = GOOD.replace("; MaxProcs: 8\n", "")
    assert read_swf(write(tmp_path, text)).machine_procs() == 4
    text = text.replace("; MaxNodes: 4\n", "")
    assert read_swf(write(tmp_path, text)).machine_procs() == 8  # the largest job


@pytest.mark.parametrize(
    "line, message",
    [
        ("4 30 0 abc 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1", "line 9, field 4 (run time): 'abc' is not a number"),
        ("4 30 0 10 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1", "line 9: has 16 fields"),
        ("4 -30 0 10 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1", "line 9, field 2 (submit time): '-30' is negative"),
        ("4 30 0 10 1.5 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1", "field 5 (allocated processors): '1.5' is not an integer"),
        ("4 30 0 nan 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1", "field 4 (run time): 'nan' is not a finite number"),
        ("4 30 0 10 -5 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1", "field 5 (allocated processors): '-5' is negative"),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path, line, message):
    p = write(tmp_path, GOOD + line + "\n")
    with pytest.raises(InputError) as err:
        read_swf(p)
    assert str(err.value).startswith(str(p))
    assert message in str(err.value)


def test_empty_and_header_only_files(tmp_path):
    for text in ("", "; MaxProcs: 8\n\n"):
        with pytest.raises(InputError, match="contains no jobs"):
            read_swf(write(tmp_path, text))


def test_corrupt_gzip(tmp_path):
    p = tmp_path / "bad.swf.gz"
    p.write_bytes(gzip.compress(GOOD.encode())[:40])
    # core.files names a truncated stream as such (it was "not a valid gzip file").
    with pytest.raises(InputError, match="not a valid gzip file|gzip stream is truncated"):
        read_swf(p)


def test_missing_file():
    with pytest.raises(InputError, match="no such file"):
        load_workload("/nonexistent/trace.swf")


def test_alea_21_column_variant():
    text = "0 100 0 50 64 1 1024 64 86400 68719476736 1 62 1 1 -1 1 1 1 {1,1} q_1d 1:ppn=64\n"
    w = parse_swf(text, "alea")
    assert w.jobs["queue_name"].tolist() == ["q_1d"]
    assert w.machine_procs() == 64


@pytest.mark.shared
@pytest.mark.parametrize(
    "name, jobs, procs",
    [
        ("lublin_256.swf.gz", 10000, 256),
        ("lublin_256_new2.swf.gz", 10000, 256),
        ("hpc2n_alea_excerpt.swf.gz", 3170, 240),
        ("NASA-iPSC-1993-3.1-cln.swf.gz", 18239, 128),
        ("KTH-SP2-1996_predictsim.swf.gz", 28489, 100),
        ("LLNL-Atlas-2006-2.1-cln.swf.gz", 43778, 9216),
        ("CEA-Curie_predictsim_excerpt.swf.gz", 29998, 93312),
        ("wagap-2013_alea.swf.gz", 17900, 256),
        ("nrel_eagle_sample_1000.csv.gz", 1000, 12960),
    ],
)
def test_every_shared_trace_loads(name, jobs, procs):
    from conftest import SHARED_DATA

    w = load_workload(SHARED_DATA / "traces" / name)
    assert len(w) == jobs
    assert w.machine_procs() == procs


def test_content_hash_changes_with_the_data(tmp_path):
    a = read_swf(write(tmp_path, GOOD))
    b = read_swf(write(tmp_path, GOOD.replace("1 0 5 100 4", "1 0 5 101 4"), "b.swf"))
    assert a.content_hash() == read_swf(write(tmp_path, GOOD, "c.swf")).content_hash()
    assert a.content_hash() != b.content_hash() and len(a.content_hash()) == 64
