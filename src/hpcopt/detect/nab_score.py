"""NAB's own score: early detection inside anomaly windows, weighed by an application profile.

Follows Lavin and Ahmad, "Evaluating Real-time Anomaly Detection Algorithms -- the Numenta
Anomaly Benchmark", ICMLA 2015, and the scorer published in numenta/NAB (``nab/sweeper.py``,
``config/profiles.json``, normalisation in ``nab/runner.py``). Rows are indexed in file order
(0 = the file's first row); a window is a pair ``(first_row, last_row)``, both inclusive.

* **Application profiles** (weights ``A_TP``, ``A_FP``, ``A_FN``; NAB's ``tnWeight`` is never
  used by the score): ``standard`` (1.0, 0.11, 1.0), ``reward_low_FP_rate`` (1.0, 0.22, 1.0),
  ``reward_low_FN_rate`` (1.0, 0.11, 2.0).
* **Scaled sigmoid** of a relative position ``y``: ``sigma(y) = 2 / (1 + exp(5 y)) - 1``
  (``= tanh(-2.5 y)``), and ``-1`` for ``y >= 3``. It is about +0.987 at ``y = -1`` (a
  window's first row), 0 at ``y = 0`` (its right edge) and about -0.987 at ``y = 1``.
* **A detection inside a window** (left ``l``, right ``r``, width ``w = r - l + 1``) at row
  ``i`` has the position ``y = -(r - i + 1) / w`` (``-1`` at the first row, ``-1/w`` at the
  last) and is worth ``A_TP * sigma(y) / sigma(-1)``: exactly ``A_TP`` at the window's first
  row, less the later it comes. **Only the first detection in a window counts** (the
  earliest is also the largest); later ones inside the same window neither add nor cost.
* **A missed window** (no detection in its scored rows) costs ``-A_FN``.
* **A false positive** (a detection outside every window) at row ``i`` is weighed by its
  position after the closest preceding window (right edge ``r``, width ``w``):
  ``A_FP * sigma((i - r) / (w - 1))`` -- about zero just after the window, ``-A_FP`` from
  three window-widths on. **Before any window** it costs ``-A_FP`` (NAB uses the position 3).
  A preceding window still counts as such when it lies in the probationary period, as in
  NAB's sweeper. For a window of one row, ``w - 1`` is taken as 1 (NAB's sweeper would divide
  by zero; its NAB windows are never one row long).
* **The probationary period is not scored**: neither its detections nor its windows. NAB's
  length is ``min(floor(0.15 n), 0.15 * 5000)`` rows for a file of ``n`` rows
  (:func:`probation_length`); a caller whose detector trained on a different prefix passes
  its own ``probation``. A window that straddles the boundary is scored on its scored rows,
  positions still relative to the whole window.
* **Corpus**: raw scores are summed over the files, and normalised
  ``100 * (S - S_null) / (S_perfect - S_null)``, with ``S_null`` the null detector's score (no
  detections: ``-A_FN`` per scored window) and ``S_perfect`` the perfect detector's (one
  detection at the first scored row of each window, nothing else: ``A_TP`` per window that
  starts after the probationary period). NAB's runner takes the perfect score as ``A_TP``
  times the number of windows in the label file; the two agree when every window starts
  after the probationary period (true for NAB's corpus, whose optimiser asserts it).
* **Thresholds**: NAB turns anomaly scores into detections with one threshold per profile
  for the whole corpus, swept to maximise the summed raw score *on the corpus labels*
  (:func:`nab_sweep`). That choice is label-tuned; :func:`nab_score_file` scores alerts from
  any threshold, e.g. hpcopt's label-free POT/SPOT ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from hpcopt.errors import ConfigError, InputError

__all__ = ["PROFILES", "NabProfile", "NabFileScore", "probation_length", "scaled_sigmoid", "nab_score_file",
           "nab_score", "nab_sweep", "alert_onsets"]


@dataclass(frozen=True)
class NabProfile:
    """Weights of NAB's cost matrix (``tpWeight``, ``fpWeight``, ``fnWeight``)."""

    tp: float
    fp: float
    fn: float


#: NAB's application profiles (numenta/NAB ``config/profiles.json``; Lavin and Ahmad 2015, table 1)
PROFILES: dict[str, NabProfile] = {
    "standard": NabProfile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": NabProfile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": NabProfile(tp=1.0, fp=0.11, fn=2.0),
}

#: NAB's probationary share and its cap (the share of 5,000 rows)
PROBATION_FRACTION = 0.15
_PROBATION_CAP_ROWS = 5000


def alert_onsets(alerts) -> np.ndarray:
    """The first row of every run of consecutive alerts (0/1 array of the same length).

    This is what :class:`~hpcopt.detect.stream.StreamScorer` reports as ``alert`` events; NAB
    charges every detected row outside a window, so a detector that stays in alert for many
    rows is scored very differently from one that reports the start of each alert.
    """
    a = np.asarray(alerts)
    if a.ndim != 1:
        raise InputError(f"alerts must be one 0/1 value per row; got shape {a.shape}")
    on = a.astype(bool)
    out = on.copy()
    out[1:] &= ~on[:-1]
    return out.astype(np.int8)


def probation_length(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """NAB's probationary period in rows: ``min(floor(fraction * n_rows), fraction * 5000)``."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"The 'fraction' parameter of probation_length must be in [0, 1]; got {fraction!r} instead.")
    return int(min(math.floor(fraction * n_rows), fraction * _PROBATION_CAP_ROWS))


def scaled_sigmoid(y):
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, set to -1 from ``y = 3`` on (arrays or floats)."""
    y = np.asarray(y, dtype=np.float64)
    out = np.where(y >= 3.0, -1.0, np.tanh(-2.5 * y))
    return float(out) if out.ndim == 0 else out


_MAX_TP = float(np.tanh(2.5))  # sigma(-1): a detection at a window's first row


def _profile(profile: str | NabProfile) -> NabProfile:
    if isinstance(profile, NabProfile):
        return profile
    if profile not in PROFILES:
        raise ConfigError(f"unknown NAB profile {profile!r}; use one of {sorted(PROFILES)} or a NabProfile")
    return PROFILES[profile]


def _windows(windows, n_rows: int, where: str) -> np.ndarray:
    w = np.asarray(windows, dtype=np.int64).reshape(-1, 2) if len(windows) else np.zeros((0, 2), np.int64)
    for k, (left, right) in enumerate(w):
        if not 0 <= left <= right < n_rows:
            raise InputError(f"window {k} = rows {left}..{right} is not inside the file's {n_rows} rows "
                             "(0-based, both ends inclusive, first <= last)", source=where,
                             hint="give windows as row indices in the whole file, e.g. from "
                                  "hpcopt.detect.nab.nab_windows")
        if k and left <= w[k - 1, 1]:
            raise InputError(f"window {k} (rows {left}..{right}) starts before window {k - 1} ends "
                             f"(row {w[k - 1, 1]})", source=where, hint="windows must be sorted and must not overlap")
    return w


def _rows(values, n_rows: int, probation: int, what: str, where: str) -> np.ndarray:
    """The scored part (rows ``probation..n_rows-1``) of a per-row array given for the whole file or that part."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise InputError(f"{what} must be one value per row; got an array of shape {a.shape}", source=where)
    if len(a) == n_rows:
        return a[probation:]
    if len(a) == n_rows - probation:
        return a
    raise InputError(f"{what} has {len(a)} rows; expected {n_rows} (the whole file) or {n_rows - probation} "
                     f"(the scored rows after a probationary period of {probation})", source=where,
                     hint="pass n_rows of the whole file and the probation the detector trained on")


def _check(n_rows: int, probation: int | None, where: str) -> int:
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
        raise InputError(f"n_rows must be a positive integer; got {n_rows!r}", source=where)
    if probation is None:
        return probation_length(int(n_rows))
    if isinstance(probation, bool) or not isinstance(probation, (int, np.integer)) or not 0 <= probation < n_rows:
        raise InputError(f"probation must be an integer number of rows in [0, {n_rows}); got {probation!r}",
                         source=where)
    return int(probation)


def _row_values(w: np.ndarray, n_rows: int, probation: int, p: NabProfile) -> tuple[np.ndarray, np.ndarray]:
    """For each scored row: the window it lies in (-1 outside) and what a detection there is worth
    (the true-positive value inside a window, the false-positive cost outside)."""
    i = np.arange(probation, n_rows)
    win = np.full(len(i), -1, dtype=np.int64)
    val = np.full(len(i), -p.fp, dtype=np.float64)  # before any window
    if len(w):
        left, right = w[:, 0], w[:, 1]
        width = right - left + 1
        k = np.searchsorted(left, i, side="right") - 1  # the last window starting at or before row i
        has = k >= 0
        kk = np.where(has, k, 0)
        inside = has & (i <= right[kk])
        win[inside] = k[inside]
        pos_in = -(right[kk] - i + 1) / width[kk]
        val[inside] = p.tp * scaled_sigmoid(pos_in[inside]) / _MAX_TP
        after = has & ~inside  # past window kk's right edge: the closest preceding window
        pos_out = (i - right[kk]) / np.maximum(width[kk] - 1, 1)
        val[after] = p.fp * scaled_sigmoid(pos_out[after])
    return win, val


@dataclass(frozen=True)
class NabFileScore:
    """One file's NAB score under one profile (``raw = tp_part + fn_part + fp_part``)."""

    profile: str
    raw: float
    null: float
    perfect: float
    tp_part: float
    fn_part: float
    fp_part: float
    windows_scored: int
    windows_detected: int
    false_positives: int

    def as_dict(self) -> dict:
        return asdict(self)


def nab_score_file(alerts, windows, n_rows: int, *, probation: int | None = None,
                   profile: str | NabProfile = "standard", source: str = "alerts") -> NabFileScore:
    """NAB's raw score of one file's 0/1 ``alerts`` (see the module docstring for the rules).

    ``alerts``: one 0/1 (or boolean) value per row, for the whole file (``n_rows`` values) or
    for its scored part only (``n_rows - probation`` values, starting at row ``probation``).
    ``windows``: ``(first_row, last_row)`` pairs in the whole file, sorted, not overlapping
    (adjacent windows stay separate). ``probation``: rows not scored (default NAB's
    :func:`probation_length`). ``source`` names the file in error messages.
    """
    n_probation = _check(n_rows, probation, source)
    p = _profile(profile)
    name = profile if isinstance(profile, str) else f"custom(tp={p.tp}, fp={p.fp}, fn={p.fn})"
    w = _windows(windows, int(n_rows), source)
    a = _rows(alerts, int(n_rows), n_probation, "alerts", source)
    if a.dtype != bool:
        if not np.isin(a, (0, 1)).all():
            raise InputError("alerts must be 0/1 (or booleans)", source=source,
                             hint="threshold the anomaly scores first, or use nab_sweep for scores")
        a = a.astype(bool)
    win, val = _row_values(w, int(n_rows), n_probation, p)
    scored = np.flatnonzero(w[:, 1] >= n_probation) if len(w) else np.zeros(0, np.int64)
    tp_part, detected = 0.0, 0
    for k in scored:
        hit = a & (win == k)
        if hit.any():
            tp_part += float(val[np.argmax(hit)])  # the first detection in the window
            detected += 1
    fp = a & (win < 0)
    first_rows = np.maximum(w[scored, 0], n_probation) - n_probation if len(scored) else np.zeros(0, np.int64)
    fn_part = -p.fn * (len(scored) - detected) + 0.0
    fp_part = float(val[fp].sum())
    return NabFileScore(
        profile=name, raw=tp_part + fn_part + fp_part, null=-p.fn * len(scored) + 0.0,
        perfect=float(val[first_rows].sum()), tp_part=tp_part, fn_part=fn_part, fp_part=fp_part,
        windows_scored=int(len(scored)), windows_detected=detected, false_positives=int(fp.sum()))


def _normalised(raw: float, null: float, perfect: float) -> float:
    return float(100.0 * (raw - null) / (perfect - null)) if perfect > null else math.nan


def nab_score(file_scores: Sequence[NabFileScore]) -> dict:
    """Corpus score: raw, null and perfect scores summed over the files and NAB's normalised
    score ``100 * (raw - null) / (perfect - null)`` (NaN when no window is scored)."""
    if not file_scores:
        raise InputError("no file scores to sum", hint="score at least one file with nab_score_file")
    names = {f.profile for f in file_scores}
    if len(names) != 1:
        raise ConfigError(f"file scores of different profiles cannot be summed: {sorted(names)}")
    raw = sum(f.raw for f in file_scores)
    null = sum(f.null for f in file_scores)
    perfect = sum(f.perfect for f in file_scores)
    return {"profile": names.pop(), "score": _normalised(raw, null, perfect), "raw": raw, "null": null,
            "perfect": perfect, "n_files": len(file_scores),
            "windows_scored": sum(f.windows_scored for f in file_scores),
            "windows_detected": sum(f.windows_detected for f in file_scores),
            "false_positives": sum(f.false_positives for f in file_scores)}


def nab_sweep(scores: Sequence, windows: Sequence, n_rows: Sequence[int], *,
              probation: Sequence[int | None] | None = None, profile: str | NabProfile = "standard", sources: Sequence[str] | None = None) -> dict:
    """NAB's threshold optimisation: the one threshold ``t`` (detection where ``score >= t``) for
    the whole corpus that maximises the summed raw score. **Label-tuned** -- the threshold is
    chosen with the labels it is scored on, as NAB's scoreboard does; use it only for
    comparison with that scoreboard.

    ``scores[f]``, ``windows[f]``, ``n_rows[f]``, ``probation[f]`` per file, as in
    :func:`nab_score_file` (scores instead of alerts; they must be comparable across files).
    Returns the best threshold, its raw/null/perfect/normalised scores and the number of
    candidate thresholds; ties keep the highest threshold (fewest detections).
    """
    nf = len(scores)
    if not (len(windows) == len(n_rows) == nf) or (probation is not None and len(probation) != nf):
        raise InputError("scores, windows, n_rows (and probation) must have one entry per file")
    p = _profile(profile)
    name = profile if isinstance(profile, str) else f"custom(tp={p.tp}, fp={p.fp}, fn={p.fn})"
    all_s, all_v, all_w = [], [], []
    null = perfect = 0.0
    base = 0
    for f in range(nf):
        src = sources[f] if sources is not None else f"file {f}"
        n = n_rows[f]
        n_probation = _check(n, None if probation is None else probation[f], src)
        w = _windows(windows[f], int(n), src)
        s = _rows(scores[f], int(n), n_probation, "scores", src).astype(np.float64)
        if not np.isfinite(s).all():
            raise InputError(f"{int((~np.isfinite(s)).sum())} scores are NaN or infinite", source=src,
                             hint="clip or replace them before the sweep: an infinite score has no threshold above it")
        win, val = _row_values(w, int(n), n_probation, p)
        scored = np.flatnonzero(w[:, 1] >= n_probation) if len(w) else np.zeros(0, np.int64)
        null -= p.fn * len(scored)
        perfect += float(val[np.maximum(w[scored, 0], n_probation) - n_probation].sum()) if len(scored) else 0.0
        all_s.append(s)
        all_v.append(val)
        all_w.append(np.where(win >= 0, win + base, -1))
        base += len(w)
    s = np.concatenate(all_s) if all_s else np.zeros(0)
    val = np.concatenate(all_v) if all_v else np.zeros(0)
    win = np.concatenate(all_w) if all_w else np.zeros(0, np.int64)
    order = np.argsort(-s, kind="stable")
    s, val, win = s[order], val[order], win[order]
    # what each row adds to the corpus score when the threshold drops to its score:
    # outside a window its false-positive value; inside, the rise of the window's best (earliest)
    # detection so far, from -A_FN for a window not yet detected
    gain = np.where(win < 0, val, 0.0)
    for k in np.unique(win[win >= 0]):
        idx = np.flatnonzero(win == k)
        best = np.maximum.accumulate(val[idx])
        gain[idx] = np.diff(np.concatenate([[-p.fn], best]))
    total = null + np.cumsum(gain)
    last_of_tie = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.zeros(0, np.int64)
    cand_t = np.r_[math.inf, s[last_of_tie]]
    cand_raw = np.r_[null, total[last_of_tie]]
    best = int(np.argmax(cand_raw))  # first maximum = highest threshold
    return {"profile": name, "threshold": float(cand_t[best]), "score": _normalised(cand_raw[best], null, perfect),
            "raw": float(cand_raw[best]), "null": null + 0.0, "perfect": perfect, "n_thresholds": int(len(cand_t)),
            "label_tuned": True}
