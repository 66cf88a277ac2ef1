"""Online scoring with bounded memory, alert events and Prometheus gauges, that keeps going.

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

:class:`StreamMonitor` is what ``hpcopt detect stream`` runs: it takes :class:`Sample`
records (from :func:`jsonl_samples` or :func:`prometheus_samples`, which never raise on
bad input) and a bad line or sample never stops it unless asked. Each one is reported as
a ``bad_sample`` event and, per ``on_bad_sample``, skipped, imputed (the entity's last
good value of each bad metric) or made an error (``stop``); every one is counted per
entity. One entity's fault never touches another's scores, and an entity over
``max_entities`` is refused alone (reported once, its lines counted).

Events (one JSON object each):

* ``{"event": "alert", "entity", "index", "timestamp", "score", "threshold", "culprits": [{"metric", "contribution"}...]}``
  when the smoothed score first exceeds the threshold;
* ``{"event": "resolved", "entity", "index", "timestamp", "started", "duration_steps", "peak_score"}``
  when it falls back;
* ``{"event": "bad_sample", "source", "line", "entity", "kind", "reason", "action"}`` for a
  line or sample that could not be scored as it was (``action``: skipped, imputed, stopped);
* ``{"event": "entity_refused", "source", "line", "entity", "reason"}`` once per refused entity.

``line`` is the line of a JSON-lines stream, or the number of the scrape.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from hpcopt.core.files import atomic_write_text, iter_text_lines
from hpcopt.data.prometheus import ScrapeRates, read_prometheus, write_prometheus_text
from hpcopt.detect.base import BaseDetector
from hpcopt.errors import ConfigError, InputError

__all__ = ["StreamScorer", "EntityStreams", "EntityRefused", "StreamMonitor", "Sample", "GaugeWriter",
           "BAD_SAMPLE_POLICIES", "jsonl_samples", "prometheus_samples", "score_stream", "run_stream", "parse_every"]

BAD_SAMPLE_POLICIES = ("skip", "impute", "stop")
# names of refused entities remembered to report each once; beyond, refusals are only counted
_MAX_REFUSED_NAMES = 10_000


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
        # bad samples of this entity, by what was done with them (kept by StreamMonitor)
        self.n_skipped = 0
        self.n_imputed = 0
        self.n_warmup = 0

    @property
    def threshold(self) -> float:
        """The threshold the next score will be compared with."""
        if self.spot is not None:
            return float(self.spot.threshold_)
        return float(self.detector.threshold_.value)

    @property
    def last_row(self) -> np.ndarray | None:
        """The last row scored (the source of imputed values), or None before the first."""
        return self._rows[-1] if self._rows else None

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
        """``{metric: (help, [(labels, value)], type)}`` of the current state, for Prometheus text."""
        lab = {"entity": self.entity, "detector": type(self.detector).__name__}
        return {
            "hpcopt_detect_score": ("latest smoothed anomaly score", [(lab, self.last_score)], "gauge"),
            "hpcopt_detect_threshold": ("label-free alert threshold", [(lab, self.threshold)], "gauge"),
            "hpcopt_detect_alert": ("1 while an alert is open", [(lab, 1.0 if self.in_alert else 0.0)], "gauge"),
            "hpcopt_detect_alerts_total": ("alerts opened since start", [(lab, float(self.n_alerts))], "counter"),
            "hpcopt_detect_samples_total": ("samples scored since start (imputed ones included)",
                                            [(lab, float(self.index + 1))], "counter"),
            "hpcopt_detect_bad_samples_total": ("bad samples since start, by what was done with them",
                                                [(dict(lab, action="skipped"), float(self.n_skipped)),
                                                 (dict(lab, action="imputed"), float(self.n_imputed))], "counter"),
            "hpcopt_detect_warmup_samples_total": ("first scrapes that only start the counters' rates",
                                                   [(lab, float(self.n_warmup))], "counter"),
        }

    def gauges(self) -> str:
        """The current state in the Prometheus text format (``hpcopt_detect_*``)."""
        return write_prometheus_text(self.gauge_samples())


class EntityRefused(InputError):
    """A new entity beyond ``max_entities``: refused alone, the others go on."""


class EntityStreams:
    """One :class:`StreamScorer` per entity of an interleaved stream, created on first sight.

    The fitted ``detector`` is shared (scoring does not change it); each entity keeps its own
    look-back rows, smoothing window, alert state and, with ``adapt``, its own streaming
    threshold, so one node's alerts or drift never touch another's. ``max_entities`` bounds
    memory against a stream whose entity labels run away (e.g. a timestamp sent as the name):
    each entity holds the detector's look-back rows and smoothing window and, with ``adapt``,
    up to ``max_peaks`` SPOT peaks (8 bytes each; about 0.4 MB at the CLI's 10,000), so the
    total is at most ``max_entities`` times that. An entity beyond the bound is refused
    (:class:`EntityRefused`); the entities already kept go on. A new entity's threshold
    starts as a copy of one prototype calibrated once on the training scores.
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

    def scorer(self, entity: str) -> StreamScorer:
        """The entity's scorer, created on first sight; :class:`EntityRefused` beyond the bound."""
        sc = self.scorers.get(entity)
        if sc is None:
            if len(self.scorers) >= self.max_entities:
                raise EntityRefused(f"entity {entity!r} would be entity number {len(self.scorers) + 1}; at most "
                                    f"{self.max_entities} are kept", hint="check the entity field of the stream, "
                                    "or raise max_entities")
            kw = dict(self.scorer_kwargs, adapt=None, adapt_params=None)
            sc = StreamScorer(self.detector, entity=entity, **kw)
            sc.spot = copy.deepcopy(self._proto.spot)  # the calibrated starting threshold, not refitted
            self.scorers[entity] = sc
        return sc

    def update(self, entity: str, values, timestamp=None) -> tuple[float, dict | None]:
        """Add one row of ``entity``; return its ``(smoothed score, event or None)``."""
        sc = self.scorer(entity)
        try:
            return sc.update(values, timestamp)
        except InputError as exc:
            raise InputError(f"entity {entity!r}: {exc.reason}", hint=exc.hint) from None

    def gauge_samples(self) -> dict:
        merged: dict = {}
        for sc in self.scorers.values():
            for name, (help_, samples, typ) in sc.gauge_samples().items():
                merged.setdefault(name, (help_, [], typ))[1].extend(samples)
        return merged

    def gauges(self) -> str:
        """Every entity's state as one Prometheus text (one HELP/TYPE per metric)."""
        return write_prometheus_text(self.gauge_samples())


@dataclass
class Sample:
    """One time step of one entity as read from a stream, good or not.

    ``values`` is None when nothing could be read (then ``problem`` says why) and may hold
    NaN where one metric could not be read (``problem`` names it). ``warmup`` marks a first
    scrape that only starts the counters' rates.
    """

    line: int
    entity: str | None
    timestamp: object
    values: np.ndarray | None
    problem: str | None = None
    kind: str | None = None
    source: str = "stdin"
    warmup: bool = False


def _number(v) -> float | None:
    """A JSON value as a float; inf for what the telemetry rule refuses (magnitude >= 2**64)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return math.inf
    return math.inf if abs(f) >= 2.0**64 else f


def _timestamp_problem(ts) -> str | None:
    """Why a line's ``timestamp`` cannot be carried (None: it can). Absent/null and text (an
    ISO 8601 time, passed through) are fine; a number must be seconds since the epoch: finite,
    0 or more and below 2**64, as in the data layer's readers."""
    if ts is None or isinstance(ts, str):
        return None
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return f"timestamp {json.dumps(ts)[:30]} is not a number or a text time"
    f = _number(ts)
    if not (0 <= f < 2.0**64):
        return f"timestamp {str(ts)[:30]} is not seconds since the epoch (finite, 0 or more)"
    return None


def jsonl_samples(lines: Iterable[bytes | str], metric_names: list[str] | None = None, *,
                  source: str = "stdin") -> Iterator[Sample]:
    """:class:`Sample` records from JSON lines ``{"timestamp": t, "values": [...]}`` or
    ``{"timestamp": t, "metrics": {name: value}}`` with an optional ``"entity"``; never raises.

    The ``metrics`` form needs ``metric_names`` (their order is the detector's order). A
    value that is not a number (``null``, text) or a metric missing from ``metrics`` is NaN
    with the reason in ``problem``; a line that is not text, not JSON or has no values gives
    ``values=None``. A bad ``timestamp`` (NaN, negative, not a number or text) gives a sample
    of kind ``bad_timestamp`` without a timestamp. Blank lines are passed over.
    """
    for lineno, text, problem in iter_text_lines(lines, source):
        if problem is not None:
            yield Sample(lineno, None, None, None, problem, "not_text", source)
            continue
        s = text.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as exc:
            yield Sample(lineno, None, None, None, f"not JSON: {exc.msg} at column {exc.colno}", "not_json", source)
            continue
        except (RecursionError, ValueError) as exc:  # nesting too deep, an integer too long
            yield Sample(lineno, None, None, None, f"not JSON: {type(exc).__name__}", "not_json", source)
            continue
        if not isinstance(obj, dict):
            yield Sample(lineno, None, None, None, "each line must be a JSON object", "not_object", source)
            continue
        entity = obj.get("entity")
        if entity is not None and (not isinstance(entity, str) or not entity):
            yield Sample(lineno, None, obj.get("timestamp"), None,
                         f"'entity' must be a non-empty string; got {str(entity)[:40]!r}", "bad_entity", source)
            continue
        ts = obj.get("timestamp")
        if "values" in obj:
            vals = obj["values"]
            if not isinstance(vals, list):
                yield Sample(lineno, entity, ts, None, "'values' must be a list of numbers", "no_values", source)
                continue
            names = [f"value {j + 1}" for j in range(len(vals))]
            missing: list[str] = []
        elif "metrics" in obj:
            d = obj["metrics"]
            if metric_names is None or not isinstance(d, dict):
                yield Sample(lineno, entity, ts, None, "'metrics' needs an object and the metric names (--metrics)"
                             if metric_names is None else "'metrics' must be an object", "no_values", source)
                continue
            missing = [n for n in metric_names if n not in d]
            vals = [d.get(n) for n in metric_names]
            names = list(metric_names)
        else:
            yield Sample(lineno, entity, ts, None, "the line has neither 'values' nor 'metrics'", "no_values", source)
            continue
        fast = None
        if not missing and all(type(v) is float or type(v) is int for v in vals):
            try:  # the common case in one call; a huge integer falls through to the loop
                fast = np.array(vals, dtype=np.float64)
            except OverflowError:
                pass
            else:  # the telemetry rule: magnitude 2**64 or more is not a value (made inf, a bad sample)
                fast[np.abs(fast) >= 2.0**64] = np.inf
        ts_problem = _timestamp_problem(ts)
        if fast is not None:
            if ts_problem is not None:
                yield Sample(lineno, entity, None, fast, ts_problem, "bad_timestamp", source)
                continue
            yield Sample(lineno, entity, ts, fast, None, None, source)
            continue
        row = np.full(len(vals), np.nan)
        bad = []
        for j, v in enumerate(vals):
            f = _number(v)
            if f is None:
                if not (missing and names[j] in missing):
                    bad.append(f"{names[j]} is {json.dumps(v)[:30]}")
            else:
                row[j] = f
        parts = []
        if missing:
            parts.append(f"missing metrics {missing[:3]}" + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
        if bad:
            parts.append("not a number: " + ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else ""))
        kind = "missing_metric" if missing else ("not_a_number" if bad else None)
        if ts_problem is not None:
            parts.insert(0, ts_problem)
            kind, ts = kind or "bad_timestamp", None
        yield Sample(lineno, entity, ts, row, "; ".join(parts) or None, kind, source)


def prometheus_samples(paths: Iterable[str | Path], metric_names: list[str], *, per_entity: bool = False,
                       interval: float | None = None, entity_label: str = "instance") -> Iterator[Sample]:
    """:class:`Sample` records from scrape files, one time step each, in order; never raises.

    Cumulative series (counters, histogram counts) become per-second rates between
    consecutive scrapes of an entity (:class:`~hpcopt.data.prometheus.ScrapeRates`, the
    arithmetic of ``counters_to_rates``); an entity's first scrape then only starts them
    (``warmup``). Without ``per_entity`` a scrape must hold one entity. A scrape that
    cannot be read gives one sample with ``values=None`` and the reason.
    """
    rates = ScrapeRates(metric_names, interval=interval)
    for number, path in enumerate(paths, start=1):
        src = str(path)
        try:
            frame = read_prometheus(path, entity_label=entity_label)
        except InputError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            yield Sample(number, None, None, None, where + exc.reason, "bad_scrape", src)
            continue
        entities = sorted(set(frame["entity"]))
        if not per_entity and len(entities) > 1:
            yield Sample(number, None, None, None, f"the scrape holds {len(entities)} entities ({entities[:3]}) "
                         "and this stream scores one (score them apart with per-entity)", "several_entities", src)
            continue
        for ent in entities or [""]:
            ts, row, problems, warmup = rates.row(frame, ent, number=number, source=src)
            kind = ("missing_metric" if problems and problems[0].startswith("metrics not found")
                    else "no_rate") if problems else None
            # one-entity stream: a scrape without the entity label names no entity (so --entity may name it)
            yield Sample(number, ent if per_entity or ent else None, ts, row, "; ".join(problems) or None, kind,
                         src, warmup)


class StreamMonitor:
    """Score a stream of :class:`Sample` records; bad ones are reported and handled, never fatal
    unless ``on_bad_sample="stop"``.

    ``per_entity`` scores each entity apart (:class:`EntityStreams`, at most ``max_entities``;
    one beyond is refused alone); otherwise the stream is one entity (``entity``, or the one
    the lines name; a line naming another is a bad line). ``on_bad_sample``: ``skip`` (the
    default) drops the sample, ``impute`` puts the entity's last scored value in place of
    each bad metric (a sample whose values cannot be read at all repeats the last row;
    before the first scored row there is nothing to impute from and the sample is skipped),
    ``stop`` raises :class:`InputError`. Every bad sample gives a ``bad_sample`` event and
    is counted in the gauges under its entity.
    """

    def __init__(self, detector: BaseDetector, *, per_entity: bool = False, entity: str = "",
                 max_entities: int = 10_000, on_bad_sample: str = "skip", **scorer_kwargs) -> None:
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(f"on_bad_sample must be one of {', '.join(BAD_SAMPLE_POLICIES)}; got {on_bad_sample!r}")
        if per_entity and entity:
            raise ConfigError("entity names the one entity of a stream; with per_entity each line names its own")
        self.per_entity = per_entity
        self.policy = on_bad_sample
        self.m = detector.n_features_in_
        self.streams = EntityStreams(detector, max_entities=max_entities, **scorer_kwargs) if per_entity else None
        self.single = None if per_entity else StreamScorer(detector, entity=entity, **scorer_kwargs)
        self._given = entity
        self._first_named: int | None = None
        self.n_lines = 0
        self.n_unattributed = 0  # bad lines counted under no entity (no readable entity, or another one)
        self.refused: set[str] = set()
        self._refusals_capped = False
        self.n_refused_entities = 0  # named refusals (at most _MAX_REFUSED_NAMES)
        self.n_refused_lines = 0

    # -- routing -------------------------------------------------------------------------
    def _scorer(self, s: Sample, events: list) -> StreamScorer | None:
        if self.per_entity:
            if s.entity is None:
                return None
            if s.entity in self.refused:
                self.n_refused_lines += 1
                return None
            try:
                return self.streams.scorer(s.entity)
            except EntityRefused as exc:
                self.n_refused_lines += 1
                if len(self.refused) < _MAX_REFUSED_NAMES:
                    self.refused.add(s.entity)
                    self.n_refused_entities += 1
                    events.append({"event": "entity_refused", "source": s.source, "line": s.line,
                                   "entity": s.entity, "reason": exc.reason + "; its lines are counted, not scored"})
                elif not self._refusals_capped:
                    self._refusals_capped = True  # memory bound: from here on only the lines are counted
                    events.append({"event": "entity_refused", "source": s.source, "line": s.line, "entity": None,
                                   "reason": f"{_MAX_REFUSED_NAMES} entities refused; the lines of further ones are "
                                             "counted without naming them"})
                return None
        if s.entity is not None:
            if self._first_named is None:  # the first line that names an entity fixes the stream's entity
                self._first_named = s.line
                if self._given and s.entity != self._given:
                    raise ConfigError(f"--entity {self._given!r} but the lines name {s.entity!r}; leave --entity "
                                      "out (the lines' entity is used) or make them agree")
                self.single.entity = s.entity  # events and gauges carry the lines' entity
            if s.entity != self.single.entity:
                return None
        return self.single

    def _bad(self, s: Sample, kind: str, reason: str, action: str, entity: str | None) -> dict:
        if action == "stopped":
            named = not entity or repr(entity) in reason
            raise InputError(reason if named else f"entity {entity!r}: {reason}", source=s.source,
                             line=s.line, hint="--on-bad-sample skip or impute goes on past bad samples")
        return {"event": "bad_sample", "source": s.source, "line": s.line, "entity": entity, "kind": kind,
                "reason": reason, "action": action}

    def feed(self, s: Sample) -> list[dict]:
        """Handle one sample; return its events (alert/resolved, bad_sample, entity_refused)."""
        self.n_lines += 1
        events: list[dict] = []
        sc = self._scorer(s, events)
        if sc is None:
            if events or (self.per_entity and s.entity is not None):
                return events  # a refused entity: counted in _scorer
            self.n_unattributed += 1
            if s.entity is None:
                kind, reason = s.kind or "no_entity", s.problem or "the line names no entity (each line needs one " \
                                                                   "to score entities apart)"
            else:
                kind = "other_entity"
                reason = (f"entity {s.entity!r} differs from {self.single.entity!r}; this stream scores one entity "
                          "(score each entity apart with --per-entity)")
            events.append(self._bad(s, kind, reason, "stopped" if self.policy == "stop" else "skipped", s.entity))
            return events
        if s.warmup:
            sc.n_warmup += 1
            return events
        x = s.values
        kind, reason = s.kind, s.problem
        if x is not None and x.size != self.m:
            kind, reason, x = "wrong_count", f"{x.size} values, the detector expects {self.m}", None
        whole = x is None
        bad = None if whole else ~np.isfinite(x)
        # a bad timestamp alone: the values are good; impute scores them without the timestamp
        ts_only = not whole and not bad.any() and s.kind == "bad_timestamp"
        if whole or bad.any() or ts_only:
            if reason is None and whole:
                kind, reason = kind or "unreadable", "the sample could not be read"
            elif reason is None:
                names = [sc.metric_names[j] for j in np.flatnonzero(bad)[:3]]
                more = f" and {int(bad.sum()) - 3} more" if bad.sum() > 3 else ""
                kind, reason = "not_finite", f"not finite: {', '.join(names)}{more}"
            action = {"skip": "skipped", "impute": "imputed", "stop": "stopped"}[self.policy]
            if action == "imputed" and sc.last_row is None and not ts_only:
                action, reason = "skipped", reason + " (nothing to impute from yet)"
            events.append(self._bad(s, kind or "bad_sample", reason, action, sc.entity))
            if action == "skipped":
                sc.n_skipped += 1
                return events
            last = sc.last_row
            x = x if ts_only else last.copy() if whole else np.where(bad, last, x)
            sc.n_imputed += 1
        _, ev = sc.update(x, s.timestamp)
        if ev is not None:
            events.append(ev)
        return events

    # -- state ---------------------------------------------------------------------------
    def summary(self) -> dict:
        scorers = list(self.streams.scorers.values()) if self.per_entity else [self.single]
        return {"lines": self.n_lines, "scored": sum(sc.index + 1 for sc in scorers),
                "imputed": sum(sc.n_imputed for sc in scorers), "skipped": sum(sc.n_skipped for sc in scorers),
                "warmup": sum(sc.n_warmup for sc in scorers), "unattributed": self.n_unattributed,
                "entities": len(scorers), "refused_entities": self.n_refused_entities,
                "refused_lines": self.n_refused_lines, "alerts": sum(sc.n_alerts for sc in scorers)}

    def gauge_samples(self) -> dict:
        out = self.streams.gauge_samples() if self.per_entity else self.single.gauge_samples()
        out["hpcopt_detect_lines_total"] = ("lines or scrape samples read", [({}, self.n_lines)], "counter")
        out["hpcopt_detect_unattributed_lines_total"] = (
            "bad lines counted under no entity (no readable entity, or another entity in a one-entity stream)",
            [({}, self.n_unattributed)], "counter")
        out["hpcopt_detect_refused_entities_total"] = ("entities refused over the entity limit",
                                                       [({}, self.n_refused_entities)], "counter")
        out["hpcopt_detect_refused_lines_total"] = ("lines of refused entities", [({}, self.n_refused_lines)],
                                                    "counter")
        return out

    def gauges(self) -> str:
        """The whole stream's state in the Prometheus text format (counters typed counter)."""
        return write_prometheus_text(self.gauge_samples())


class GaugeWriter:
    """Write a monitor's gauges atomically every ``every_samples`` samples or ``every_s`` seconds.

    The file is replaced whole (temporary file, then rename), so a reader -- or a crash,
    ``kill -9`` included -- only ever sees a complete exposition.
    """

    def __init__(self, path: str | Path, monitor: StreamMonitor, *, every_samples: int | None = None,
                 every_s: float | None = None, clock=time.monotonic) -> None:
        if (every_samples is None) == (every_s is None):
            raise ConfigError("give one of every_samples and every_s")
        if (every_samples is not None and every_samples < 1) or (every_s is not None and not every_s > 0):
            raise ConfigError("the gauge interval must be positive")
        self.path, self.monitor = Path(path), monitor
        self.every_samples, self.every_s, self.clock = every_samples, every_s, clock
        self._n = 0
        self._t = clock()
        self.n_writes = 0

    def tick(self) -> bool:
        """Count one sample; write when due. Returns whether it wrote."""
        self._n += 1
        due = (self._n >= self.every_samples) if self.every_samples else (self.clock() - self._t >= self.every_s)
        if due:
            self.write()
        return due

    def write(self) -> None:
        atomic_write_text(self.path, self.monitor.gauges())
        self._n, self._t = 0, self.clock()
        self.n_writes += 1


def parse_every(text: str) -> tuple[int | None, float | None]:
    """``"500"`` -> every 500 samples; ``"10s"`` -> every 10 seconds."""
    t = text.strip().lower()
    try:
        if t.endswith("s"):
            sec = float(t[:-1])
            if sec > 0 and math.isfinite(sec):
                return None, sec
        else:
            n = int(t)
            if n >= 1:
                return n, None
    except ValueError:
        pass
    raise ConfigError(f"--gauges-every must be a number of samples (e.g. 500) or of seconds (e.g. 10s); "
                      f"got {text!r} instead")


def score_stream(detector: BaseDetector, rows: Iterable[tuple[object, np.ndarray]], *, top_k: int = 3,
                 metric_names: list[str] | None = None, entity: str = "") -> Iterator[dict]:
    """Score an iterator of ``(timestamp, row)``; yield the alert / resolved events."""
    s = StreamScorer(detector, top_k=top_k, metric_names=metric_names, entity=entity)
    for ts, row in rows:
        _, ev = s.update(row, ts)
        if ev is not None:
            yield ev


def run_stream(model: str | Path, emit, *, lines: Iterable[bytes | str] | None = None, format: str = "jsonl",
               scrapes: list[str | Path] = (), metrics: str | Path | None = None, top_k: int = 3, entity: str = "",
               gauges_out: str | Path | None = None, gauges_every: str = "10s", force: bool = False,
               per_entity: bool = False, max_entities: int = 10_000, on_bad_sample: str = "skip",
               threshold: str = "fixed", depth: int | None = None, max_peaks: int | None = None,
               censored: bool = True, scrape_interval: float | None = None) -> dict:
    """What ``hpcopt detect stream`` runs: score ``lines`` (JSON lines) or ``scrapes`` (Prometheus
    files, ``format="prometheus"``) with the saved detector ``model``, calling ``emit(event)``
    for every event and, last, ``{"event": "end", **summary}``; returns the summary.

    ``threshold``: ``fixed`` (the model's own) or ``spot``/``dspot`` updated online (peaks
    bounded at 10,000 unless ``max_peaks``; ``censored`` counts alarms as censored excesses).
    ``gauges_out``: the state as Prometheus text, rewritten every ``gauges_every`` (``"500"``
    samples or ``"10s"``) and at the end, also when a bad sample stops the stream.
    Every option is checked before the first line is read.
    """
    from hpcopt.core.files import prepare_output, read_text
    from hpcopt.detect.config import adapt_params, score_threshold
    from hpcopt.detect.model_file import load_detector

    if on_bad_sample not in BAD_SAMPLE_POLICIES:
        raise ConfigError(f"--on-bad-sample must be skip, impute or stop; got {on_bad_sample!r}")
    adapt = score_threshold(threshold)
    if format not in ("jsonl", "prometheus"):
        raise ConfigError(f"--format must be jsonl or prometheus; got {format!r}")
    if per_entity and entity:
        raise ConfigError("--entity names the one entity of a stream; with --per-entity each line names its own")
    if scrape_interval is not None and (format != "prometheus" or not scrape_interval > 0):
        raise ConfigError("--scrape-interval is a positive number of seconds, for --format prometheus")
    every_n, every_s = parse_every(gauges_every)
    if gauges_out is not None:
        prepare_output(gauges_out, inputs=[model, metrics, *scrapes], force=force, option="--gauges-out")
    names = None
    if metrics is not None:
        names = [ln.strip() for ln in read_text(metrics).splitlines() if ln.strip()]
    if format == "prometheus":
        if names is None:
            raise ConfigError("--format prometheus needs --metrics (the metric names in training order)")
        if not scrapes:
            raise ConfigError("--format prometheus needs at least one --scrape FILE")
        samples = prometheus_samples(scrapes, names, per_entity=per_entity, interval=scrape_interval)
    else:
        if scrapes:
            raise ConfigError("--scrape is for --format prometheus")
        samples = jsonl_samples(lines if lines is not None else (), names)
    det = load_detector(model)
    if adapt is not None and max_peaks is None:
        max_peaks = 10_000  # bounded memory on an endless stream
    ap = adapt_params(adapt, depth, max_peaks, censored and adapt is not None)
    monitor = StreamMonitor(det, per_entity=per_entity, entity=entity, max_entities=max_entities,
                            on_bad_sample=on_bad_sample, top_k=top_k, metric_names=names, adapt=adapt,
                            adapt_params=ap if adapt else None)
    writer = (GaugeWriter(gauges_out, monitor, every_samples=every_n, every_s=every_s)
              if gauges_out is not None else None)
    try:
        for sample in samples:
            for ev in monitor.feed(sample):
                emit(ev)
            if writer is not None:
                writer.tick()
    finally:
        if writer is not None:
            writer.write()  # the state reached, also when a bad sample stopped the stream
    summary = monitor.summary()
    emit({"event": "end", **summary})
    return summary
