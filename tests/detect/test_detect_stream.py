"""Streaming: same scores as the batch path, bounded memory, alert events, gauges; bad lines,
bad samples, faulty and surplus entities reported and handled without stopping the others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the 'detect' extra; CI installs it

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from hpcopt.cli import _register, app, main
from hpcopt.data.telemetry import counters_to_rates, parse_prometheus_text
from hpcopt.detect import make_detector
from hpcopt.detect.stream import (EntityRefused, EntityStreams, GaugeWriter, Sample, StreamMonitor, StreamScorer,
                                  jsonl_samples, parse_every, prometheus_samples, score_stream)
from hpcopt.errors import ConfigError, InputError

runner = CliRunner()
_register()
SRC = Path(__file__).resolve().parents[2] / "src"


def _fit(name="pca", **kw):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2000, 1))
    X = np.hstack([f, f, f, rng.normal(size=(2000, 1))]) + 0.05 * rng.normal(size=(2000, 4))
    return make_detector(name, random_state=0, **kw).fit(X)


def _test():
    rng = np.random.default_rng(5)
    f = rng.normal(size=(400, 1))
    T = np.hstack([f, f, f, rng.normal(size=(400, 1))]) + 0.05 * rng.normal(size=(400, 4))
    T[200:230, 1] += 4.0
    return T


@pytest.mark.parametrize("name", ["pca", "mad", "ensemble"])
def test_stream_matches_batch_and_memory_is_bounded(name):
    det = _fit(name)
    T = _test()
    s = StreamScorer(det, metric_names=["a", "b", "c", "d"])
    scores = [s.update(r)[0] for r in T]
    np.testing.assert_allclose(scores, det.decision_function(T), rtol=1e-9, atol=1e-12)
    assert len(s._rows) == det.context_ + 1 and len(s._raw) <= det.smoothing


def test_alert_events_with_culprits():
    det = _fit("pca")
    T = _test()
    events = list(score_stream(det, ((i, r) for i, r in enumerate(T)), metric_names=["a", "b", "c", "d"]))
    alerts = [e for e in events if e["event"] == "alert"]
    assert any(200 <= e["index"] <= 205 and e["culprits"][0]["metric"] == "b" for e in alerts)
    resolved = [e for e in events if e["event"] == "resolved"]
    assert all(r["duration_steps"] >= 1 for r in resolved)
    json.dumps(events)  # events are JSON-serialisable



def _line(row, entity=None, ts=None) -> bytes:
    obj = {"timestamp": ts, "values": [float(v) for v in row]}
    if entity is not None:
        obj["entity"] = entity
    return (json.dumps(obj) + "\n").encode()


def _garbage(rng, kind: int, good: bytes) -> bytes:
    """One bad line of seven kinds: random bytes, half a line, NaN, text, wrong count, non-UTF-8, NUL."""
    if kind == 0:
        b = bytes(rng.integers(0, 256, size=int(rng.integers(1, 60)), dtype=np.uint8)).replace(b"\n", b"?")
        return b + b"\n"
    if kind == 1:
        return good[: len(good) // 2] + b"\n"
    if kind == 2:
        obj = json.loads(good)
        obj["values"][int(rng.integers(0, 4))] = float("nan")
        return (json.dumps(obj) + "\n").encode()  # Python writes the NaN literal, as many exporters do
    if kind == 3:
        return b"connection reset by peer\n"
    if kind == 4:
        obj = json.loads(good)
        obj["values"] = obj["values"][:-1]
        return (json.dumps(obj) + "\n").encode()
    if kind == 5:
        return good.replace(b'"values"', b'"v\xe4lues"')  # Latin-1 byte: read as such, then no 'values'
    return good[:10] + b"\x00" + good[10:]


def _garbled(lines: list[bytes], frac=0.1, seed=0, entity_of=None):
    """Insert bad lines among good ones; return (all lines, 1-based numbers of the bad ones)."""
    rng = np.random.default_rng(seed)
    out, bad = [], []
    for good in lines:
        if rng.random() < frac / (1 - frac):  # a bad line before this good one, the seven kinds in turn
            out.append(_garbage(rng, len(bad) % 7, good))
            bad.append(len(out))
        out.append(good)
    return out, bad


def test_ten_percent_garbage_loses_no_good_line_and_scores_are_those_of_a_clean_run():
    det = _fit("mad")
    T = np.vstack([_test(), _test()[::-1], _test()])  # 1200 rows, three anomalies
    good = [_line(r, ts=i) for i, r in enumerate(T)]
    lines, bad = _garbled(good)
    assert 0.08 < len(bad) / len(lines) < 0.12  # about 10 % garbage
    clean = StreamScorer(det)
    ref = [clean.update(r, i) for i, r in enumerate(T)]
    mon = StreamMonitor(det)
    scores, events, reported = [], [], []
    for smp in jsonl_samples(lines):
        before = mon.single.index
        evs = mon.feed(smp)
        reported += [e["line"] for e in evs if e["event"] == "bad_sample"]
        assert all(e["action"] == "skipped" for e in evs if e["event"] == "bad_sample")
        if mon.single.index > before:
            scores.append(mon.single.last_score)
            events.append(next((e for e in evs if e["event"] in ("alert", "resolved")), None))
    assert reported == bad  # each bad line reported once, by its line number
    assert scores == [s for s, _ in ref] and events == [e for _, e in ref]  # every good line, identical scores
    assert sum(e is not None and e["event"] == "alert" for e in events) >= 2
    summ = mon.summary()
    assert summ["scored"] == len(T) and summ["skipped"] == len(bad) and summ["lines"] == len(lines)
    kinds = {smp.kind for smp in jsonl_samples([lines[i - 1] for i in bad])}
    assert {"not_text", "not_json", "no_values"} <= kinds  # NUL, half lines and text, the Latin-1 key


def test_impute_uses_the_last_good_value_of_each_bad_metric_and_counts():
    det = _fit("mad")
    T = _test()[:6]
    lines = [_line(T[0], ts=0)[:5] + b"\n",  # nothing to impute from yet: skipped
             _line(T[0], ts=0), _line(T[1], ts=1),
             b'{"timestamp": 2, "values": [%r, null, %r, "x"]}\n' % (float(T[2, 0]), float(T[2, 2])),
             b"\xff\xfe\n",  # unreadable: the last row is repeated
             _line(T[3], ts=4)]
    mon = StreamMonitor(det, on_bad_sample="impute")
    evs, rows = [], []
    for smp in jsonl_samples(lines):
        evs.append(mon.feed(smp))
        rows.append(mon.single.last_row)
    assert evs[0][0]["action"] == "skipped" and "nothing to impute from yet" in evs[0][0]["reason"]
    assert evs[3][0]["action"] == "imputed" and evs[3][0]["kind"] == "not_a_number"
    assert "value 2 is null" in evs[3][0]["reason"] and 'value 4 is "x"' in evs[3][0]["reason"]
    want = np.array([T[2, 0], T[1, 1], T[2, 2], T[1, 3]])
    ref = StreamScorer(det)
    for r in (T[0], T[1], want, want, T[3]):
        ref.update(r)
    assert mon.single.last_score == ref.last_score and mon.single.index == 4
    assert rows[3].tolist() == want.tolist() and rows[4].tolist() == want.tolist()
    assert mon.summary()["imputed"] == 2 and mon.summary()["skipped"] == 1


def test_stop_policy_makes_the_first_bad_sample_an_error_naming_line_and_entity():
    det = _fit("mad")
    mon = StreamMonitor(det, on_bad_sample="stop", per_entity=True)
    lines = [_line(_test()[0], entity="n1"), _line([1.0, float("nan"), 2.0, 3.0], entity="n2")]
    samples = list(jsonl_samples(lines))
    mon.feed(samples[0])
    with pytest.raises(InputError, match="entity 'n2': not finite: m2") as ei:
        mon.feed(samples[1])
    assert ei.value.line == 2 and "--on-bad-sample" in ei.value.hint


def test_a_nan_on_one_node_leaves_the_other_nodes_outputs_identical():
    det = _fit("mad")  # smooths over 5 rows: a skipped row must not shift anyone else's window
    X = {"n1": _test(), "n2": _test()[::-1].copy(), "n3": _test() * 1.1}
    rng = np.random.default_rng(3)
    nan_rows = set(rng.choice(400, size=40, replace=False).tolist())
    clean, lines = [], []
    for i in range(400):
        for n in X:
            row = X[n][i].copy()
            clean.append(_line(row, entity=n, ts=i))
            if n == "n2" and i in nan_rows:
                row[i % 4] = np.nan
            lines.append(_line(row, entity=n, ts=i))
    lines.insert(500, b'{"entity": "n2", "values": [1, 2\n')  # a broken line: its entity cannot be read

    def outputs(stream):
        mon = StreamMonitor(det, per_entity=True, metric_names=["a", "b", "c", "d"])
        got = {n: [] for n in X}
        for smp in jsonl_samples(stream):
            evs = mon.feed(smp)
            sc = mon.streams.scorers.get(smp.entity)
            if sc is not None and not any(e["event"] == "bad_sample" for e in evs):
                got[smp.entity].append((sc.last_score, evs))
        return mon, got

    mon, got = outputs(lines)
    _, ref = outputs(clean)
    assert got["n1"] == ref["n1"] and got["n3"] == ref["n3"]  # every score and every event
    assert sum(e["event"] == "alert" for _, evs in got["n1"] for e in evs) >= 1
    alone = StreamScorer(det, entity="n2", metric_names=["a", "b", "c", "d"])
    want = [alone.update(r, i) for i, r in enumerate(X["n2"]) if i not in nan_rows]
    assert [s for s, _ in got["n2"]] == [s for s, _ in want]  # n2 goes on past its own bad samples
    assert mon.streams.scorers["n2"].n_skipped == 40 and mon.summary()["unattributed"] == 1
    assert mon.streams.scorers["n1"].n_skipped == 0 and mon.streams.scorers["n3"].index == 399


def test_the_entity_over_the_limit_is_refused_alone_reported_once_and_counted():
    det = _fit("mad")
    T = _test()[:30]
    names = [f"e{k:03d}" for k in range(101)]
    lines = [_line(T[i] + 0.01 * k, entity=n, ts=i) for i in range(30) for k, n in enumerate(names)]
    mon = StreamMonitor(det, per_entity=True, max_entities=100)
    refused = []
    for smp in jsonl_samples(lines):
        refused += [e for e in mon.feed(smp) if e["event"] == "entity_refused"]
    assert [(e["entity"], e["line"]) for e in refused] == [("e100", 101)]
    assert "at most 100 are kept" in refused[0]["reason"]
    s = mon.summary()
    assert s["entities"] == 100 and s["refused_entities"] == 1 and s["refused_lines"] == 30 and s["scored"] == 3000
    alone = StreamMonitor(det, per_entity=True, max_entities=100)
    for smp in jsonl_samples([ln for ln in lines if b'"e100"' not in ln]):
        alone.feed(smp)
    assert ([sc.last_score for sc in mon.streams.scorers.values()]
            == [sc.last_score for sc in alone.streams.scorers.values()])
    multi = EntityStreams(det, max_entities=1)
    multi.update("a", T[0])
    with pytest.raises(EntityRefused, match="entity 'b' would be entity number 2; at most 1"):
        multi.update("b", T[0])
    multi.update("a", T[1])  # the kept entity goes on
    assert multi.scorers["a"].index == 1 and list(multi.scorers) == ["a"]


def test_one_entity_stream_lines_of_another_entity_are_bad_lines():
    det = _fit("mad")
    T = _test()
    mon = StreamMonitor(det)
    evs = [mon.feed(s) for s in jsonl_samples([_line(T[0], "n7"), _line(T[1]), _line(T[2], "n8")])]
    assert mon.single.entity == "n7" and mon.single.index == 1  # a line naming none is the stream's entity
    assert evs[2][0]["kind"] == "other_entity" and "--per-entity" in evs[2][0]["reason"]
    assert mon.summary()["unattributed"] == 1
    with pytest.raises(ConfigError, match="--entity 'x' but the lines name 'n7'"):
        StreamMonitor(det, entity="x").feed(next(jsonl_samples([_line(T[0], "n7")])))
    with pytest.raises(ConfigError, match="on_bad_sample must be one of skip, impute, stop"):
        StreamMonitor(det, on_bad_sample="ignore")


def test_jsonl_samples_name_every_fault():
    lines = [b'{"timestamp": 1, "values": [1, 2]}', b"", b"   ",
             b'{"timestamp": 2, "metrics": {"b": 4, "a": 3}}', b'{"metrics": {"a": 1}}', b"[1, 2]",
             b'{"entity": 7, "values": [1]}', b'{"values": "1,2"}', b'{"x": 1}', b'{"values": [true, 1e999]}',
             b"\x00", "é".encode("latin-1")]
    out = list(jsonl_samples(lines, ["a", "b"]))
    assert [s.line for s in out] == [1, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # blank lines passed over
    assert out[0].values.tolist() == [1.0, 2.0] and out[0].problem is None and out[0].timestamp == 1
    assert out[1].values.tolist() == [3.0, 4.0]
    assert out[2].kind == "missing_metric" and "missing metrics ['b']" in out[2].problem
    assert np.isnan(out[2].values[1]) and out[2].values[0] == 1.0
    assert [s.kind for s in out[3:]] == ["not_object", "bad_entity", "no_values", "no_values", "not_a_number",
                                         "not_text", "not_json"]
    assert out[7].values[1] == np.inf and "value 1 is true" in out[7].problem


def test_gauges_parse_with_prometheus_client_and_counters_are_counters():
    det = _fit("mad")
    mon = StreamMonitor(det, per_entity=True, max_entities=2)
    T = _test()
    lines = [_line(T[i], entity=n, ts=i) for i in range(250) for n in ("a", "b", "c")]
    lines += [b"junk\n", _line([np.nan] * 4, entity="a")]
    for smp in jsonl_samples(lines):
        mon.feed(smp)
    fams = {f.name: f for f in text_string_to_metric_families(mon.gauges())}
    assert fams["hpcopt_detect_alerts"].type == "counter"  # declared hpcopt_detect_alerts_total, typed counter
    text = mon.gauges()
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            name, typ = line.split()[2:4]
            assert (typ == "counter") == name.endswith("_total"), line
    val = {(s.name, s.labels.get("entity"), s.labels.get("action")): s.value
           for f in fams.values() for s in f.samples}
    assert val[("hpcopt_detect_samples_total", "a", None)] == 250
    assert val[("hpcopt_detect_bad_samples_total", "a", "skipped")] == 1
    assert val[("hpcopt_detect_refused_lines_total", None, None)] == 250
    assert val[("hpcopt_detect_unattributed_lines_total", None, None)] == 1
    assert val[("hpcopt_detect_lines_total", None, None)] == len(lines)
    assert val[("hpcopt_detect_alerts_total", "a", None)] == mon.streams.scorers["a"].n_alerts >= 1


def test_gauge_writer_every_n_samples_or_seconds(tmp_path):
    det = _fit("mad")
    mon = StreamMonitor(det)
    p = tmp_path / "g.prom"
    w = GaugeWriter(p, mon, every_samples=50)
    for smp in jsonl_samples([_line(r) for r in _test()[:120]]):
        mon.feed(smp)
        w.tick()
    assert w.n_writes == 2 and "hpcopt_detect_samples_total{" in p.read_text()
    assert 'detector="MADDetector"} 100.0' in p.read_text()
    now = [0.0]
    w2 = GaugeWriter(tmp_path / "t.prom", mon, every_s=10.0, clock=lambda: now[0])
    assert not w2.tick()
    now[0] = 10.5
    assert w2.tick() and w2.n_writes == 1
    assert parse_every("500") == (500, None) and parse_every("2.5s") == (None, 2.5)
    for bad in ("0", "-1s", "soon", "nans"):
        with pytest.raises(ConfigError, match="--gauges-every"):
            parse_every(bad)
    assert [f.name for f in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*.tmp"))


def _model(tmp_path, name="mad"):
    p = tmp_path / "m.pkl"
    _fit(name).save(p)
    return p


def test_cli_stream_with_garbage_keeps_going_and_reports_on_stderr(tmp_path):
    model = _model(tmp_path)
    T = np.vstack([_test(), _test()])
    good = [_line(r, ts=i) for i, r in enumerate(T)]
    lines, bad = _garbled(good, seed=1)
    clean = runner.invoke(app, ["detect", "stream", "--model", str(model)], input=b"".join(good))
    assert clean.exit_code == 0, clean.output
    g = tmp_path / "g.prom"
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--gauges-out", str(g),
                            "--gauges-every", "100"], input=b"".join(lines))
    assert r.exit_code == 0, r.output
    assert r.stdout == clean.stdout and r.stdout.count('"alert"') >= 2  # the same alerts, nothing lost
    err = [json.loads(ln) for ln in r.stderr.splitlines()]
    assert [e["line"] for e in err if e["event"] == "bad_sample"] == bad
    end = err[-1]
    assert end["event"] == "end" and end["scored"] == len(T) and end["skipped"] == len(bad)
    assert {f.name: f.type for f in text_string_to_metric_families(g.read_text())}["hpcopt_detect_alerts"] == "counter"
    # an existing gauges file is kept unless --force
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--gauges-out", str(g)], input=good[0])
    assert r.exit_code == 1 and "--force" in str(r.exception)
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--gauges-out", str(g), "--force",
                            "--on-bad-sample", "stop"], input=b"".join(lines))
    assert r.exit_code == 1 and r.exception.line == bad[0]
    assert 'hpcopt_detect_samples_total{entity="",detector="MADDetector"} ' + f"{bad[0] - 1}.0" in g.read_text()


def test_cli_threshold_and_policy_options(tmp_path, capsys):
    model = _model(tmp_path)
    rows = b"".join(_line(r, ts=i) for i, r in enumerate(_test()))
    fixed = runner.invoke(app, ["detect", "stream", "--model", str(model), "--threshold", "fixed"], input=rows)
    default = runner.invoke(app, ["detect", "stream", "--model", str(model)], input=rows)
    assert fixed.exit_code == 0 and fixed.stdout == default.stdout
    dspot = runner.invoke(app, ["detect", "stream", "--model", str(model), "--threshold", "dspot", "--depth", "20"],
                          input=rows)
    assert dspot.exit_code == 0 and dspot.stdout != default.stdout
    for args, message in ((["--threshold", "pot"], "--threshold must be fixed, spot or dspot"),
                          (["--on-bad-sample", "ignore"], "--on-bad-sample must be skip, impute or stop"),
                          (["--gauges-every", "0"], "--gauges-every"),
                          (["--depth", "20"], "use it with dspot only"),
                          (["--adapt", "spot"], "No such option")):
        with pytest.raises(SystemExit) as ei:
            main(["detect", "stream", "--model", str(model), *args])
        out = capsys.readouterr()
        assert ei.value.code == 64 and message in out.out + out.err, (args, out)


def test_cli_prometheus_scrapes_counters_become_rates_and_a_bad_scrape_is_skipped(tmp_path):
    det = _fit("mad")
    model = tmp_path / "m.pkl"
    det.save(model)
    T = _test()[:60]
    # metric 'a' is exported as a counter whose per-second rate is T[:, 0] + 3 (positive); one reset at row 30
    t = 1700000000.0 + 15.0 * np.arange(61)
    inc = np.concatenate([[5.0], (T[:, 0] + 3) * 15.0])
    cum = np.cumsum(inc)
    cum[31:] -= cum[30]  # the counter restarts from zero after row 30: cum[31] is row 31's increment alone
    names = tmp_path / "names.txt"
    names.write_text("cpu_seconds_total\nb\nc\nd\n")
    paths = []
    for i in range(61):
        vals = T[max(i - 1, 0)]
        text = (f"# TYPE cpu_seconds_total counter\ncpu_seconds_total{{instance=\"n1\"}} {float(cum[i])!r} {int(t[i] * 1000)}\n"
                + "".join(f'{m}{{instance="n1"}} {float(vals[j])!r} {int(t[i] * 1000)}\n'
                          for j, m in ((1, "b"), (2, "c"), (3, "d"))))
        if i == 20:
            text = text.replace("c{", "cc{")  # a scrape that lacks a metric
        if i == 40:
            text = "garbage {{{\n"
        p = tmp_path / f"s{i:02d}.prom"
        p.write_text(text)
        paths.append(p)
    args = ["detect", "stream", "--model", str(model), "--format", "prometheus", "--metrics", str(names)]
    r = runner.invoke(app, [*args, *(a for p in paths for a in ("--scrape", str(p)))])
    assert r.exit_code == 0, r.output
    err = [json.loads(ln) for ln in r.stderr.splitlines()]
    bad = [e for e in err if e["event"] == "bad_sample"]
    assert [(e["line"], e["kind"]) for e in bad] == [(21, "missing_metric"), (41, "bad_scrape")]
    assert "'c' (did you mean 'cc'?)" in bad[0]["reason"] and "it has: b, cc, cpu_seconds_total, d" in bad[0]["reason"]
    assert err[-1]["warmup"] == 1 and err[-1]["scored"] == 58 and err[-1]["skipped"] == 2
    # the rows scored are counters_to_rates' rows over the scrapes that could be read (41 could not)
    import pandas as pd

    readable = [i for i in range(61) if i != 40]
    wide = pd.DataFrame({"cpu_seconds_total": cum[readable]}, index=t[readable])
    rates = counters_to_rates(wide)["cpu_seconds_total"]
    assert rates.loc[t[31]] == pytest.approx(inc[31] / 15.0, rel=1e-9)  # the reset counts from zero
    assert rates.loc[t[41]] == pytest.approx((cum[41] - cum[39]) / 30.0)  # over the gap
    ref = StreamScorer(det)
    for i in readable[1:]:
        if i != 20:  # scrape 21 lacks 'c': skipped (its counter still read)
            ref.update([rates.loc[t[i]], *T[i - 1, 1:]])
    g = tmp_path / "g.prom"
    r2 = runner.invoke(app, [*args, "--gauges-out", str(g), *(a for p in paths for a in ("--scrape", str(p)))])
    assert r2.exit_code == 0
    got = {s.labels.get("entity"): s.value for f in text_string_to_metric_families(g.read_text())
           for s in f.samples if s.name == "hpcopt_detect_score"}
    assert got["n1"] == pytest.approx(ref.last_score, rel=1e-12)


def test_kill_9_in_the_middle_leaves_a_complete_gauges_file(tmp_path):
    model = _model(tmp_path)
    g = tmp_path / "g.prom"
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "hpcopt", "detect", "stream", "--model", str(model),
                             "--gauges-out", str(g), "--gauges-every", "1", "--per-entity"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    T = _test()
    families = None
    try:
        deadline = time.monotonic() + 120
        i = 0
        while time.monotonic() < deadline:
            proc.stdin.write(b"".join(_line(T[i % 400], entity=f"n{k}", ts=i) for k in range(20)))
            proc.stdin.flush()
            i += 1
            if g.exists() and i > 60:
                break
        assert g.exists(), "no gauges written"
        time.sleep(0.05 * float(np.random.default_rng().random()))
        os.kill(proc.pid, signal.SIGKILL)  # while it is rewriting the file after every sample
        proc.wait(timeout=30)
        text = g.read_text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
    finally:
        if proc.poll() is None:
            proc.kill()
    assert text.endswith("\n") and len(families) == 11  # every family, the last line whole
    n_lines = families["hpcopt_detect_lines"].samples[0].value
    assert n_lines >= 1 and len(families["hpcopt_detect_score"].samples) == min(20, n_lines)


@pytest.mark.parametrize("name,adapt", [("mad", None), ("mad", "dspot"), ("ensemble", None)])
def test_entity_streams_score_each_entity_as_its_own_stream(name, adapt):
    from hpcopt.detect.stream import EntityStreams

    det = _fit(name)  # the ensemble looks back 30 rows: the look-back must be per entity too
    A = _test()
    B = _test()[::-1].copy()  # a second node: its anomaly comes at rows 170-199
    kw = {"metric_names": ["a", "b", "c", "d"], "adapt": adapt,
          "adapt_params": {"depth": 20} if adapt == "dspot" else None}
    multi = EntityStreams(det, **kw)
    mixed = {"n1": [], "n2": []}
    for i in range(len(A)):  # interleaved, as lines from two nodes arrive
        for name, X in (("n1", A), ("n2", B)):
            score, ev = multi.update(name, X[i], i)
            mixed[name].append((score, ev))
    for ent, X in (("n1", A), ("n2", B)):
        alone = StreamScorer(det, entity=ent, **kw)
        ref = [alone.update(r, i) for i, r in enumerate(X)]
        assert [s for s, _ in mixed[ent]] == [s for s, _ in ref]
        assert [e for _, e in mixed[ent]] == [e for _, e in ref]
        assert all(e["entity"] == ent for _, e in mixed[ent] if e)
    g = parse_prometheus_text(multi.gauges(), entity_label="entity")
    assert sorted(g["entity"].unique()) == ["n1", "n2"] and len(g) == 2 * 8
    assert multi.gauges().count("# TYPE hpcopt_detect_score gauge") == 1


def test_random_detector_is_refused_by_the_stream():
    from hpcopt.errors import ConfigError

    with pytest.raises(ConfigError, match="random detector is a batch baseline"):
        StreamScorer(_fit("random"))


def test_prometheus_samples_per_entity_and_one_entity(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"s{i}.prom"
        p.write_text("# TYPE c_total counter\n" + "".join(
            f'c_total{{instance="{n}"}} {10.0 * (i + 1) * (k + 1)} {1000 * (i + 1)}\ng{{instance="{n}"}} {i}.5 '
            f"{1000 * (i + 1)}\n" for k, n in enumerate(("a", "b"))))
        paths.append(p)
    out = list(prometheus_samples(paths, ["c_total", "g"], per_entity=True))
    assert [(s.line, s.entity, s.warmup) for s in out] == [(1, "a", True), (1, "b", True), (2, "a", False),
                                                            (2, "b", False), (3, "a", False), (3, "b", False)]
    assert out[2].values.tolist() == [10.0, 1.5] and out[3].values.tolist() == [20.0, 1.5]  # per second
    one = list(prometheus_samples(paths, ["c_total", "g"]))
    assert [s.kind for s in one] == ["several_entities"] * 3 and one[0].values is None
    q = tmp_path / "plain.prom"
    q.write_text("g 1\nc_total 2\n")
    s = next(prometheus_samples([q], ["c_total", "g"]))
    assert s.entity is None and s.values.tolist() == [2.0, 1.0]  # no TYPE line: untyped, taken as it is


def test_an_integer_too_big_for_a_float_is_an_infinite_value_not_a_crash():
    s = next(jsonl_samples([b'{"values": [1' + b"0" * 400 + b', 2]}']))
    assert s.values[0] == np.inf and s.values[1] == 2.0
    mon = StreamMonitor(_fit("mad"))
    ev = mon.feed(Sample(1, None, None, np.array([np.inf, 1.0, 1.0, 1.0])))
    assert ev[0]["kind"] == "not_finite" and ev[0]["reason"] == "not finite: m1"


def test_refused_entity_names_are_bounded_in_memory(monkeypatch):
    import hpcopt.detect.stream as stream_mod

    monkeypatch.setattr(stream_mod, "_MAX_REFUSED_NAMES", 3)
    mon = StreamMonitor(_fit("mad"), per_entity=True, max_entities=1)
    row = _test()[0]
    events = [e for k in range(10) for _ in range(2) for e in mon.feed(Sample(k + 1, f"e{k}", None, row))]
    assert [e["entity"] for e in events] == ["e1", "e2", "e3", None]  # e0 kept; three named, then one notice
    s = mon.summary()
    assert s["refused_entities"] == 3 and s["refused_lines"] == 18 and len(mon.refused) == 3 and s["scored"] == 2


def test_openmetrics_scrapes_float_seconds_and_total_counters(tmp_path):
    paths = []
    for i, (c, ts) in enumerate(((100, 10.5), (130, 20.5), (10, 30.5))):
        p = tmp_path / f"o{i}.om"
        p.write_text(f"# TYPE req counter\nreq_total {c} {ts} # {{trace_id=\"t{i}\"}} 1.0\nload 0.{i} {ts}\n# EOF\n")
        paths.append(p)
    out = list(prometheus_samples(paths, ["req_total", "load"], interval=999.0))
    assert out[0].warmup and out[0].timestamp == 10.5
    assert out[1].values.tolist() == [3.0, 0.1] and out[2].values.tolist() == [1.0, 0.2]  # reset: 10 / 10 s


# --------------------------------------------------------------------------- timestamps (issue 10)


@pytest.mark.parametrize("ts", ["NaN", "-5", "-Infinity", "1e999", str(2**70), "true", "[1]"])
def test_a_bad_timestamp_is_a_bad_sample_reported_and_handled_per_policy(ts):
    det = _fit("mad")
    T = _test()[:4]
    bad_line = b'{"timestamp": %s, "values": [%s]}\n' % (ts.encode(), ", ".join(repr(float(v)) for v in T[2]).encode())
    lines = [_line(T[0], ts=0), _line(T[1], ts=1), bad_line, _line(T[3], ts="2026-01-01T00:00:03Z")]
    samples = list(jsonl_samples(lines))
    assert samples[2].kind == "bad_timestamp" and samples[2].timestamp is None and "timestamp" in samples[2].problem
    assert samples[2].values.tolist() == T[2].tolist()  # the values were read; only the timestamp is bad
    assert all(s.problem is None for s in samples[:2] + samples[3:])  # 0, 1 and an ISO text time are fine
    # skip (the default): reported once, counted, the other samples scored as in a stream without it
    mon = StreamMonitor(det)
    evs = [mon.feed(s) for s in samples]
    assert evs[2] == [{"event": "bad_sample", "source": "stdin", "line": 3, "entity": "", "kind": "bad_timestamp",
                       "reason": samples[2].problem, "action": "skipped"}]
    ref = StreamScorer(det)
    for r in (T[0], T[1], T[3]):
        ref.update(r)
    assert mon.summary()["skipped"] == 1 and mon.summary()["scored"] == 3 and mon.single.last_score == ref.last_score
    # impute: the good values are scored without the bad timestamp, counted as imputed
    mon = StreamMonitor(det, on_bad_sample="impute")
    evs = [mon.feed(s) for s in samples]
    assert evs[2][0]["action"] == "imputed" and mon.summary()["imputed"] == 1 and mon.summary()["scored"] == 4
    # stop: an error naming the line
    mon = StreamMonitor(det, on_bad_sample="stop")
    mon.feed(samples[0])
    with pytest.raises(InputError, match="timestamp") as ei:
        mon.feed(samples[2])
    assert ei.value.line == 3


def test_a_bad_timestamp_alone_imputes_even_on_the_first_sample_and_joins_other_problems():
    det = _fit("mad")
    T = _test()[:2]
    first = b'{"timestamp": -1, "values": [%s]}\n' % ", ".join(repr(float(v)) for v in T[0]).encode()
    both = b'{"timestamp": NaN, "values": [1.0, null, 2.0, 3.0]}\n'
    s1, s2 = jsonl_samples([first, both])
    assert s2.kind == "not_a_number" and s2.timestamp is None
    assert s2.problem.startswith("timestamp nan ") and "value 2 is null" in s2.problem
    mon = StreamMonitor(det, on_bad_sample="impute")
    assert mon.feed(s1)[0]["action"] == "imputed"  # nothing to impute from is needed: the values are good
    assert mon.single.last_row.tolist() == T[0].tolist()
    assert mon.feed(s2)[0]["action"] == "imputed" and mon.single.last_row.tolist() == [1.0, T[0][1], 2.0, 3.0]


def test_cli_stream_reports_a_bad_timestamp_on_stderr_per_entity_too(tmp_path):
    model = _model(tmp_path)
    T = _test()[:6]
    good = [_line(r, entity=f"n{i % 2}", ts=i) for i, r in enumerate(T)]
    lines = list(good)
    lines[3] = lines[3].replace(b'"timestamp": 3', b'"timestamp": -5')
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--per-entity"], input=b"".join(lines))
    assert r.exit_code == 0, r.output
    err = [json.loads(ln) for ln in r.stderr.splitlines()]
    assert [(e["line"], e["entity"], e["kind"], e["action"]) for e in err if e["event"] == "bad_sample"] == [
        (4, "n1", "bad_timestamp", "skipped")]
    assert err[-1]["event"] == "end" and err[-1]["skipped"] == 1 and err[-1]["scored"] == 5
