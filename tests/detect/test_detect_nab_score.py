"""NAB's own score: hand-computed cases, normalisation, invariants, the label-tuned sweep, bad input."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.detect.nab import list_nab_files, load_nab_series, nab_windows
from hpcopt.detect.nab_score import (PROFILES, NabProfile, nab_score, nab_score_file, nab_sweep, probation_length,
                                     scaled_sigmoid)
from hpcopt.errors import ConfigError, InputError

NAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry" / "nab"

N, PROB, WIN = 100, 10, [(40, 49)]  # one window of 10 rows in a file of 100, 10 probationary rows


def sig(y: float) -> float:
    """NAB's scaled sigmoid written out by hand: 2 * logistic(-5 y) - 1."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def raw(rows, profile="standard", windows=WIN, n=N, probation=PROB) -> float:
    a = np.zeros(n, dtype=np.int8)
    a[list(rows)] = 1
    return nab_score_file(a, windows, n, probation=probation, profile=profile).raw


def test_profiles_and_sigmoid_are_nabs():
    assert PROFILES["standard"] == NabProfile(tp=1.0, fp=0.11, fn=1.0)
    assert PROFILES["reward_low_FP_rate"] == NabProfile(tp=1.0, fp=0.22, fn=1.0)
    assert PROFILES["reward_low_FN_rate"] == NabProfile(tp=1.0, fp=0.11, fn=2.0)
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(2.999) == pytest.approx(sig(2.999)) and scaled_sigmoid(3.0) == -1.0
    assert probation_length(100) == 15 and probation_length(4032) == 604 and probation_length(22695) == 750


@pytest.mark.parametrize("profile", list(PROFILES))
def test_detections_inside_a_window(profile):
    p = PROFILES[profile]
    assert raw([40], profile) == pytest.approx(p.tp)  # the window's first row: the full A_TP
    # the last row: position -(49 - 49 + 1) / 10 = -0.1
    assert raw([49], profile) == pytest.approx(p.tp * sig(-0.1) / sig(-1.0))
    assert sig(-0.1) / sig(-1.0) == pytest.approx(0.248242, abs=1e-6)
    # two detections in one window: only the first counts (position -(49 - 42 + 1) / 10 = -0.8)
    assert raw([42, 47], profile) == pytest.approx(p.tp * sig(-0.8) / sig(-1.0)) == raw([42], profile)
    assert raw([], profile) == -p.fn  # a missed window


@pytest.mark.parametrize("profile", list(PROFILES))
def test_false_positives_before_and_after_a_window(profile):
    p = PROFILES[profile]
    assert raw([20, 40], profile) == pytest.approx(p.tp - p.fp)  # before any window: -A_FP
    # just after the window: position (50 - 49) / (10 - 1)
    assert raw([40, 50], profile) == pytest.approx(p.tp + p.fp * sig(1 / 9))
    assert p.fp * sig(1 / 9) == pytest.approx(-p.fp * 0.27081, abs=1e-5)
    assert raw([40, 90], profile) == pytest.approx(p.tp - p.fp)  # 41/9 >= 3 window-widths on: -A_FP
    assert raw([5, 40], profile) == pytest.approx(p.tp)  # the probationary period is not scored


def test_probation_windows_and_the_scored_part():
    a = np.zeros(N, dtype=np.int8)
    a[[30, 45]] = 1
    whole = nab_score_file(a, WIN, N, probation=PROB)
    part = nab_score_file(a[PROB:], WIN, N, probation=PROB)  # alerts of the scored part only
    assert whole == part
    assert (whole.windows_scored, whole.windows_detected, whole.false_positives) == (1, 1, 1)
    # a window wholly in the probationary period is not scored, but still precedes later alerts
    s = nab_score_file(np.eye(1, N, 12, dtype=np.int8)[0], [(2, 6)], N, probation=PROB)
    assert (s.windows_scored, s.null, s.perfect) == (0, 0.0, 0.0)
    assert s.raw == pytest.approx(0.11 * sig((12 - 6) / 4))
    # a window straddling the boundary: scored from its first scored row, positions in the whole window
    s = nab_score_file(np.eye(1, N, 10, dtype=np.int8)[0], [(6, 15)], N, probation=PROB)
    assert s.raw == pytest.approx(sig(-(15 - 10 + 1) / 10) / sig(-1.0)) == pytest.approx(s.perfect)
    # NAB's default probationary period: 15 of 100 rows
    assert nab_score_file(np.eye(1, N, 12, dtype=np.int8)[0], WIN, N).false_positives == 0


def test_adjacent_windows_stay_separate():
    wins = [(40, 49), (50, 59)]
    # a detection at row 50 is the first row of the second window; the first window is missed
    assert raw([50], windows=wins) == pytest.approx(1.0 - 1.0)
    assert raw([40, 50], windows=wins) == pytest.approx(2.0)


def test_null_and_perfect_normalise_to_0_and_100():
    files = [(WIN, N, PROB), ([(20, 29), (60, 79)], 120, 12)]
    for profile in PROFILES:
        null = [nab_score_file(np.zeros(n, np.int8), w, n, probation=pb, profile=profile) for w, n, pb in files]
        perfect = []
        for w, n, pb in files:
            a = np.zeros(n, np.int8)
            a[[left for left, _ in w]] = 1
            perfect.append(nab_score_file(a, w, n, probation=pb, profile=profile))
        assert nab_score(null)["score"] == 0.0
        assert nab_score(perfect)["score"] == pytest.approx(100.0)
        tot = nab_score(null)
        assert tot["null"] == -3 * PROFILES[profile].fn and tot["perfect"] == pytest.approx(3.0)
    one = nab_score_file(np.eye(1, N, 49, dtype=np.int8)[0], WIN, N, probation=PROB)
    assert nab_score([one])["score"] == pytest.approx(100 * (sig(-0.1) / sig(-1.0) + 1) / 2)
    assert math.isnan(nab_score([nab_score_file(np.zeros(N, np.int8), [], N)])["score"])  # no window: undefined


@st.composite
def _case(draw):
    n = draw(st.integers(20, 150))
    probation = draw(st.integers(0, n // 3))
    cuts = sorted(draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=8, unique=True)))
    wins = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    wins = [(a, b) for k, (a, b) in enumerate(wins) if k == 0 or a > wins[k - 1][1]]
    alerts = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return n, probation, wins, alerts, draw(st.sampled_from(list(PROFILES)))


@settings(max_examples=150, deadline=None)
@given(_case(), st.integers(0, 10**6))
def test_invariants(case, seed):
    n, probation, wins, alerts, profile = case
    rng = np.random.default_rng(seed)
    base = nab_score_file(alerts, wins, n, probation=probation, profile=profile)
    assert nab_score([base])["score"] <= 100.0 + 1e-9 or not base.windows_scored
    assert base.null <= base.raw + 1e-12 or base.false_positives  # only false positives can go below null
    for left, right in wins:
        rows = np.flatnonzero(alerts[max(left, probation):right + 1]) + max(left, probation)
        if right < probation or not len(rows):
            continue
        # another detection inside an already-detected window changes nothing
        more = alerts.copy()
        more[rng.integers(rows[0], right + 1)] = True
        assert nab_score_file(more, wins, n, probation=probation, profile=profile).raw == pytest.approx(base.raw)
        # moving the first detection earlier never lowers the score
        if rows[0] > max(left, probation):
            early = alerts.copy()
            early[rows[0]] = False
            early[rng.integers(max(left, probation), rows[0])] = True
            assert nab_score_file(early, wins, n, probation=probation, profile=profile).raw >= base.raw - 1e-12
    # a detection outside every window never raises the score
    outside = [i for i in range(probation, n) if not any(a <= i <= b for a, b in wins) and not alerts[i]]
    if outside:
        fp = alerts.copy()
        fp[outside[rng.integers(len(outside))]] = True
        assert nab_score_file(fp, wins, n, probation=probation, profile=profile).raw <= base.raw + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(_case(), min_size=1, max_size=3), st.integers(0, 10**6))
def test_sweep_finds_the_best_corpus_threshold(cases, seed):
    rng = np.random.default_rng(seed)
    profile = cases[0][4]
    scores = [np.round(rng.random(n), 1) for n, *_ in cases]  # ties on purpose
    wins = [c[2] for c in cases]
    ns = [c[0] for c in cases]
    probs = [c[1] for c in cases]
    best = nab_sweep(scores, wins, ns, probation=probs, profile=profile)
    brute = {}
    for t in [math.inf, *np.unique(np.concatenate(scores))]:
        fs = [nab_score_file(s >= t, w, n, probation=pb, profile=profile)
              for s, w, n, pb in zip(scores, wins, ns, probs)]
        brute[t] = sum(f.raw for f in fs)
    top = max(brute.values())
    assert best["raw"] == pytest.approx(top)
    assert brute[best["threshold"]] == pytest.approx(top)
    assert best["threshold"] == max(t for t, v in brute.items() if v >= top - 1e-9)  # ties: fewest detections
    assert best["label_tuned"] is True


def test_bad_input_says_what_and_where():
    with pytest.raises(InputError, match=r"f\.csv: alerts has 50 rows; expected 100 .* or 90"):
        nab_score_file(np.zeros(50), WIN, N, probation=PROB, source="f.csv")
    with pytest.raises(InputError, match=r"window 0 = rows 95\.\.100 is not inside the file's 100 rows"):
        nab_score_file(np.zeros(N), [(95, 100)], N)
    with pytest.raises(InputError, match="window 1 .* starts before window 0 ends"):
        nab_score_file(np.zeros(N), [(40, 49), (49, 55)], N)
    with pytest.raises(ConfigError, match="unknown NAB profile 'strict'"):
        nab_score_file(np.zeros(N), WIN, N, profile="strict")
    with pytest.raises(InputError, match="alerts must be 0/1"):
        nab_score_file(np.full(N, 0.7), WIN, N)
    with pytest.raises(InputError, match="probation must be an integer number of rows in"):
        nab_score_file(np.zeros(N), WIN, N, probation=100)
    with pytest.raises(InputError, match="one entry per file"):
        nab_sweep([np.zeros(N)], [], [N])
    with pytest.raises(ConfigError, match="different profiles"):
        nab_score([nab_score_file(np.zeros(N), WIN, N),
                   nab_score_file(np.zeros(N), WIN, N, profile="reward_low_FN_rate")])
    with pytest.raises(ConfigError):
        probation_length(100, 1.5)


def _nab(tmp_path: Path) -> Path:
    root = tmp_path / "nab"
    (root / "data" / "realX").mkdir(parents=True)
    ts = pd.date_range("2020-01-01", periods=100, freq="5min")
    with gzip.open(root / "data" / "realX" / "a.csv.gz", "wt") as fh:
        fh.write("timestamp,value\n" + "\n".join(f"{t},{i % 7}.0" for i, t in enumerate(ts)) + "\n")
    w = [(ts[60], ts[69]), (ts[50], ts[59])]  # adjacent, listed out of order
    pd.DataFrame([{"file": "realX/a.csv", "kind": "window", "idx": k, "start": str(a), "end": str(b), "point": None}
                  for k, (a, b) in enumerate(w)]).to_csv(root / "labels.csv.gz", index=False)
    return root


def test_nab_windows_reads_rows_from_the_label_file(tmp_path):
    root = _nab(tmp_path)
    wins, n = nab_windows(root, "realX/a.csv.gz")
    assert wins == [(50, 59), (60, 69)] and n == 100  # two windows, though the 0/1 labels form one block
    s = load_nab_series(root, "realX/a.csv")
    assert s.labels.sum() == 20
    lab = pd.read_csv(root / "labels.csv.gz")
    lab.loc[0, "start"] = "2021-01-01 00:00:00"
    lab.loc[0, "end"] = "2021-01-02 00:00:00"
    lab.to_csv(root / "labels.csv.gz", index=False)
    with pytest.raises(InputError, match="covers no row of the file"):
        nab_windows(root, "realX/a.csv")


@pytest.mark.shared
@pytest.mark.skipif(not NAB.is_dir(), reason="../shared/data is absent")
def test_real_nab_windows_null_and_perfect():
    per = {f: nab_windows(NAB, f) for f in list_nab_files(NAB)}
    assert sum(len(w) for w, _ in per.values()) == 38  # PROVENANCE: 38 windows in the 20 files
    assert per["realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"] == ([(3447, 3647), (3677, 3877)], 4032)
    # NAB's probationary period (at most 750 rows): every window starts after it, so the perfect
    # detector scores A_TP per window, as NAB's runner assumes
    fs = [nab_score_file(np.zeros(n, np.int8), w, n) for w, n in per.values()]
    tot = nab_score(fs)
    assert (tot["windows_scored"], tot["null"], tot["perfect"]) == (38, -38.0, pytest.approx(38.0))


def test_alert_onsets_keep_the_first_row_of_each_alert_run():
    from hpcopt.detect.nab_score import alert_onsets

    a = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])
    assert alert_onsets(a).tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert alert_onsets(np.array([1, 1, 0])).tolist() == [1, 0, 0]  # an alert at row 0 is an onset
    assert alert_onsets(np.zeros(0)).tolist() == []
    # a long false alert run costs once as onsets, many times as rows
    w = [(50, 59)]
    rows = np.zeros(200, dtype=np.int8)
    rows[100:140] = 1
    rows[52] = 1
    per_row = nab_score_file(rows, w, 200, probation=10)
    per_event = nab_score_file(alert_onsets(rows), w, 200, probation=10)
    assert per_event.raw > per_row.raw and per_event.false_positives == 1 and per_row.false_positives == 40
    with pytest.raises(InputError, match="one 0/1 value per row"):
        alert_onsets(np.zeros((3, 2)))


def test_sweep_refuses_infinite_scores_and_custom_profiles_do_not_mix():
    s = np.zeros(N)
    s[45] = np.inf
    with pytest.raises(InputError, match="1 scores are NaN or infinite"):
        nab_sweep([s], [WIN], [N], probation=[PROB])
    a = np.zeros(N, dtype=np.int8)
    f1 = nab_score_file(a, WIN, N, probation=PROB, profile=NabProfile(tp=1.0, fp=0.1, fn=1.0))
    f2 = nab_score_file(a, WIN, N, probation=PROB, profile=NabProfile(tp=1.0, fp=0.5, fn=1.0))
    with pytest.raises(ConfigError, match="different profiles"):
        nab_score([f1, f2])
    assert nab_score([f1, f1])["score"] == 0.0
