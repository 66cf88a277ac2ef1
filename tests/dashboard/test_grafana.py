"""The shipped Grafana dashboard reads only series the service really exports."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

pytest.importorskip("prometheus_client")


def _dashboard() -> dict:
    return json.loads(resources.files("hpcopt.dashboard").joinpath("grafana/hpcopt.json").read_text())


def _exported() -> set[str]:
    """Every sample name of the service's own metrics and of a streaming detector's gauges."""
    from hpcopt.detect import make_detector
    from hpcopt.detect.stream import StreamScorer
    from hpcopt.serve.metrics import ServiceMetrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = {fam.name + s for fam in ServiceMetrics().registry.collect() for s in suffixes[fam.type]}
    det = make_detector("mad").fit(np.random.default_rng(0).normal(size=(200, 3)))
    names |= set(StreamScorer(det, entity="n1").gauge_samples())
    return names


def test_every_panel_queries_exported_series_with_its_labels():
    dash = _dashboard()
    exported = _exported()
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 12
    used = {m for e in exprs for m in re.findall(r"\bhpcopt_[a-z_]+", e)}
    assert used <= exported, f"series no one exports: {sorted(used - exported)}"
    # the service's whole surface is on the dashboard
    for name in ("hpcopt_http_requests_total", "hpcopt_http_request_duration_seconds_bucket", "hpcopt_tasks_total",
                 "hpcopt_task_duration_seconds_bucket", "hpcopt_jobs_submitted_total", "hpcopt_jobs_queue_depth",
                 "hpcopt_http_rate_limited_total", "hpcopt_detect_score", "hpcopt_detect_alert"):
        assert name in used, name
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dash["templating"]["list"]}
    for e in exprs:
        assert set(re.findall(r"\$([a-z]+)", e)) - {"__rate_interval"} <= variables, e
    assert all(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for p in dash["panels"] if p["type"] != "row")
