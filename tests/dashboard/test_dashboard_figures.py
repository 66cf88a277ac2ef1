"""The two per-job figures the dashboard's scheduling page draws, computed by the library
(:mod:`hpcopt.schedule.metrics`), on hand-computed cases."""

from __future__ import annotations

import numpy as np

from hpcopt.schedule.metrics import queue_over_time, wait_cdf


def test_wait_cdf_by_hand():
    # waits 0, 0, 5, 10: half the jobs wait at most 0 s, three quarters at most 5 s, all at most 10 s
    assert wait_cdf(np.array([10.0, 0.0, 5.0, 0.0])) == {"wait_s": [0.0, 5.0, 10.0], "share": [0.5, 0.75, 1.0]}
    assert wait_cdf(np.array([])) == {"wait_s": [], "share": []}


def test_queue_over_time_by_hand():
    # job a: submitted at 0, started at 0 (never queued); b: 1 -> 4; c: 2 -> 4; d: 3 -> 6
    submit = np.array([0.0, 1.0, 2.0, 3.0])
    start = np.array([0.0, 4.0, 4.0, 6.0])
    assert queue_over_time(submit, start) == {"time": [0.0, 1.0, 2.0, 3.0, 4.0, 6.0], "queue": [0, 1, 2, 3, 1, 0]}
    assert queue_over_time(np.array([]), np.array([])) == {"time": [], "queue": []}
