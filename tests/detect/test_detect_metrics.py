"""Evaluation metrics: hand-computed cases and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the 'detect' extra; CI installs it
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.data.telemetry import Segment
from hpcopt.detect.metrics import (
    best_f1,
    event_metrics,
    hitrate,
    pa_f1,
    point_adjust,
    point_metrics,
    random_hitrate_expected,
    ranking_metrics,
)
from hpcopt.errors import InputError


def test_point_metrics_hand_case():
    y = [0, 1, 1, 0, 0, 1]
    a = [0, 1, 0, 1, 0, 1]
    m = point_metrics(y, a)  # tp=2 fp=1 fn=1
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["alert_rate"] == pytest.approx(0.5)
    assert point_metrics([0, 0], [0, 0])["f1"] == 0.0
    with pytest.raises(InputError, match="3 labels but 2 alerts"):
        point_metrics([0, 1, 0], [1, 0])


def test_point_adjust_and_pa_f1_hand_case():
    y = np.array([0, 1, 1, 1, 0, 1, 1, 0])
    a = np.array([0, 0, 1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(point_adjust(y, a), [0, 1, 1, 1, 0, 0, 0, 1])
    # adjusted: tp=3 fp=1 fn=2 -> p=3/4 r=3/5
    assert pa_f1(y, a) == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_event_metrics_hand_case():
    y = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0])
    a = np.array([1, 0, 0, 1, 0, 0, 0, 0, 1, 1])
    m = event_metrics(y, a, interval_s=8640.0)  # 10 rows = 1 day
    assert m["n_events"] == 2 and m["events_detected"] == 1 and m["event_recall"] == 0.5
    assert m["alert_events"] == 3 and m["false_alarm_events"] == 2
    assert m["false_alarms_per_day"] == pytest.approx(2.0)
    assert m["delay_steps_mean"] == 2.0 and m["delay_s_mean"] == pytest.approx(2 * 8640.0)


def test_ranking_metrics_perfect_and_single_class():
    r = ranking_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert r["auroc"] == 1.0 and r["auprc"] == 1.0
    assert math.isnan(ranking_metrics([0, 0], [1, 2])["auroc"])


def test_best_f1_is_at_least_f1_at_any_threshold():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.1).astype(int)
    s = rng.random(300) + y
    b = best_f1(y, s)["best_f1"]
    for t in np.quantile(s, [0.5, 0.8, 0.9, 0.95]):
        assert b >= point_metrics(y, s >= t)["f1"] - 1e-12


def test_hitrate_hand_case():
    # 4 metrics; ground truth {0, 2}; top-2 is {0, 1} -> 1/2; top-3 (150%) is {0,1,2} -> 1
    C = np.array([[0.9, 0.5, 0.4, 0.1], [0.1, 0.2, 0.9, 0.8]])
    segs = [Segment(0, 2, (0, 2))]
    # row 1: top-2 {2, 3} -> 1/2; top-3 {2,3,1} -> 1/2
    assert hitrate(C, segs, 1.0) == pytest.approx(0.5)
    assert hitrate(C, segs, 1.5) == pytest.approx(0.75)
    assert random_hitrate_expected(segs, 4, 1.0) == pytest.approx(0.5)
    assert random_hitrate_expected(segs, 4, 1.5) == pytest.approx(0.75)
    with pytest.raises(InputError):
        hitrate(C, [Segment(1, 3, (0,))], 1.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 6), st.integers(0, 10_000))
def test_random_ranking_hitrate_matches_expectation(m, g, seed):
    g = min(g, m)
    rng = np.random.default_rng(seed)
    segs = [Segment(0, 4000, tuple(sorted(rng.choice(m, size=g, replace=False).tolist())))]
    C = rng.random((4000, m))
    for p in (1.0, 1.5):
        assert abs(hitrate(C, segs, p) - random_hitrate_expected(segs, m, p)) < 0.04


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=60), st.lists(st.integers(0, 1), min_size=60, max_size=60))
def test_point_adjust_never_lowers_f1_or_recall(y, a):
    a = a[: len(y)]
    assert pa_f1(y, a) >= point_metrics(y, a)["f1"] - 1e-12
    assert point_metrics(y, point_adjust(y, a))["recall"] >= point_metrics(y, a)["recall"]
