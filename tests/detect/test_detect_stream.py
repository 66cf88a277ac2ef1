"""Streaming: same scores as the batch path, bounded memory, alert events, gauges."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the 'detect' extra; CI installs it

from hpcopt.data.telemetry import parse_prometheus_text
from hpcopt.detect import make_detector
from hpcopt.detect.stream import StreamScorer, jsonl_rows, prometheus_row, score_stream
from hpcopt.errors import InputError


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


def test_jsonl_and_prometheus_inputs_and_gauges():
    names = ["a", "b"]
    lines = ['{"timestamp": 1, "values": [1, 2]}', "", '{"timestamp": 2, "metrics": {"b": 4, "a": 3}}']
    rows = list(jsonl_rows(lines, names))
    assert [r[0] for r in rows] == [1, 2] and rows[1][1].tolist() == [3.0, 4.0]
    with pytest.raises(InputError) as ei:
        list(jsonl_rows(['{"values": [1, 2]}', "{not json"]))
    assert ei.value.line == 2
    with pytest.raises(InputError, match="missing metrics"):
        list(jsonl_rows(['{"metrics": {"a": 1}}'], names))
    ts, row = prometheus_row('a 1 2000\nb{x="y"} 5\n', ["a", 'b{x="y"}'])
    assert ts == 2.0 and row.tolist() == [1.0, 5.0]
    det = _fit("mad")
    s = StreamScorer(det, entity="n1")
    with pytest.raises(InputError, match="expects 4"):
        s.update([1.0, 2.0])
    s.update(_test()[0])
    g = parse_prometheus_text(s.gauges(), entity_label="entity")
    assert set(g["metric"].str.split("{").str[0]) == {"hpcopt_detect_score", "hpcopt_detect_threshold",
                                                      "hpcopt_detect_alert", "hpcopt_detect_alerts_total"}
    assert (g["entity"] == "n1").all()


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
    assert sorted(g["entity"].unique()) == ["n1", "n2"] and len(g) == 8
    assert multi.gauges().count("# TYPE hpcopt_detect_score gauge") == 1


def test_entity_streams_bounds_and_jsonl_entities():
    from hpcopt.detect.stream import EntityStreams
    from hpcopt.errors import ConfigError

    det = _fit("mad")
    multi = EntityStreams(det, max_entities=2)
    multi.update("a", _test()[0])
    multi.update("b", _test()[0])
    with pytest.raises(InputError, match="entity 'c' would be entity number 3; at most 2"):
        multi.update("c", _test()[0])
    with pytest.raises(ConfigError, match="do not pass 'entity'"):
        EntityStreams(det, entity="x")
    lines = ['{"entity": "n1", "values": [1, 2]}', '{"entity": "n2", "timestamp": 5, "values": [3, 4]}']
    assert [(e, t) for e, t, _ in jsonl_rows(lines, per_entity=True)] == [("n1", None), ("n2", 5)]
    with pytest.raises(InputError, match="'n2' differs from 'n1' \\(line 1\\); one stream scores one entity") as ei:
        list(jsonl_rows(lines))
    assert ei.value.line == 2 and "--per-entity" in ei.value.hint
    with pytest.raises(InputError, match="needs an 'entity'"):
        list(jsonl_rows(['{"values": [1, 2]}'], per_entity=True))
    # one entity: a line without one after lines with one (or the reverse) is refused too
    with pytest.raises(InputError, match="None differs from 'n1'") as ei:
        list(jsonl_rows(['{"entity": "n1", "values": [1]}', '{"values": [2]}']))
    assert ei.value.line == 2
    with pytest.raises(InputError, match="'n1' differs from None"):
        list(jsonl_rows(['{"values": [1]}', '{"entity": "n1", "values": [2]}']))
    with pytest.raises(InputError, match="'entity' must be a non-empty string"):
        list(jsonl_rows(['{"entity": 7, "values": [1]}']))
    # a bad row of one entity names the entity
    with pytest.raises(InputError, match="entity 'b': sample 1 has 2 values"):
        multi.update("b", [1.0, 2.0])


def test_random_detector_is_refused_by_the_stream():
    from hpcopt.errors import ConfigError

    with pytest.raises(ConfigError, match="random detector is a batch baseline"):
        StreamScorer(_fit("random"))
