"""The columnar SWF reader against its line-by-line definition, and the values SWF forbids.

``_parse(data, fast=False)`` reads every line one by one (the definition of the format);
the default reads blocks columnar and falls back to that reading only for a block with a
problem. Small ``block_bytes`` make the examples span many blocks.
"""

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcopt.data import read_swf
from hpcopt.data.swf import _fast_block, _parse, parse_swf
from hpcopt.data.workload import COLUMNS, FIELD_RULES, MAX_INTEGER, MAX_SECONDS, SWF_FIELDS, field_label
from hpcopt.errors import InputError
from hpcopt.schedule.jobs import prepare_jobs

GOOD_ROW = "1 0 5 100 4 -1 -1 4 200 -1 1 1 1 -1 -1 -1 -1 -1"
BLOCKS = st.sampled_from([1, 40, 200, 4 << 20])
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes, **kw):
    """The frame, header and notes, or the error text: what a caller can observe."""
    try:
        w = _parse(data, "t.swf", **kw)
    except InputError as exc:
        return ("error", str(exc), exc.line, exc.field)
    return ("ok", w.jobs, w.header, w.read_notes)


def assert_same(a, b):
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a == b
    else:
        pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)
        assert list(a[1].dtypes) == list(b[1].dtypes)
        assert a[2:] == b[2:]


# ---- random valid bodies -------------------------------------------------------------

def value_token(index: int):
    rule = FIELD_RULES[SWF_FIELDS[index][0]]
    missing = st.sampled_from(["-1", "-1.0", "-1e0"])
    if rule.integer:
        ints = st.one_of(st.integers(0, 1000), st.integers(0, MAX_INTEGER - 1))
        forms = st.sampled_from(["{}", "+{}", "{}.0", "0{}", "{}e0"])
        return st.one_of(missing, st.builds(lambda v, f: f.format(v), ints, forms))
    high = MAX_SECONDS if rule.time else 2.0**52
    low = -high if rule.negative_ok else 0.0
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    forms = st.sampled_from([repr, "{:.3f}".format, "{:.6e}".format, "{:.0f}".format, lambda v: repr(v).upper()])
    return st.one_of(missing, st.integers(0, 10**6).map(str), st.builds(lambda v, f: f(v), floats, forms))


TOKENS = [value_token(i) for i in range(18)]


SEP = st.text(alphabet=" \t", min_size=1, max_size=3)
PAD = st.text(alphabet=" \t\r", max_size=2)
TEXT = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x24F, exclude_characters=";"),
               min_size=1, max_size=8)


@st.composite
def job_line(draw, extras=st.booleans()):
    tokens = [draw(TOKENS[i]) for i in range(18)]
    if draw(extras):
        tokens += [draw(TEXT) for _ in range(3)]
    seps = [draw(SEP) for _ in range(len(tokens) - 1)]
    body = "".join(t + s for t, s in zip(tokens, seps + [""]))
    return draw(PAD) + body + draw(PAD)


LINE = st.one_of(
    job_line(),
    job_line(),
    job_line(),
    PAD,  # blank
    st.builds(lambda pad, key, value: f"{pad}; {key}: {value}", PAD,
              st.sampled_from(["Version", "MaxProcs", "Note", "Computer"]), st.from_regex(r"[0-9A-Za-z ]{0,12}", fullmatch=True)),
)


@st.composite
def body(draw):
    lines = draw(st.lists(LINE, min_size=1, max_size=25))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    return text.encode("utf-8")


@FAST
@given(data=body(), block=BLOCKS)
def test_columnar_and_line_by_line_readings_agree(data, block):
    assert_same(outcome(data, block_bytes=block), outcome(data, fast=False))


@FAST
@given(lines=st.lists(st.one_of(job_line(extras=st.just(False)), PAD), min_size=1, max_size=25),
       extras=st.booleans(), crlf=st.booleans())
def test_the_columnar_path_itself_reads_every_valid_block(lines, extras, crlf):
    # Agreement above could hide a columnar path that always hands over to the line-by-line
    # reading; here a valid block (no ';' in a job line, one field count) must not need it.
    if extras:
        lines = [ln + " {1,2} q_1d 1:ppn=4" if ln.strip(" \t\r") else ln for ln in lines]
    lines.append(GOOD_ROW + (" {1,2} q_1d 1:ppn=4" if extras else ""))
    data = ("\r\n" if crlf else "\n").join(["; MaxProcs: 64"] + lines).encode()
    headers = []
    result = _fast_block(data, 0, len(data), 1, headers)
    assert result is not None
    ref = _parse(data, "t.swf", fast=False)
    values, extra = result
    for i, name in enumerate(COLUMNS):
        np.testing.assert_array_equal(values[i], ref.jobs[name].to_numpy())
    assert headers == [(1, "; MaxProcs: 64")]
    assert (extra is not None) == extras


@FAST
@given(lines=st.lists(job_line(extras=st.just(False)), min_size=1, max_size=12), block=BLOCKS)
def test_every_valid_job_is_kept_and_counted_by_cleaning(lines, block):
    data = ("; MaxProcs: 64\n" + "\n".join(lines) + "\n").encode()
    kind, jobs, _, _ = outcome(data, block_bytes=block)
    assert kind == "ok" and len(jobs) == len(lines)
    from hpcopt.data.workload import Workload

    sim = prepare_jobs(Workload(jobs, {"MaxProcs": "64"}, "t.swf"))
    assert sim.cleaning.jobs_in == len(lines)
    assert len(sim) == sim.cleaning.jobs_out == len(lines) - sum(sim.cleaning.dropped.values())


# ---- one corrupted field is reported at its line and field ---------------------------

def bad_tokens(index: int) -> list[tuple[str, str]]:
    rule = FIELD_RULES[SWF_FIELDS[index][0]]
    out = [("abc", "is not a number"), ("1_0", "is not a number"), ("0x1F", "is not a number"),
           ("nan", "is not a finite number"), ("-inf", "is not a finite number"),
           ("1e400", "is not a finite number")]
    if not rule.negative_ok:
        out += [("-2", "is negative"), ("-0.5", "is negative")]
    if rule.integer:
        out += [("1.5", "is not an integer")]
    if rule.time:
        out += [("3155760001", "is out of range"), ("1e308", "is out of range")]
        if rule.negative_ok:
            out += [("-1e10", "is out of range")]
    else:
        out += [(str(MAX_INTEGER), "is out of range"), ("1e16", "is out of range")]
    return out


CORRUPTIONS = [(i, tok, why) for i in range(18) for tok, why in bad_tokens(i)]


@FAST
@given(
    n_lines=st.integers(1, 60),
    where=st.floats(0, 1, exclude_max=True),
    corruption=st.sampled_from(CORRUPTIONS),
    header_lines=st.integers(0, 3),
    block=BLOCKS,
)
def test_a_corrupted_field_is_reported_at_its_line_and_field(n_lines, where, corruption, header_lines, block):
    index, token, why = corruption
    lines = [f"; Note: {k}" for k in range(header_lines)]
    rows = [f"{k + 1} {10 * k} 0 100 4 -1 -1 4 200 -1 1 1 1 -1 -1 -1 -1 -1" for k in range(n_lines)]
    bad = int(where * n_lines)
    fields = rows[bad].split()
    fields[index] = token
    rows[bad] = "  ".join(fields)
    data = ("\n".join(lines + rows) + "\n").encode()
    fast = outcome(data, block_bytes=block)
    assert fast[0] == "error"
    assert fast[2] == header_lines + bad + 1 and fast[3] == field_label(index)
    assert f"t.swf line {header_lines + bad + 1}, {field_label(index)}: {token!r} {why}" in fast[1]
    assert_same(fast, outcome(data, fast=False))


@FAST
@given(n_lines=st.integers(2, 60), where=st.floats(0, 1, exclude_max=True), drop=st.booleans(), block=BLOCKS)
def test_a_line_with_a_field_missing_or_added_is_reported(n_lines, where, drop, block):
    rows = [GOOD_ROW] * n_lines
    bad = int(where * n_lines)
    rows[bad] = GOOD_ROW.rsplit(" ", 1)[0] if drop else GOOD_ROW + " 7"
    fast = outcome(("\n".join(rows) + "\n").encode(), block_bytes=block)
    assert fast[0] == "error" and fast[2] == bad + 1 and fast[3] is None
    assert f"has {17 if drop else 19} fields" in fast[1]


def test_the_first_bad_line_is_reported_when_there_are_several():
    rows = [GOOD_ROW] * 50
    rows[40] = GOOD_ROW.replace(" 4 -1 -1 4 ", " -9 -1 -1 4 ")  # negative processors, later line
    rows[30] = GOOD_ROW.replace(" 100 ", " 1e308 ")  # out of range, earlier line
    for block in (1, 64, 4 << 20):
        with pytest.raises(InputError, match=r"line 31, field 4 \(run time\): '1e308' is out of range"):
            _parse(("\n".join(rows) + "\n").encode(), "t.swf", block_bytes=block)


# ---- hand-made cases -------------------------------------------------------------------

def read(tmp_path, text, name="t.swf"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return read_swf(p)


def test_a_runtime_of_1e308_is_refused_not_simulated(tmp_path):
    with pytest.raises(InputError) as err:
        read(tmp_path, GOOD_ROW.replace(" 100 ", " 1e308 ") + "\n")
    assert str(err.value).endswith(
        "t.swf line 1, field 4 (run time): '1e308' is out of range; run time must be at most "
        "3155760000 seconds (100 years)"
    )


@pytest.mark.parametrize(
    "old, new, message",
    [
        (" 100 ", " inf ", "field 4 (run time): 'inf' is not a finite number"),
        (" 200 ", " -5 ", "field 9 (requested time): '-5' is negative; requested time must be >= 0 or -1 (unknown)"),
        ("1 0 5", "9007199254740992 0 5", "field 1 (job number): '9007199254740992' is out of range"),
        ("1 0 5", "1 -1 5", None),  # submit unknown: kept (cleaning drops it, counted)
        (" 100 ", " -3600 ", None),  # a negative runtime: kept (cleaning drops it, counted)
        (" 100 ", " 3155760000 ", None),  # exactly 100 years
        ("1 0 5", "9007199254740991 0 5", None),  # 2**53 - 1
        (" 100 ", " 100.25 ", None),  # times may be fractional
    ],
)
def test_forbidden_and_allowed_edge_values(old, new, message):
    text = GOOD_ROW.replace(old, new, 1) + "\n"
    if message is None:
        w = parse_swf(text, "t.swf")
        assert len(w) == 1
        return
    with pytest.raises(InputError) as err:
        parse_swf(text, "t.swf")
    assert message in str(err.value)


def test_cleaning_counts_the_negative_runtimes_a_real_log_has():
    w = parse_swf("\n".join([GOOD_ROW, GOOD_ROW.replace(" 100 ", " -1359980000 "), GOOD_ROW.replace(" 100 ", " -1 ")]))
    sim = prepare_jobs(w, procs=8)
    assert sim.cleaning.dropped == {"runtime unknown or negative": 2}
    assert len(sim) == sim.cleaning.jobs_out == 1


@pytest.mark.parametrize(
    "header, message",
    [
        ("; MaxProcs: inf", "t.swf line 2, header MaxProcs: 'inf' is not a finite number"),
        ("; MaxNodes: 1e308", "t.swf line 2, header MaxNodes: '1e308' is out of range"),
        ("; MaxProcs: 12.5", "t.swf line 2, header MaxProcs: '12.5' is not an integer"),
        (";UnixStartTime: nan", "t.swf line 2, header UnixStartTime: 'nan' is not a finite number"),
    ],
)
def test_bad_machine_size_headers_are_refused_at_their_line(header, message):
    with pytest.raises(InputError) as err:
        parse_swf(f"; Version: 2.2\n{header}\n{GOOD_ROW}\n", "t.swf")
    assert message in str(err.value)


def test_an_unreadable_machine_size_is_noted_not_silently_ignored():
    w = parse_swf(f"; MaxProcs: unknown\n{GOOD_ROW}\n", "t.swf")
    assert w.read_notes == ["line 1: header MaxProcs 'unknown' is not a number; ignored"]
    assert w.machine_procs() == 4  # the largest job


def test_whitespace_line_endings_and_headers_between_jobs(tmp_path):
    text = f"; MaxProcs: 8\r\n\t{GOOD_ROW.replace(' ', chr(9))} \r\n   \r\n; Note: a; b\r\n  {GOOD_ROW.replace('1 0 5', '2 7 5')}"
    w = read(tmp_path, text)
    assert w.header == {"MaxProcs": "8", "Note": "a; b"}
    np.testing.assert_array_equal(w.column("job_id"), [1, 2])
    np.testing.assert_array_equal(w.column("submit"), [0, 7])


def test_alea_lines_mixed_with_plain_lines_and_a_semicolon_in_a_text_field():
    alea = "0 100 0 50 64 1 1024 64 86400 68719476736 1 62 1 1 -1 1 1 1 {1,1} q;1d 1:ppn=64"
    w = parse_swf(f"{alea}\n{GOOD_ROW}\n", "alea")
    assert w.jobs["queue_name"].tolist() == ["q;1d", ""]
    assert w.jobs["req_mem"].tolist() == [68719476736.0, -1.0]


def test_latin1_and_bom_files(tmp_path):
    w = read(tmp_path, b"\xef\xbb\xbf; Computer: M\xc3\xbcnchen\n" + GOOD_ROW.encode() + b"\n")
    assert w.header["Computer"] == "München" and len(w) == 1
    w = read(tmp_path, b"; Computer: M\xfcnchen\n" + GOOD_ROW.encode() + b"\n", "l1.swf")
    assert w.header["Computer"] == "München"
    with pytest.raises(InputError, match=r"line 2, field 4 \(run time\): '1\\xa0' is not a number"):
        read(tmp_path, b"; x\n" + GOOD_ROW.replace(" 100 ", " 1\xa0 ").encode("latin-1") + b"\n", "nb.swf")


def test_errors_in_later_blocks_name_the_right_line(tmp_path):
    rows = [GOOD_ROW.replace("1 0 5", f"{k} {k} 5", 1) for k in range(1, 200_001)]
    rows[180_000] = rows[180_000].replace(" 4 -1 -1 4 ", " 4 -1 -1 x4 ")
    p = tmp_path / "big.swf.gz"
    p.write_bytes(gzip.compress(("; MaxProcs: 8\n" + "\n".join(rows) + "\n").encode(), compresslevel=1))
    with pytest.raises(InputError) as err:
        read_swf(p)
    assert err.value.line == 180_002 and "field 8 (requested processors): 'x4' is not a number" in str(err.value)
    assert len(_parse(("\n".join(rows[:180_000]) + "\n").encode(), "t")) == 180_000


def test_field_rules_cover_every_column():
    assert set(FIELD_RULES) == set(COLUMNS)


def test_nul_bytes_and_over_long_lines_keep_core_files_messages(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"line 2: contains a NUL byte"):
        read(tmp_path, f"{GOOD_ROW}\n{GOOD_ROW[:5]}\0{GOOD_ROW[5:]}\n")
    monkeypatch.setenv("HPCOPT_MAX_LINE_BYTES", "60")
    rows = [GOOD_ROW] * 30
    assert len(read(tmp_path, "\n".join(rows) + "\n", "ok.swf")) == 30
    rows[20] = GOOD_ROW + " " * 20
    with pytest.raises(InputError, match=r"line 21: line is longer than 60 characters"):
        read(tmp_path, "\n".join(rows) + "\n", "long.swf")


@pytest.mark.shared
@pytest.mark.parametrize("name", ["KTH-SP2-1996_predictsim.swf.gz", "hpc2n_alea_excerpt.swf.gz",
                                  "wagap-2013_alea.swf.gz", "CEA-Curie_predictsim_excerpt.swf.gz"])
def test_real_traces_read_the_same_both_ways(name):
    from conftest import SHARED_DATA

    from hpcopt.core.files import read_text

    data = read_text(SHARED_DATA / "traces" / name).encode("utf-8")
    assert_same(outcome(data), outcome(data, fast=False))
