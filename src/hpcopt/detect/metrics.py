"""Honest evaluation metrics for time-series anomaly detection.

Primary (reported first): point-wise precision / recall / F1 of the alerts at a threshold
chosen without labels; AUROC and AUPRC of the scores (threshold-free); event recall (the
share of labelled segments with at least one alert), false alarms per day (alert runs
that touch no labelled segment) and detection delay.

Secondary, clearly labelled: point-adjusted F1 (a whole segment counts as detected if one
point is; Xu et al. 2018) -- it rewards random scores on data with long segments, so it is
never a headline -- and the oracle best F1 over all thresholds, which peeks at the test
labels and is only a ceiling for comparison.

Culprit metrics: HitRate@P% (Su et al., KDD 2019, OmniAnomaly): for each labelled
anomalous time step with ground-truth metric set G, the share of G found among the top
``floor(P/100 * |G|)`` ranked metrics; averaged over all such time steps.
"""

from __future__ import annotations

import math

import numpy as np

from hpcopt.data.telemetry import Segment, label_segments
from hpcopt.errors import InputError

__all__ = ["point_metrics", "ranking_metrics", "event_metrics", "point_adjust", "pa_f1", "best_f1",
           "hitrate", "random_hitrate_expected", "circular_shift_floor", "same_rate_floor"]


def _check_pair(y, a, what="alerts"):
    y = np.asarray(y).astype(np.int8).ravel()
    a = np.asarray(a).ravel()
    if y.shape != a.shape:
        raise InputError(f"{y.size} labels but {a.size} {what}", hint="labels and scores must cover the same rows")
    return y, a


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def point_metrics(y, alerts) -> dict:
    """Point-wise precision, recall, F1 and the alert rate."""
    y, a = _check_pair(y, alerts)
    a = a.astype(bool)
    yb = y.astype(bool)
    tp = int((a & yb).sum())
    fp = int((a & ~yb).sum())
    fn = int((~a & yb).sum())
    p, r, f = _prf(tp, fp, fn)
    return {"precision": p, "recall": r, "f1": f, "alert_rate": float(a.mean()) if a.size else 0.0}


def ranking_metrics(y, scores) -> dict:
    """AUROC and AUPRC (average precision); NaN when only one class is present."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = _check_pair(y, scores, "scores")
    if y.min() == y.max():
        return {"auroc": math.nan, "auprc": math.nan}
    return {"auroc": float(roc_auc_score(y, s)), "auprc": float(average_precision_score(y, s))}


def event_metrics(y, alerts, *, interval_s: float = 60.0) -> dict:
    """Event recall, false alarms per day, detection delay (steps and seconds)."""
    y, a = _check_pair(y, alerts)
    a = a.astype(np.int8)
    segs = label_segments(y)
    delays = []
    for s, e in segs:
        hit = np.flatnonzero(a[s:e])
        if hit.size:
            delays.append(int(hit[0]))
    runs = label_segments(a)
    yb = y.astype(bool)
    false_runs = sum(1 for s, e in runs if not yb[s:e].any())
    days = a.size * interval_s / 86400.0
    return {
        "n_events": len(segs),
        "events_detected": len(delays),
        "event_recall": len(delays) / len(segs) if segs else math.nan,
        "alert_events": len(runs),
        "false_alarm_events": false_runs,
        "false_alarms_per_day": false_runs / days if days else math.nan,
        "delay_steps_mean": float(np.mean(delays)) if delays else math.nan,
        "delay_steps_median": float(np.median(delays)) if delays else math.nan,
        "delay_s_mean": float(np.mean(delays)) * interval_s if delays else math.nan,
    }


def point_adjust(y, alerts) -> np.ndarray:
    """Point adjustment: every point of a labelled segment with at least one alert becomes an alert."""
    y, a = _check_pair(y, alerts)
    adj = a.astype(np.int8).copy()
    for s, e in label_segments(y):
        if adj[s:e].any():
            adj[s:e] = 1
    return adj


def pa_f1(y, alerts) -> float:
    """Point-adjusted F1 (secondary number only; inflated by design)."""
    return point_metrics(y, point_adjust(y, alerts))["f1"]


def best_f1(y, scores) -> dict:
    """Oracle: the best point-wise F1 over all thresholds (uses test labels; a ceiling, never a result)."""
    from sklearn.metrics import precision_recall_curve

    y, s = _check_pair(y, scores, "scores")
    if y.min() == y.max():
        return {"best_f1": math.nan, "best_threshold": math.nan}
    p, r, t = precision_recall_curve(y, s)
    f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0.0)[:-1]
    i = int(np.argmax(f))
    return {"best_f1": float(f[i]), "best_threshold": float(t[i])}


def hitrate(contributions, segments: list[Segment], p: float = 1.0) -> float:
    """HitRate@P over every time step of the interpretation segments (metrics 0-based).

    ``p=1.0`` is HitRate@100%, ``p=1.5`` HitRate@150%. Ties in the contributions are
    broken by metric order (stable sort).
    """
    C = np.asarray(contributions, dtype=np.float64)
    hits, n = 0.0, 0
    for seg in segments:
        if not seg.metrics:
            continue
        if seg.end > C.shape[0]:
            raise InputError(f"segment [{seg.start}, {seg.end}) is past the {C.shape[0]} scored rows")
        if max(seg.metrics) >= C.shape[1]:
            raise InputError(f"segment names metric {max(seg.metrics)} (0-based) of {C.shape[1]}")
        g = np.zeros(C.shape[1], dtype=bool)
        g[list(seg.metrics)] = True
        k = int(math.floor(p * len(seg.metrics)))
        top = np.argsort(-C[seg.start:seg.end], axis=1, kind="stable")[:, :k]
        hits += (g[top].sum(axis=1) / len(seg.metrics)).sum()
        n += seg.end - seg.start
    return hits / n if n else math.nan


def random_hitrate_expected(segments: list[Segment], n_metrics: int, p: float = 1.0) -> float:
    """Expected HitRate@P of a uniformly random ranking: ``min(floor(p*|G|), m) / m`` per point."""
    tot, n = 0.0, 0
    for seg in segments:
        if not seg.metrics:
            continue
        k = min(int(math.floor(p * len(seg.metrics))), n_metrics)
        tot += (seg.end - seg.start) * k / n_metrics
        n += seg.end - seg.start
    return tot / n if n else math.nan


def circular_shift_floor(alerts, statistic, *, n_shifts: int, seed: int | None = None) -> list:
    """A chance floor that keeps each alert sequence's count and runs: ``statistic`` of the
    sequences shifted circularly, once per shift (``np.roll``: an alert at row ``i`` moves to
    ``i + k``). The one floor of HPAS's and NAB's evaluations.

    ``alerts`` is a list of 0/1 arrays (one per series) and ``statistic(shifted_list)`` any
    value; the list of values is returned for the caller to reduce (mean, median).
    ``seed=None``: ``min(n_shifts, n)`` evenly spaced offsets of each series of ``n`` rows
    (deterministic; for one series it covers the whole circle). ``seed=s``: ``n_shifts``
    draws, draw ``k`` shifting each series by an offset from ``default_rng([s, k])``.
    """
    seqs = [np.asarray(a) for a in alerts]
    if not seqs or min(a.size for a in seqs) == 0:
        return []
    if seed is None:
        n_draws = min(int(n_shifts), min(a.size for a in seqs))
        offsets = [np.linspace(0, a.size, num=n_draws, endpoint=False).astype(np.int64) for a in seqs]
        draws = [[int(o[k]) for o in offsets] for k in range(n_draws)]
    else:
        draws = []
        for k in range(int(n_shifts)):
            rng = np.random.default_rng([seed, k])
            draws.append([int(rng.integers(a.size)) for a in seqs])
    return [statistic([np.roll(a, k) for a, k in zip(seqs, ks)]) for ks in draws]


def same_rate_floor(alerts, statistic, *, n_draws: int, seed: int = 0) -> list:
    """The other chance floor: ``statistic`` of independent random alerts at each sequence's own
    alert rate (draw ``k``: ``default_rng([seed, k])``, one uniform per row); it keeps the rate
    but not the runs, so it overstates chance when alerts cluster (see
    :func:`circular_shift_floor`). Returns the list of values, one per draw."""
    seqs = [np.asarray(a) for a in alerts]
    out = []
    for k in range(int(n_draws)):
        rng = np.random.default_rng([seed, k])
        out.append(statistic([rng.random(a.size) < (a.mean() if a.size else 0.0) for a in seqs]))
    return out
