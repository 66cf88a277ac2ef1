"""Prometheus exposition through prometheus_client's parsers: text format and OpenMetrics."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.data import telemetry as tm
from hpcopt.data.prometheus import (ScrapeRates, missing_metrics_error, parse_prometheus_text, prometheus_to_wide,
                                    read_prometheus, write_prometheus_text)
from hpcopt.errors import InputError

TEXT = r"""# HELP node_load1 1m load
# TYPE node_load1 gauge
node_load1{instance="n1"} 0.5 1700000000123
# TYPE http_requests counter
http_requests{instance="n1",path="/a}b",q="say \"hi\"",w="back\\slash",nl="x\ny"} 10 1700000000123
# TYPE x_total counter
x_total{instance="n1"} 3 1700000000123
odd{instance="n1"} NaN
up{instance="n1"} +Inf
down{instance="n1"} -Inf
"""

OPENMETRICS = """# TYPE reqs counter
# HELP reqs requests served
reqs_total{instance="n1",path="a"} 10 1700000000.25 # {trace_id="abc"} 1.0 1700000000.1
reqs_created{instance="n1",path="a"} 1600000000 1700000000.25
# TYPE lat histogram
lat_bucket{instance="n1",le="1.0"} 2 1700000000.5
lat_bucket{instance="n1",le="+Inf"} 3 1700000000.5 # {span="s"} 0.5
lat_count{instance="n1"} 3 1700000000.5
lat_sum{instance="n1"} 1.5 1700000000.5
# TYPE temp gauge
temp{instance="n1",label="}{"} NaN 1700000000.5
foo_total{instance="n1"} 4 1700000000.5
# EOF
"""


def test_text_format_labels_escapes_special_values_and_millisecond_timestamps():
    df = parse_prometheus_text(TEXT)
    assert df["metric"].tolist() == [
        "node_load1",
        r'http_requests{nl="x\ny",path="/a}b",q="say \"hi\"",w="back\\slash"}',  # sorted, escaped again
        "x_total", "odd", "up", "down"]
    assert (df["entity"] == "n1").all()
    # integer milliseconds -> seconds, not a guess
    assert df["timestamp"].iloc[0] == 1700000000.123 and df["timestamp"].iloc[2] == 1700000000.123
    assert df["timestamp"].iloc[3:].isna().all()
    v = df["value"].tolist()
    assert v[:3] == [0.5, 10.0, 3.0] and math.isnan(v[3]) and v[4] == math.inf and v[5] == -math.inf
    # a counter declared without '_total' keeps its own name (prometheus_client appends one) and is cumulative
    assert df["type"].tolist()[:3] == ["gauge", "counter", "counter"]
    assert df["cumulative"].tolist() == [False, True, True, False, False, False]


def test_openmetrics_float_seconds_exemplars_and_which_series_are_cumulative():
    df = parse_prometheus_text(OPENMETRICS).set_index("metric")
    assert df.loc['reqs_total{path="a"}', "timestamp"] == 1700000000.25  # float seconds, not divided
    assert df.loc['reqs_total{path="a"}', "value"] == 10.0  # the exemplar is not the value
    cum = df["cumulative"].to_dict()
    assert cum == {'reqs_total{path="a"}': True, 'reqs_created{path="a"}': False, 'lat_bucket{le="1.0"}': True,
                   'lat_bucket{le="+Inf"}': True, "lat_count": True, "lat_sum": True,
                   'temp{label="}{"}': False, "foo_total": True}
    assert math.isnan(df.loc['temp{label="}{"}', "value"])
    assert df.loc["foo_total", "type"] == "unknown"
    # the same text without '# EOF' is the text format, where the exemplar is refused with a pointer to '# EOF'
    with pytest.raises(InputError, match="exemplars") as ei:
        parse_prometheus_text(OPENMETRICS.replace("# EOF\n", ""), source="s.prom")
    assert ei.value.line == 3 and ei.value.source == "s.prom"
    with pytest.raises(InputError, match="Missing # EOF"):
        parse_prometheus_text('a_total 1 1.5\n', format="openmetrics")


@pytest.mark.parametrize("text,line,match", [
    ("a 1\nb 2 1.5\n", 2, "not an integer number of milliseconds"),
    ("a 1\nb\n", 2, "sample without a value"),
    ("ok 1\nnot a line\n", 2, "'a' is not a number"),
    ('x{a="1"} abc\n', 1, "'abc' is not a number"),
    ('x{a="1} 2\n', 1, "label set is not closed"),
    ("a 1 2 3\n", 1, "3 fields after the sample name"),
    ("a 1\na 2\n", 2, "appears twice"),
    ('a{b="c"} 1\n# TYPE\n', 2, "not valid Prometheus text format"),
    ("a_total 1\n\n# EOF\n", 2, "blank line"),
    ("# TYPE a counter\na_total -1\n# EOF\n", 2, "cannot be negative"),
    ("a 1\n# EOF\nb 2\n# EOF\n", 3, "after # EOF"),
])
def test_what_the_format_forbids_is_one_error_naming_the_line(text, line, match):
    with pytest.raises(InputError, match=match) as ei:
        parse_prometheus_text(text, source="f.prom")
    assert ei.value.line == line and ei.value.source == "f.prom"


def test_read_prometheus_files_gzip_and_latin1(tmp_path):
    p = tmp_path / "s.prom.gz"
    p.write_bytes(gzip.compress(TEXT.encode()))
    pd.testing.assert_frame_equal(read_prometheus(p), parse_prometheus_text(TEXT))
    q = tmp_path / "l.prom"
    q.write_bytes(b'a{who="Andr\xe9"} 1\n')  # not UTF-8: read as Latin-1, as stated
    assert read_prometheus(q)["metric"].tolist() == ['a{who="Andr\u00e9"}']
    r = tmp_path / "nul.prom"
    r.write_bytes(b"a 1\x00\n")
    with pytest.raises(InputError, match="NUL"):
        read_prometheus(r)


def test_missing_metrics_error_lists_what_the_input_has_and_the_closest_name():
    err = missing_metrics_error(["node_lod1", "zzz"], ["node_load1", "node_load5", "up"], source="s.prom")
    s = str(err)
    assert "'node_lod1' (did you mean 'node_load1'?)" in s and "'zzz';" in s and "did you mean 'up'" not in s
    assert "it has: node_load1, node_load5, up" in s and err.source == "s.prom"
    many = missing_metrics_error(["q"], [f"m{i:02d}" for i in range(30)], source="x")
    assert "(30 in all)" in str(many)
    with pytest.raises(InputError, match="did you mean 'x_total'"):
        prometheus_to_wide(parse_prometheus_text(TEXT, default_timestamp=1.0), metrics=["x_totl"])


def _scrapes(values: np.ndarray, times: np.ndarray, counters: list[bool]) -> list[str]:
    out = []
    for t, row in zip(times, values):
        lines = []
        for j, (v, c) in enumerate(zip(row, counters)):
            name = f"c{j}_total" if c else f"g{j}"
            lines += [f"# TYPE {name} {'counter' if c else 'gauge'}", f'{name}{{instance="n1"}} {float(v)!r} {int(t)}']
        out.append("\n".join(lines) + "\n")
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.floats(0, 1e6), st.floats(-1e3, 1e3)), min_size=2, max_size=12))
def test_scrape_rates_equal_counters_to_rates_resets_included(steps):
    times = np.cumsum([s[0] for s in steps]).astype(float) * 1000.0  # ms
    vals = np.array([[s[1], s[2]] for s in steps])
    texts = _scrapes(vals, times, [True, False])
    names = ["c0_total", "g1"]
    rates = ScrapeRates(names)
    rows = []
    for i, text in enumerate(texts, start=1):
        ts, row, problems, warmup = rates.row(parse_prometheus_text(text), "n1", number=i)
        assert problems == [] and warmup == (i == 1)
        if not warmup:
            rows.append(row)
    log = tm.RepairLog()
    wide = pd.DataFrame(vals, columns=names, index=times / 1000.0)
    ref = tm.counters_to_rates(wide, ["c0_total"], repairs=log)
    np.testing.assert_array_equal(np.array(rows).reshape(-1, 2), ref.to_numpy())
    assert rates.resets == log.as_dict().get("counter resets in c0_total", 0)
    # the batch path through the long frame gives the same rows
    long = pd.concat([parse_prometheus_text(t) for t in texts], ignore_index=True)
    np.testing.assert_array_equal(prometheus_to_wide(long, metrics=names)["n1"].to_numpy(), ref.to_numpy())


def test_scrape_rates_hand_computed_reset_gap_and_missing():
    r = ScrapeRates(["c_total", "g"], interval=10.0)
    f = lambda c, g: parse_prometheus_text(f"# TYPE c_total counter\nc_total {c}\ng {g}\n")  # noqa: E731
    assert r.row(f(100, 1), "", number=1)[3] is True
    ts, row, problems, _ = r.row(f(150, 2), "", number=2)
    assert ts == 20.0 and row.tolist() == [5.0, 2.0] and problems == []
    _, row, _, _ = r.row(f(30, 3), "", number=3)  # reset: counts from zero, like Prometheus' rate()
    assert row.tolist() == [3.0, 3.0] and r.resets == 1
    _, row, problems, _ = r.row(parse_prometheus_text("g 4\n"), "", number=4)
    assert math.isnan(row[0]) and row[1] == 4.0 and "metrics not found: 'c_total'" in problems[0]
    _, row, problems, _ = r.row(f(90, 5), "", number=5)  # rate over the two intervals since the last value
    assert row.tolist() == [3.0, 5.0] and problems == []
    no_time = ScrapeRates(["c_total"])
    no_time.row(f(1, 1), "", number=1)
    _, row, problems, _ = no_time.row(f(2, 1), "", number=2)
    assert math.isnan(row[0]) and "no timestamp" in problems[0]


label_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.sampled_from(["entity", "node", "mode", "le_x"]), label_text,
                                          max_size=3),
                          st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=6,
                # one series each: an empty label value is the label's absence in Prometheus
                unique_by=lambda s: tuple(sorted((k, v) for k, v in s[0].items() if v))),
       st.booleans())
def test_write_then_parse_round_trips(samples, counter):
    name = "hpcopt_x_total" if counter else "hpcopt_x"
    text = write_prometheus_text({name: ("help with \\ and\nnewline", samples, "counter" if counter else "gauge")})
    df = parse_prometheus_text(text, entity_label="entity")
    assert len(df) == len(samples)
    assert (df["type"] == ("counter" if counter else "gauge")).all() and (df["cumulative"] == counter).all()
    from prometheus_client.parser import text_string_to_metric_families

    for (labels, value), (_, got) in zip(samples, df.iterrows()):
        assert got["entity"] == labels.get("entity", "")
        # the metric key is itself valid exposition: its labels read back exactly
        back = list(text_string_to_metric_families(got["metric"] + " 0\n"))[0].samples[0]
        assert back.name == name and back.labels == {k: v for k, v in labels.items() if k != "entity"}
        assert (math.isnan(value) and math.isnan(got["value"])) or got["value"] == value
    fams = list(text_string_to_metric_families(text))
    assert [f.type for f in fams] == ["counter" if counter else "gauge"]
    assert fams[0].documentation == "help with \\ and\nnewline"


def test_write_refuses_names_that_mislead_readers():
    with pytest.raises(InputError, match="only a counter's"):
        write_prometheus_text({"a_total": ("h", [({}, 1.0)])})
    with pytest.raises(InputError, match="ends in '_total'"):
        write_prometheus_text({"a": ("h", [({}, 1.0)], "counter")})
    with pytest.raises(InputError, match="not a valid label name"):
        write_prometheus_text({"a": ("h", [({"bad-name": "x"}, 1.0)])})
    with pytest.raises(InputError, match="not a valid Prometheus metric name"):
        write_prometheus_text({"1a": ("h", [({}, 1.0)])})


def test_telemetry_keeps_the_names():
    assert tm.parse_prometheus_text is parse_prometheus_text and tm.write_prometheus_text is write_prometheus_text


def test_a_family_split_by_another_keeps_its_declared_type():
    # prometheus_client starts an untyped family at the second run of samples; Prometheus keeps the TYPE
    df = parse_prometheus_text('# TYPE c counter\nc{n="a"} 1\ng 2\nc{n="b"} 3\n'
                               '# TYPE h histogram\nh_count 1\nh_sum 2\nu 0\nh_count{n="b"} 4\nh_total_x 1\n')
    assert df.set_index("metric")["cumulative"].to_dict() == {
        'c{n="a"}': True, "g": False, 'c{n="b"}': True, "h_count": True, "h_sum": True, "u": False,
        'h_count{n="b"}': True, "h_total_x": False}
    assert df.set_index("metric").loc['c{n="b"}', "type"] == "counter"


def test_metric_names_are_matched_whatever_the_label_order():
    from hpcopt.data.prometheus import metric_key

    assert metric_key('cpu{mode="idle",cpu="0"}') == 'cpu{cpu="0",mode="idle"}'
    assert metric_key("up") == "up" and metric_key("bad{") == "bad{"
    df = parse_prometheus_text('cpu{cpu="0",mode="idle",instance="n"} 5 1000\n')
    r = ScrapeRates(['cpu{mode="idle",cpu="0"}'])
    assert r.row(df, "n", number=1)[1].tolist() == [5.0]
    assert prometheus_to_wide(df, metrics=['cpu{mode="idle",cpu="0"}'])["n"].iloc[0].tolist() == [5.0]


# ----------------------------------------------------------------- numbers the format cannot hold

_BIG = "9" * 400


@pytest.mark.parametrize("text,fmt,field,match", [
    # issue 10 fuzz findings: a 400-digit timestamp or value was an OverflowError traceback
    (f"a 1\nnode_mem{{instance=\"n\"}} 5 {_BIG}\n", "auto", "timestamp", "node_mem: timestamp '9999"),
    (f"a 1\nnode_mem{{instance=\"n\"}} {_BIG} 1700000000000\n", "auto", "value", "node_mem: value '9999"),
    ("a 1\nnode_mem 1e400\n", "auto", "value", "does not fit a float64"),
    ("a 1\nnode_mem -1e400 5\n", "auto", "value", "does not fit a float64"),
    # 2**70 ms was read silently as the year 37 million
    (f"a 1\nnode_mem 5 {2 ** 70}\n", "auto", "timestamp", "outside the plausible range 0 .. 32503680000000 millis"),
    ("a 1\nnode_mem 5 32503680000001\n", "auto", "timestamp", "outside"),
    ("a 1\nnode_mem 5 -1\n", "auto", "timestamp", "outside"),
    # OpenMetrics: float seconds, the same bounds
    ("a_total 1\nnode_mem 5 32503680000.5\n# EOF\n", "auto", "timestamp", "0 .. 32503680000 seconds"),
    (f"a_total 1\nnode_mem 5 {_BIG}\n# EOF\n", "auto", "timestamp", "outside"),
    (f"# TYPE node_mem counter\nnode_mem_total {_BIG} 1.5 # {{x=\"1\"}} 1.0\n# EOF\n", "auto", "value",
     "node_mem_total: value '9999"),
    ("a_total 1\nnode_mem 5 NaN\n# EOF\n", "openmetrics", "timestamp", "outside"),
])
def test_values_beyond_float64_and_implausible_timestamps_name_line_and_metric(text, fmt, field, match):
    with pytest.raises(InputError, match=match) as ei:
        parse_prometheus_text(text, source="f.prom", format=fmt)
    assert ei.value.line == 2 and ei.value.field == field and ei.value.source == "f.prom"


def test_the_bounds_themselves_and_spelled_out_infinities_are_valid():
    df = parse_prometheus_text("a 1.7976931348623157e308 0\nb -Inf 32503680000000\nc +inf\nd NaN\n"
                               "e -1e308 1700000000000\n")
    assert df["value"].iloc[0] == 1.7976931348623157e308 and df["value"].iloc[1] == -math.inf
    assert df["timestamp"].iloc[0] == 0.0 and df["timestamp"].iloc[1] == 32503680000.0
    assert df["value"].iloc[2] == math.inf and math.isnan(df["value"].iloc[3])
    om = parse_prometheus_text('a 5 32503680000\n# TYPE b counter\nb_total 1e308 0.5 # {t="1"} 1.0 99.5\n# EOF\n')
    assert om["timestamp"].tolist() == [32503680000.0, 0.5] and om["value"].tolist() == [5.0, 1e308]


@pytest.mark.parametrize("value", ["1", "-5", "1e308", "1e400", "-1e400", "9" * 400, "NaN", "+Inf", "-inf",
                                   "Infinity", "abc", "0x10"])
@pytest.mark.parametrize("ts", ["1700000000000", "0", "-1", str(2 ** 70), "9" * 400, "32503680000000",
                                "32503680000001"])
def test_the_fuzz_oracle_for_values_and_timestamps_is_what_the_reader_accepts(value, ts):
    from hpcopt.testing.fuzz_targets import _PROM_TS_MS, _prom_value

    try:
        parse_prometheus_text(f"a 1\nb {value} {ts}\n")
        accepted = True
    except InputError:
        accepted = False
    assert accepted == (_prom_value(value.encode()) and _PROM_TS_MS(ts.encode()))
