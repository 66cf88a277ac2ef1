"""Mutated copies of real telemetry (tests/data/telemetry) through every telemetry reader.

Each reader must either raise :class:`InputError` or return exactly what the format's rule
gives (an independent, plain re-reading of the mutated bytes, or for damage to the gzip
stream the original result): never another exception, never a silent change.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hpcopt.data import telemetry as tm
from hpcopt.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "telemetry"
SMD = DATA / "smd"
M = "machine-1-6"

_TOKENS = [b"inf", b"-inf", b"nan", b"NaN", b"1e999", b"True", b",", b"\n", b"\n\n", b"\x00", b"\xff\xfe", b"\xc3\xa9",
           b"\xe9", b"-", b"1_0", b"0x1", b'"1"', b"\r", b" ", b"\t", b"1e-400", b".", b"e", b"+", b"Infinity", b"\xef\xbb\xbf",
           b"\xd9\xa1", b"9" * 30]

# no shrinking: a failing mutant is printed as drawn (shrinking multi-edit mutants takes minutes)
SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutated(draw, raw: bytes) -> bytes:
    """One to three edits of ``raw``: a byte replaced, a token inserted, a range deleted, a cut, a line doubled."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "dupline"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "replace" and data:
            data[i] = draw(st.sampled_from(list(b"0123456789,.-+eE \t\n\rax\"") + [0, 0xFF, 0xE9, 0x80]))
        elif op == "insert":
            data[i:i] = draw(st.sampled_from(_TOKENS))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 12))]
        elif op == "truncate":
            del data[i:]
        elif op == "dupline":
            s = bytes(data).rfind(b"\n", 0, i) + 1
            e = bytes(data).find(b"\n", i)
            e = len(data) if e < 0 else e + 1
            data[e:e] = data[s:e]
    return bytes(data)


# --------------------------------------------------------------------------- the format's rule, written plainly

_NUM = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class Refused(Exception):
    pass


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.removeprefix("\ufeff")
    if "\0" in text:
        raise Refused("NUL")
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[-1].strip(" \t") == "":
        lines.pop()
    return lines


def _number(cell: str) -> float:
    s = cell.strip(" \t")
    if not _NUM.fullmatch(s):
        raise Refused(cell)  # text, inf, or missing (refused without --fill-missing)
    v = float(s)
    if not abs(v) < 2.0**64:  # the telemetry rule: finite, magnitude below 2**64
        raise Refused("overflow or past 2**64")
    return v


def plain_matrix(raw: bytes) -> np.ndarray:
    lines = _text(raw)
    if not lines:
        raise Refused("empty")
    width = len(lines[0].split(","))
    rows = []
    for line in lines:
        cells = line.split(",")
        if len(cells) != width:
            raise Refused("ragged")
        rows.append([_number(c) for c in cells])
    return np.asarray(rows, dtype=np.float64)


def plain_labels(raw: bytes) -> np.ndarray:
    out = []
    for line in _text(raw):
        s = line.strip(" \t")
        if not _NUM.fullmatch(s) or float(s) not in (0.0, 1.0):
            raise Refused(s)
        out.append(int(float(s)))
    return np.asarray(out, dtype=np.int8)


def _agree(read, plain, path: Path, raw: bytes):
    try:
        expected = plain(raw)
    except Refused:
        expected = None
    try:
        got = read(path)
    except InputError:
        assert expected is None, "refused a file the format allows"
        return
    assert expected is not None, "accepted a file the format forbids"
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


def _plain_bytes(p: Path) -> bytes:
    return gzip.decompress(p.read_bytes())


@SETTINGS
@given(data=st.data())
def test_mutated_smd_matrix_is_refused_or_read_exactly(tmp_path, data):
    raw = data.draw(mutated(_plain_bytes(SMD / "test" / f"{M}.txt.gz")))
    gz = data.draw(st.booleans())
    p = tmp_path / ("m.txt.gz" if gz else "m.txt")
    p.write_bytes(gzip.compress(raw) if gz else raw)
    _agree(tm.read_matrix, plain_matrix, p, raw)


@SETTINGS
@given(data=st.data())
def test_mutated_labels_are_refused_or_read_exactly(tmp_path, data):
    raw = data.draw(mutated(_plain_bytes(SMD / "test_label" / f"{M}.txt.gz")))
    p = tmp_path / "l.txt"
    p.write_bytes(raw)
    _agree(tm.read_labels, plain_labels, p, raw)


@SETTINGS
@given(data=st.data())
def test_damaged_gzip_stream_is_refused_or_reads_the_original(tmp_path, data):
    src = SMD / "train" / f"{M}.txt.gz"
    original = tm.read_matrix(src)
    raw = data.draw(mutated(src.read_bytes()))
    p = tmp_path / "m.txt.gz"
    p.write_bytes(raw)
    try:
        got = tm.read_matrix(p)
    except InputError:
        return
    np.testing.assert_array_equal(got, original)  # gzip's CRC: a read means the very same content


def _readers_must_not_crash(read, path: Path):
    try:
        out = read(path)
    except InputError as exc:
        assert str(exc)  # one message
        return None
    return out


@SETTINGS
@given(data=st.data())
def test_mutated_interpretation_labels(tmp_path, data):
    raw = data.draw(mutated(_plain_bytes(SMD / "interpretation_label" / f"{M}.txt.gz")))
    p = tmp_path / "i.txt"
    p.write_bytes(raw)
    segs = _readers_must_not_crash(lambda q: tm.read_interpretation(q, n_rows=300, n_metrics=38), p)
    for s in segs or []:
        assert 0 <= s.start < s.end <= 300 and all(0 <= m < 38 for m in s.metrics)


@SETTINGS
@given(data=st.data())
def test_mutated_ldms_file(tmp_path, data):
    raw = data.draw(mutated(_plain_bytes(DATA / "hpas" / "runs" / "ExaMiniMD" / "meminfo.csv.gz")))
    p = tmp_path / "meminfo.csv.gz"
    p.write_bytes(gzip.compress(raw))
    for repairs in (None, tm.RepairLog()):
        df = _readers_must_not_crash(lambda q: tm.read_ldms_csv(q, repairs=repairs), p)
        if df is not None:
            assert np.isfinite(df.to_numpy()).all() and df.index.is_monotonic_increasing
            assert df.index.is_unique and len(df) <= 60 + 3  # an edit can split a line into a new row


@SETTINGS
@given(data=st.data())
def test_mutated_csv_table(tmp_path, data):
    raw = data.draw(mutated(_plain_bytes(DATA / "ldms_cray_aries_sample_e2ewatch.csv.gz")))
    p = tmp_path / "t.csv"
    p.write_bytes(raw)
    df = _readers_must_not_crash(lambda q: tm.read_table(q, timestamp="timestamp", text_columns=["node_id"]), p)
    if df is not None:
        assert np.isfinite(df.drop(columns=["node_id"]).to_numpy(dtype=np.float64)).all()
        assert (np.diff(df.index.to_numpy(dtype=np.float64)) > 0).all()
    tel = _readers_must_not_crash(tm.read_telemetry, p)
    if tel is not None:
        assert np.isfinite(tel.values).all()


def _jsonl_sample() -> bytes:
    X = tm.read_matrix(SMD / "test" / f"{M}.txt.gz")[:40, :5]
    names = ["cpu", "mem", "net", "disk", "load"]
    return "".join(json.dumps({"timestamp": 60 * i, "metrics": dict(zip(names, row.tolist()))}) + "\n"
                   for i, row in enumerate(X)).encode()


@SETTINGS
@given(data=st.data())
def test_mutated_json_lines(tmp_path, data):
    raw = data.draw(mutated(_jsonl_sample()))
    p = tmp_path / "x.jsonl"
    p.write_bytes(raw)
    df = _readers_must_not_crash(tm.read_jsonl, p)
    if df is not None:
        assert np.isfinite(df.to_numpy()).all() and (np.diff(df.index.to_numpy()) > 0).all()
    # the line-by-line form used by streams: every line is a dict or one InputError
    try:
        for _, obj in tm.iter_jsonl_samples(raw.split(b"\n"), source="x"):
            assert isinstance(obj, dict)
    except InputError:
        pass


@SETTINGS
@given(data=st.data())
def test_mutated_hpas_labels(tmp_path, data):
    from hpcopt.detect.hpas import load_hpas_labels

    raw = data.draw(mutated(_plain_bytes(DATA / "hpas" / "labels.csv.gz")))
    (tmp_path / "labels.csv.gz").write_bytes(gzip.compress(raw))
    lab = _readers_must_not_crash(load_hpas_labels, tmp_path)
    if lab is not None:
        anomalous = lab[lab["n_anomalies"] > 0]
        assert ((anomalous["start_s"] >= 0) & (anomalous["start_s"] < anomalous["end_s"])).all()


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["data", "labels"]))
def test_mutated_nab_folder(tmp_path, data, which):
    from hpcopt.detect.nab import load_nab_series, nab_windows

    root = tmp_path / "nab"
    if not root.exists():
        shutil.copytree(DATA / "nab", root)
    rel = "data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv.gz" if which == "data" else "labels.csv.gz"
    raw = data.draw(mutated(_plain_bytes(DATA / "nab" / rel)))
    (root / rel).write_bytes(gzip.compress(raw))
    for load in (lambda r: load_nab_series(r, "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"),
                 lambda r: nab_windows(r, "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv")):
        out = _readers_must_not_crash(load, root)
        if out is not None and hasattr(out, "train"):
            assert np.isfinite(out.train).all() and np.isfinite(out.test).all()


@pytest.fixture(scope="module")
def mad_model(tmp_path_factory):
    pytest.importorskip("sklearn")
    from hpcopt.cli import main

    d = tmp_path_factory.mktemp("model")
    with pytest.raises(SystemExit) as ei:
        main(["detect", "fit", "--train", str(SMD / "train" / f"{M}.txt.gz"), "--out", str(d / "m.pkl"),
              "--detector", "mad", "--recenter-window", "0", "--json"])
    assert ei.value.code == 0
    return d / "m.pkl"


@settings(max_examples=40, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_detect_score_on_mutated_files_exits_0_or_2(tmp_path, capsys, mad_model, data):
    from hpcopt.cli import main

    raw = data.draw(mutated(_plain_bytes(SMD / "test" / f"{M}.txt.gz")))
    p = tmp_path / "in.txt"
    p.write_bytes(raw)
    out = tmp_path / "s.csv"
    with pytest.raises(SystemExit) as ei:
        main(["detect", "score", "--model", str(mad_model), "--input", str(p), "--threshold", "fixed",
              "--scores-out", str(out), "--force", "--json"])
    cap = capsys.readouterr()
    assert ei.value.code in (0, 2), cap.out + cap.err
    assert "Traceback" not in cap.out + cap.err
    if ei.value.code == 2:
        err = json.loads(cap.out or cap.err)["error"]
        assert err["type"] == "InputError" and err["source"]
