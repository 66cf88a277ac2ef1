"""The fuzzer itself: mutants are reproducible, the forbidden-value oracle is honest, gzip damage
is real damage, and the classifier and the pool runner tell each outcome apart."""

import gzip
import multiprocessing as mp
import zlib

import pytest

from hpcopt.errors import ConfigError, InputError
from hpcopt.testing import fuzz as fz
from hpcopt.testing.fuzz_targets import SWF_FIELDS, TARGETS

SWF = (b"; MaxProcs: 256\n"
       b"1 0 10 100 4 -1 -1 4 200 -1 1 3 1 -1 1 -1 -1 -1\n"
       b"2 5 0 50 8 -1 -1 8 60 -1 1 4 1 -1 1 -1 -1 -1\n")


def swf_format():
    return fz.Format("swf", [SWF], SWF_FIELDS, delimiter=None, is_record=lambda ln: not ln.startswith(b";"))


def test_a_mutant_is_a_pure_function_of_format_seed_and_index():
    f = swf_format()
    a, b = fz.make_mutant(f, 3, 41), fz.make_mutant(f, 3, 41)
    assert (a.data, a.mutator, a.detail, a.forbidden) == (b.data, b.mutator, b.detail, b.forbidden)
    assert len({fz.make_mutant(f, 3, i).data for i in range(40)}) > 30


def test_field_replace_writes_into_the_named_column_only():
    f = swf_format()
    seen = 0
    for i in range(400):
        m = fz.make_mutant(f, 0, i)
        if m.mutator != "field_replace" or b"\x00" in m.data:
            continue
        col = int(m.detail.split("field ")[1].split(" ")[0]) - 1
        before = [ln.split() for ln in SWF.split(b"\n")[1:3]]
        after = [ln.split() for ln in m.data.split(b"\n")[1:3]]
        changed = [(r, c) for r in range(2) for c in range(18) if len(after[r]) == 18 and after[r][c] != before[r][c]]
        if all(len(row) == 18 for row in after):
            assert changed and all(c == col for _, c in changed), (m.detail, changed)
            seen += 1
    assert seen > 50


@pytest.mark.parametrize("domain, value, allowed", [
    (fz.real(low=0, unknown=-1), b"-1", True),      # SWF's unknown
    (fz.real(low=0, unknown=-1), b"-5", False),
    (fz.real(low=0, unknown=-1), b"1e308", False),   # overflows any int64 count of seconds
    (fz.real(low=0, unknown=-1), b"3600.5", True),
    (fz.integer(low=1), b"2.5", False),
    (fz.integer(low=1), str(2**70).encode(), False),
    (fz.real(high=float("inf")), b"1e308", True),    # a telemetry float may be huge
    (fz.real(high=float("inf")), b"9" * 400, False),  # but not overflow to inf
    (fz.prometheus_value, b"NaN", True),             # the exposition format allows NaN and +Inf
    (fz.prometheus_value, b"+Inf", True),
    (fz.prometheus_value, b"", False),
    (fz.json_finite(), b"NaN", False),              # RFC 8259 has no NaN
    (fz.json_finite(), b"1e999", False),
    (fz.json_finite(), b"12.5", True),
    (fz.text_cell, b"\xff\xfe", True),              # Latin-1 fallback for text
    (fz.text_cell, b"a\x00", False),
])
def test_forbidden_means_what_the_format_says(domain, value, allowed):
    assert domain(value) is allowed


def test_a_replacement_equal_to_an_allowed_value_is_not_forbidden():
    fld = fz.Field("runtime", fz.real(low=0, unknown=-1), column=0)
    f = fz.Format("one", [b"7\n"], [fld])
    for i in range(300):
        m = fz.make_mutant(f, 1, i)
        if m.mutator == "field_replace":
            token = m.data.split(b"\n")[0]
            assert m.forbidden is (not fld.allowed(token)), m.detail


def test_gzip_damage_is_real_damage_and_valid_gzip_is_valid():
    f = swf_format()
    import random

    rng = random.Random(0)
    assert gzip.decompress(fz.gzip_ok(rng, SWF, f)[0]) == SWF
    assert gzip.decompress(fz.gzip_two_members(rng, SWF, f)[0]) == SWF
    for mut in (fz.gzip_bad_crc, fz.gzip_bad_size, fz.gzip_truncated):
        with pytest.raises((OSError, EOFError, zlib.error)):
            gzip.decompress(mut(rng, SWF, f)[0])
    bomb, detail, forbidden = fz.gzip_bomb(rng, SWF, f)
    assert forbidden and len(bomb) < 200_000
    d = zlib.decompressobj(31)
    size = len(d.decompress(bomb, fz.INPUT_LIMIT + 1))
    assert size > fz.INPUT_LIMIT


def test_long_lines_exceed_the_bound_the_workers_set():
    import random

    out, _, forbidden = fz.long_line(random.Random(2), SWF, swf_format())
    assert forbidden and max(len(ln) for ln in out.split(b"\n")) > fz.LINE_LIMIT


def test_classifier():
    assert fz.classify_exception(None)[0] == "success"
    assert fz.classify_exception(InputError("bad", source="f", line=3))[:2] == ("clean_error", "InputError")
    assert fz.classify_exception(ConfigError("no"))[0] == "clean_error"
    assert fz.classify_exception(ValueError("could not convert"))[:2] == ("traceback", "ValueError")
    assert fz.classify_exception(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x"))[0] == "traceback"
    assert fz.classify_exit(0, "{}", "")[0] == "success"
    assert fz.classify_exit(2, "", "error: f line 3: bad\n")[:2] == ("clean_error", "exit 2")
    assert fz.classify_exit(64, "", "Usage: ...\nError: no such option\n")[0] == "clean_error"
    assert fz.classify_exit(2, "", "")[0] == "bad_exit"
    js = '{"error": {"schema": "error/1", "type": "InputError", "message": "f line 2: bad", "exit_code": 2}}'
    assert fz.classify_exit(2, js, "") == ("clean_error", "exit 2", "f line 2: bad")
    assert fz.classify_exit(1, "", "error: boom\n")[0] == "bad_exit"
    assert fz.classify_exit(130, "", "")[0] == "bad_exit"
    tb = "Traceback (most recent call last):\n  File x\nKeyError: 'files'\n"
    assert fz.classify_exit(1, "", tb) == ("traceback", "Traceback", "KeyError: 'files'")
    assert fz.classify_exit(None, "", "", KeyError("x"))[0] == "traceback"


def test_repairs_count_only_when_a_counter_goes_up():
    base = fz.flat_counts({"read_notes": ["3 job-step lines skipped"], "dropped": {"runtime unknown": 2}})
    same = fz.flat_counts({"read_notes": ["3 job-step lines skipped"], "dropped": {"runtime unknown": 2}})
    fewer = fz.flat_counts({"read_notes": ["3 job-step lines skipped"], "dropped": {"runtime unknown": 1}})
    more = fz.flat_counts({"read_notes": ["3 job-step lines skipped"], "dropped": {"runtime unknown": 3}})
    note = fz.flat_counts({"read_notes": ["3 job-step lines skipped", "1 value repaired"], "dropped": {}})
    assert not fz.repaired_more(same, base) and not fz.repaired_more(fewer, base)
    assert fz.repaired_more(more, base) and fz.repaired_more(note, base)
    one_more_step = fz.flat_counts({"read_notes": ["4 job-step lines skipped"], "dropped": {"runtime unknown": 2}})
    assert fz.repaired_more(one_more_step, base)


def test_the_runner_tells_success_hang_and_crash_apart():
    jobs = [("ok",), ("sleep", 30), ("segv",), ("ok",), ("abort",), ("ok",)]
    res = fz.run_jobs(fz.probe, jobs, workers=2, timeout=3.0, ctx=mp.get_context("spawn"))
    got = {r["job"]: r["outcome"] for r in res}
    assert got == {("ok",): "success", ("sleep", 30): "hang", ("segv",): "crash", ("abort",): "crash"}
    sig = {r["job"]: r["exc_type"] for r in res}
    assert sig[("segv",)] == "signal 11" and sig[("abort",)] == "signal 6"
    assert len(res) == len(jobs)


def test_every_reader_and_file_taking_command_is_a_target():
    cmds = {" ".join(a for a in t.argv[:2] if not a.startswith("-") and "{" not in a) for t in TARGETS.values() if t.argv}
    for needed in ("trace info", "simulate", "compare", "estimate train", "estimate predict", "estimate evaluate",
                   "estimate explain", "detect evaluate", "detect fit", "detect score", "detect stream",
                   "tune space", "tune replay"):
        assert any(c.startswith(needed) for c in cmds), needed
    formats = {t.format for t in TARGETS.values()}
    assert formats >= {"swf", "sacct", "csv_jobs", "matrix", "ldms", "table", "prometheus", "jsonl", "toml",
                       "ktcache", "detector", "gbm_model"}
