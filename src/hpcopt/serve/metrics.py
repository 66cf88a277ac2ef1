"""The service's Prometheus metrics (one registry per app, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TASK_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("hpcopt_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=r)
        self.latency = Histogram("hpcopt_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.rate_limited = Counter("hpcopt_http_rate_limited", "requests refused by the rate limit", registry=r)
        self.tasks = Counter("hpcopt_tasks", "task jobs finished, by outcome", ["task", "outcome"], registry=r)
        self.task_duration = Histogram("hpcopt_task_duration_seconds", "task job duration in the worker",
                                       ["task", "outcome"], buckets=_TASK_BUCKETS, registry=r)
        self.submitted = Counter("hpcopt_jobs_submitted", "task jobs accepted", ["task"], registry=r)
        self.queue_depth = Gauge("hpcopt_jobs_queue_depth", "jobs accepted and not finished (queued or running)",
                                 registry=r)

    def watch_gauge_files(self, sources: Callable[[], Iterable[tuple[str, str]]]) -> None:
        """Re-export the Prometheus files that running jobs keep (see :class:`GaugeFiles`)."""
        self.registry.register(GaugeFiles(sources))

    def job_done(self, job: dict, out: dict) -> None:
        outcome = out.get("status", "unknown")
        self.tasks.labels(job["task"], outcome).inc()
        if out.get("duration_s") is not None:
            self.task_duration.labels(job["task"], outcome).observe(out["duration_s"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class GaugeFiles:
    """A collector over the gauge files of the streams the service runs.

    A task that keeps its live state as a Prometheus text file (the detectors' stream
    monitor writes alerts per node and scores that way, atomically) names it in an output
    parameter whose name starts with ``gauges``. While such a job runs, its file's samples
    appear in ``/metrics`` with a ``job`` label added, so that several streams can share a
    metric name.
    """

    def __init__(self, sources: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self.sources = sources

    def collect(self):
        merged: dict[tuple[str, str], Metric] = {}
        for job_id, path in self.sources():
            try:
                text = Path(path).read_text()
                families = list(text_string_to_metric_families(text))
            except (OSError, ValueError):  # not written yet, or (never: it is atomic) half written
                continue
            for fam in families:
                m = merged.get((fam.name, fam.type))
                if m is None:
                    m = merged[(fam.name, fam.type)] = Metric(fam.name, fam.documentation, fam.type)
                for smp in fam.samples:
                    m.add_sample(smp.name, {**smp.labels, "job": job_id}, smp.value, smp.timestamp)
        yield from merged.values()
