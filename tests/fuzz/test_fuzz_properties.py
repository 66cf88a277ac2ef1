"""Hypothesis on the text readers: any value written into a field of a real record is refused
with a clean error, accepted because the format allows it, or repaired and counted -- never
accepted silently when the format forbids it, never a traceback. Hypothesis shrinks a failure
to the smallest value that shows it.
"""

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TEST_DATA
from hpcopt.errors import ConfigError, InputError
from hpcopt.testing import fuzz as fz
from hpcopt.testing import fuzz_targets as ft

pytestmark = pytest.mark.fuzz

VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-2**80, max_value=2**80).map(str),
    st.sampled_from(["-1", "0", "1", "1e308", "-1e308", "nan", "inf", "-inf", "", "1.5", "0x10", "1_000", "+5"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _sample(name: str) -> bytes:
    import gzip

    if name == "swf":
        return ft._head_swf(gzip.decompress((TEST_DATA / "lublin_256.swf.gz").read_bytes()), 40)
    return (TEST_DATA / "fuzz" / name).read_bytes()


def _run(lib, data: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"sample{suffix}"
        p.write_bytes(data)
        return lib(p, Path(d))


def _check(lib, sample: bytes, suffix: str, fld: fz.Field, value: bytes, fmt: fz.Format, baseline):
    lines = sample.split(b"\n")
    rows = [i for i, ln in enumerate(lines) if ln.strip() and fmt.is_record(ln)]
    r = rows[len(rows) // 2]
    spans = fz._split_spans(lines[r], fmt.delimiter)
    s, e = spans[fld.column]
    lines[r] = lines[r][:s] + value + lines[r][e:]
    try:
        _, repairs = _run(lib, b"\n".join(lines), suffix)
    except (InputError, ConfigError):
        return
    if fld.allowed(value):
        return
    got = {k: v for k, v in fz.flat_counts(repairs).items() if "/jobs" not in k}
    assert fz.repaired_more(got, baseline), (
        f"{fld.name} = {value!r} is forbidden by the format but was accepted without a counted repair")


def _baseline(lib, sample, suffix):
    _, repairs = _run(lib, sample, suffix)
    return {k: v for k, v in fz.flat_counts(repairs).items() if "/jobs" not in k}


SWF = _sample("swf")
SWF_FMT = fz.Format("swf", [SWF], ft.SWF_FIELDS, delimiter=None, is_record=lambda ln: not ln.strip().startswith(b";"))
SACCT = _sample("sacct_sample.txt")
SACCT_FMT = fz.Format("sacct", [SACCT], ft._columns(SACCT.split(b"\n", 1)[0], b"|", ft._SACCT_COLUMNS),
                      delimiter=b"|", is_record=ft._finished_job(b"|", 16))


@SETTINGS
@given(column=st.integers(0, 17), value=VALUES)
def test_swf_fields(column, value):
    _check(ft._lib_read_swf, SWF, ".swf", SWF_FMT.fields[column], value.encode("utf-8", "surrogatepass"),
           SWF_FMT, _SWF_BASE)


@SETTINGS
@given(k=st.integers(0, len(SACCT_FMT.fields) - 1), value=VALUES.filter(lambda v: "|" not in v and "\n" not in v))
def test_sacct_fields(k, value):
    _check(ft._lib_read_sacct, SACCT, ".txt", SACCT_FMT.fields[k], value.encode("utf-8", "surrogatepass"),
           SACCT_FMT, _SACCT_BASE)


_SWF_BASE = _baseline(ft._lib_read_swf, SWF, ".swf")
_SACCT_BASE = _baseline(ft._lib_read_sacct, SACCT, ".txt")


@SETTINGS
@given(value=VALUES.filter(lambda v: "\n" not in v))
def test_prometheus_sample_value(value):
    text = _sample("prom_scrape_1.prom").decode()
    lines = text.split("\n")
    i = next(k for k, ln in enumerate(lines) if ln and not ln.startswith("#"))
    name, _, rest = lines[i].partition(" ")
    ts = rest.split()[-1]
    lines[i] = f"{name} {value} {ts}"
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    try:
        _run(ft._lib_prometheus, raw, ".prom")
    except (InputError, ConfigError):
        return
    # an empty value leaves 'name ts', a valid sample whose value is the timestamp
    assert fz.optional(fz.prometheus_value)(value.encode("utf-8", "surrogatepass")), f"sample value {value!r} accepted"


@SETTINGS
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(
    lambda v: "NaN" if math.isnan(v) else ("Infinity" if v == math.inf else ("-Infinity" if v == -math.inf else repr(v)))),
    VALUES.filter(lambda v: "\n" not in v)))
def test_jsonl_values(value):
    lines = _sample("jsonl_meminfo_60.jsonl").decode().split("\n")
    lines[3] = lines[3].replace("[", f"[{value}, ", 1)
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    try:
        _, repairs = _run(ft._lib_jsonl, raw, ".jsonl")
    except (InputError, ConfigError):
        return
    # the stream never raises: a forbidden value must be a bad sample, counted (then skipped or imputed)
    assert fz.json_finite(magnitude=2.0**64)(value.encode("utf-8", "surrogatepass")) or fz.repaired_more(
        fz.flat_counts(repairs), _JSONL_BASE), f"values item {value!r} accepted without a counted bad sample"


_JSONL_BASE = fz.flat_counts(_run(ft._lib_jsonl, _sample("jsonl_meminfo_60.jsonl"), ".jsonl")[1])
