"""Online scoring with bounded memory, alert events and Prometheus gauges.

:class:`StreamScorer` wraps a fitted detector. Each :meth:`~StreamScorer.update` takes one
time step (a vector of metric values) and returns the smoothed score and, when an alert
starts or ends, an event dict. Memory is bounded: it keeps only the last
``context_ + 1`` rows (the detector's look-back) and the last ``smoothing`` raw scores
and contributions, whatever the stream length. With ``adapt="spot"`` or ``"dspot"`` the
threshold is updated online from the unlabelled scores (:class:`~hpcopt.detect.thresholds.SPOT`);
its peaks grow with the stream unless ``adapt_params={"max_peaks": N}`` bounds them.
:class:`EntityStreams` scores many entities (nodes) of one stream, each with its own
:class:`StreamScorer` (own look-back, smoothing and streaming threshold) over one shared
fitted detector.

Events (one JSON object each):

* ``{"event": "alert", "index", "timestamp", "score", "threshold", "culprits": [{"metric", "contribution"}...]}``
  when the smoothed score first exceeds the threshold;
* ``{"event": "resolved", "index", "timestamp", "started", "duration_steps", "peak_score"}``
  when it falls back.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

import numpy as np

from hpcopt.data.telemetry import iter_jsonl_samples, parse_prometheus_text, write_prometheus_text
from hpcopt.detect.base import BaseDetector
from hpcopt.errors import ConfigError, InputError

__all__ = ["StreamScorer", "EntityStreams", "score_stream", "jsonl_records", "jsonl_rows", "prometheus_row"]


class StreamScorer:
    """Score one time step at a time; emit alert / resolved events with culprit metrics."""

    def __init__(self, detector: BaseDetector, *, top_k: int = 3, metric_names: list[str] | None = None,
                 entity: str = "", adapt: str | None = None, adapt_params: dict | None = None) -> None:
        detector._check_fitted()
        if getattr(detector, "transductive", False):
            raise ConfigError(f"{type(detector).__name__}({getattr(detector, 'model', '')}) is transductive (a row's "
                              "score depends on the rows scored with it) and cannot score a stream; use a causal "
                              "detector (mad, pca, iforest, ensemble, lstm, hbos, loda, ecod, copod) for streaming")
        from hpcopt.detect.detectors import RandomDetector

        if isinstance(detector, RandomDetector):
            raise ConfigError("the random detector is a batch baseline (its scores depend on the row count of a "
                              "call) and cannot score a stream; stream a fitted detector such as mad or pca")
        self.detector = detector
        # streaming threshold (SPOT/DSPOT), calibrated on the training scores, updated online
        self.spot = None
        if adapt:
            from hpcopt.detect.evaluate import make_spot

            self.spot = make_spot(detector, adapt, adapt_params)
        self.top_k = int(top_k)
        m = detector.n_features_in_
        if metric_names is not None and len(metric_names) != m:
            raise ConfigError(f"{len(metric_names)} metric names for a detector fitted on {m} metrics")
        # default names are 1-based column numbers, like the culprits of `hpcopt detect score`
        self.metric_names = list(metric_names) if metric_names is not None else [f"m{j + 1}" for j in range(m)]
        self.entity = entity
        self._rows: deque = deque(maxlen=int(getattr(detector, "context_", 0)) + 1)
        self._raw: deque = deque(maxlen=int(detector.smoothing))
        self._contrib: deque = deque(maxlen=int(detector.smoothing))
        self.index = -1
        self.in_alert = False
        self._start = None
        self._peak = 0.0
        self.last_score = float("nan")
        self.n_alerts = 0

    @property
    def threshold(self) -> float:
        """The threshold the next score will be compared with."""
        if self.spot is not None:
            return float(self.spot.threshold_)
        return float(self.detector.threshold_.value)

    def update(self, values, timestamp=None) -> tuple[float, dict | None]:
        """Add one row; return ``(smoothed score, event or None)``."""
        x = np.asarray(values, dtype=np.float64).ravel()
        m = self.detector.n_features_in_
        if x.size != m:
            raise InputError(f"sample {self.index + 1} has {x.size} values, the detector expects {m}")
        if not np.isfinite(x).all():
            raise InputError(f"sample {self.index + 1} has NaN/infinite values",
                             hint="fill gaps before streaming (e.g. repeat the last value)")
        self.index += 1
        self._rows.append(x)
        if len(self._rows) < self._rows.maxlen:
            # not enough look-back yet: edge-pad like the batch path does
            block = np.vstack([self._rows[0]] * (self._rows.maxlen - len(self._rows)) + list(self._rows))
        else:
            block = np.vstack(self._rows)
        raw = float(self.detector._raw_scores(block)[-1])
        self._raw.append(raw)
        score = float(np.mean(self._raw))
        self.last_score = score
        event = None
        if self.spot is not None:
            alarm, thr = self.spot.step(score)
        else:
            thr = self.threshold
            alarm = score > thr
        if alarm:
            contrib = self.detector._contributions(block)[-1]
            self._contrib.append(contrib)
            if not self.in_alert:
                self.in_alert, self._start, self._peak = True, self.index, score
                self.n_alerts += 1
                c = np.mean(self._contrib, axis=0)
                order = np.argsort(-c, kind="stable")[: self.top_k]
                event = {"event": "alert", "entity": self.entity, "index": self.index, "timestamp": timestamp,
                         "score": score, "threshold": thr,
                         "culprits": [{"metric": self.metric_names[j], "contribution": float(c[j])} for j in order]}
            else:
                self._peak = max(self._peak, score)
        else:
            self._contrib.clear()
            if self.in_alert:
                event = {"event": "resolved", "entity": self.entity, "index": self.index, "timestamp": timestamp,
                         "started": self._start, "duration_steps": self.index - self._start,
                         "peak_score": self._peak}
                self.in_alert = False
        return score, event

    def gauge_samples(self) -> dict:
        """``{metric: (help, [(labels, value)])}`` of the current state, for Prometheus text."""
        lab = {"entity": self.entity, "detector": type(self.detector).__name__}
        return {
            "hpcopt_detect_score": ("latest smoothed anomaly score", [(lab, self.last_score)]),
            "hpcopt_detect_threshold": ("label-free alert threshold", [(lab, self.threshold)]),
            "hpcopt_detect_alert": ("1 while an alert is open", [(lab, 1.0 if self.in_alert else 0.0)]),
            "hpcopt_detect_alerts_total": ("alerts opened since start", [(lab, float(self.n_alerts))]),
        }

    def gauges(self) -> str:
        """The current state as Prometheus text (gauges ``hpcopt_detect_*``)."""
        return write_prometheus_text(self.gauge_samples())


class EntityStreams:
    """One :class:`StreamScorer` per entity of an interleaved stream, created on first sight.

    The fitted ``detector`` is shared (scoring does not change it); each entity keeps its own
    look-back rows, smoothing window, alert state and, with ``adapt``, its own streaming
    threshold, so one node's alerts or drift never touch another's. ``max_entities`` bounds
    memory against a stream whose entity labels run away (e.g. a timestamp sent as the name):
    each entity holds the detector's look-back rows and smoothing window and, with ``adapt``,
    up to ``max_peaks`` SPOT peaks (8 bytes each; about 0.4 MB at the CLI's 10,000), so the
    total is at most ``max_entities`` times that. A new entity's threshold starts as a copy
    of one prototype calibrated once on the training scores.
    """

    def __init__(self, detector: BaseDetector, *, max_entities: int = 10_000, **scorer_kwargs) -> None:
        if "entity" in scorer_kwargs:
            raise ConfigError("EntityStreams names each scorer after its entity; do not pass 'entity'")
        if not isinstance(max_entities, (int, np.integer)) or max_entities < 1:
            raise ConfigError(f"max_entities must be an int >= 1; got {max_entities!r}")
        self._proto = StreamScorer(detector, **scorer_kwargs)  # fails now, not at the first row, on bad settings
        self.detector = detector
        self.max_entities = int(max_entities)
        self.scorer_kwargs = scorer_kwargs
        self.scorers: dict[str, StreamScorer] = {}

    def update(self, entity: str, values, timestamp=None) -> tuple[float, dict | None]:
        """Add one row of ``entity``; return its ``(smoothed score, event or None)``."""
        sc = self.scorers.get(entity)
        if sc is None:
            if len(self.scorers) >= self.max_entities:
                raise InputError(f"entity {entity!r} would be entity number {len(self.scorers) + 1}; at most "
                                 f"{self.max_entities} are kept", hint="check the entity field of the stream, or "
                                 "raise max_entities")
            import copy

            kw = dict(self.scorer_kwargs, adapt=None, adapt_params=None)
            sc = StreamScorer(self.detector, entity=entity, **kw)
            sc.spot = copy.deepcopy(self._proto.spot)  # the calibrated starting threshold, not refitted
            self.scorers[entity] = sc
        try:
            return sc.update(values, timestamp)
        except InputError as exc:
            raise InputError(f"entity {entity!r}: {exc.reason}", hint=exc.hint) from None

    def gauges(self) -> str:
        """Every entity's state as one Prometheus text (one HELP/TYPE per metric)."""
        merged: dict = {}
        for sc in self.scorers.values():
            for name, (help_, samples) in sc.gauge_samples().items():
                merged.setdefault(name, (help_, []))[1].extend(samples)
        return write_prometheus_text(merged)


def jsonl_records(lines: Iterable[str], metric_names: list[str] | None = None, *, source: str = "stdin"
                  ) -> Iterator[tuple[int, str | None, object, np.ndarray]]:
    """``(line number, entity or None, timestamp, row)`` from JSON lines ``{"timestamp": t,
    "values": [...]}`` or ``{"timestamp": t, "metrics": {...}}``, with an optional ``"entity"``.

    The ``metrics`` form needs ``metric_names`` (their order is the detector's order); a
    missing metric raises :class:`InputError` naming the line.
    """
    for lineno, obj in iter_jsonl_samples(lines, source=source):
        entity = obj.get("entity")
        if entity is not None and (not isinstance(entity, str) or not entity):
            raise InputError(f"'entity' must be a non-empty string; got {entity!r}", source=source, line=lineno)
        if "values" in obj:
            vals = obj["values"]
            if not isinstance(vals, list):
                raise InputError("'values' must be a list of numbers", source=source, line=lineno)
        elif "metrics" in obj:
            if metric_names is None:
                raise InputError("'metrics' objects need metric names", source=source, line=lineno,
                                 hint="send 'values' as a list in training order, or give the metric names")
            d = obj["metrics"]
            missing = [n for n in metric_names if n not in d]
            if missing:
                raise InputError(f"missing metrics {missing[:3]}", source=source, line=lineno)
            vals = [d[n] for n in metric_names]
        else:
            raise InputError("each line needs 'values' or 'metrics'", source=source, line=lineno)
        try:
            row = np.asarray(vals, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("a value is not a number", source=source, line=lineno) from None
        yield lineno, entity, obj.get("timestamp"), row


def jsonl_rows(lines: Iterable[str], metric_names: list[str] | None = None, *, source: str = "stdin",
               per_entity: bool = False) -> Iterator[tuple]:
    """Rows of :func:`jsonl_records`: ``(timestamp, row)`` of one entity, or with
    ``per_entity=True`` ``(entity, timestamp, row)``, every line naming its entity.

    One entity: the lines must all name the same ``"entity"`` or none at all; a line that
    names another (or names none after lines that did, or the reverse) is refused -- one
    scorer must not mix the rows of several nodes.
    """
    first = None  # (entity, line) of the first line
    for lineno, entity, ts, row in jsonl_records(lines, metric_names, source=source):
        if per_entity:
            yield require_entity(entity, lineno, source), ts, row
        else:
            first = same_entity(first, entity, lineno, source)
            yield ts, row


def require_entity(entity: str | None, lineno: int, source: str) -> str:
    """The line's entity; a line without one is refused when entities are scored apart."""
    if entity is None:
        raise InputError("each line needs an 'entity' (a non-empty string) to score entities apart",
                         source=source, line=lineno)
    return entity


def same_entity(first: tuple | None, entity: str | None, lineno: int, source: str) -> tuple:
    """``(entity, line)`` of the stream's first line; a line naming another entity (or none
    where the first named one, or the reverse) is refused: one scorer, one entity."""
    if first is None:
        return (entity, lineno)
    if entity != first[0]:
        raise InputError(f"entity {entity!r} differs from {first[0]!r} (line {first[1]}); one stream scores one "
                         "entity", source=source, line=lineno,
                         hint="score each entity apart (--per-entity, EntityStreams)")
    return first


def prometheus_row(text: str, metric_names: list[str], *, source: str = "scrape") -> tuple[object, np.ndarray]:
    """One row from one scrape in the text exposition format, metrics taken in ``metric_names`` order."""
    df = parse_prometheus_text(text, source=source)
    by = dict(zip(df["metric"], df["value"]))
    missing = [n for n in metric_names if n not in by]
    if missing:
        raise InputError(f"scrape lacks metrics {missing[:3]}", source=source)
    ts = df["timestamp"].dropna()
    return (float(ts.max()) if len(ts) else None), np.asarray([by[n] for n in metric_names], dtype=np.float64)


def score_stream(detector: BaseDetector, rows: Iterable[tuple[object, np.ndarray]], *, top_k: int = 3,
                 metric_names: list[str] | None = None, entity: str = "") -> Iterator[dict]:
    """Score an iterator of ``(timestamp, row)``; yield the alert / resolved events."""
    s = StreamScorer(detector, top_k=top_k, metric_names=metric_names, entity=entity)
    for ts, row in rows:
        _, ev = s.update(row, ts)
        if ev is not None:
            yield ev
