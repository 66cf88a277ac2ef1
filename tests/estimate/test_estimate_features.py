"""Submit-time features: hand-computed values on a tiny trace."""

import math

import numpy as np
import pytest

from hpcopt.data.workload import Workload
from hpcopt.estimate.features import OnlineFeatures, replay_features
from hpcopt.estimate.protocol import submit_view


def tiny():
    # job:      1     2     3     4     5
    # user:     1     1     2     1     1
    # submit:   0    10    20   500   600
    # runtime: 100   200    50   300    40   (wait 0: ends 100, 210, 70, 800, 640)
    # request: 600   600   300  1200    -1
    return Workload.from_arrays(
        submit=[0, 10, 20, 500, 600], wait=[0, 0, 0, 0, 0], runtime=[100, 200, 50, 300, 40],
        req_time=[600, 600, 300, 1200, -1], req_procs=[4, 8, 1, 4, 2], user=[1, 1, 2, 1, 1], group=[1, 1, 2, 1, 1],
        header={"UnixStartTime": str(86400 * 4)},  # 1970-01-05: a Monday, 00:00 UTC
    )


def test_hand_computed_features():
    F, run, end, feats = replay_features(tiny(), history=5)
    np.testing.assert_array_equal(end, [100, 210, 70, 800, 640])
    f = F.loc
    # job 1: nothing known yet
    assert f[0, "user_completed"] == 0 and math.isnan(f[0, "user_last_runtime"])
    assert f[0, "user_tsafrir"] == pytest.approx(math.log1p(600))  # the request, no history
    assert f[0, "sys_outstanding_jobs"] == 0 and math.isnan(f[0, "user_since_submit"])
    # job 2 at t=10: job 1 still running (ends 100)
    assert f[1, "sys_outstanding_jobs"] == 1 and f[1, "sys_outstanding_procs"] == 4
    assert f[1, "sys_outstanding_work"] == pytest.approx(math.log1p(4 * 600))
    assert f[1, "user_outstanding"] == 1 and f[1, "user_since_submit"] == 10 and f[1, "user_completed"] == 0
    # job 4 at t=500: jobs 1, 2 (user 1) and 3 (user 2) completed
    assert f[3, "user_completed"] == 2
    assert f[3, "user_last_runtime"] == pytest.approx(math.log1p(200))
    assert f[3, "user_last2_runtime"] == pytest.approx(math.log1p(150))
    assert f[3, "user_tsafrir"] == pytest.approx(math.log1p(150))
    assert f[3, "user_mean_ratio"] == pytest.approx((100 / 600 + 200 / 600) / 2)
    assert f[3, "user_mean_log_runtime"] == pytest.approx((math.log1p(100) + math.log1p(200)) / 2)
    assert math.isnan(f[3, "user_same_request_runtime"])  # no earlier job asked for 1200
    assert f[3, "user_since_submit"] == 490 and f[3, "user_since_complete"] == 290
    assert f[3, "sys_outstanding_jobs"] == 0 and f[3, "user_outstanding"] == 0
    # job 5 at t=600: job 4 running; no request -> NaN request features
    assert math.isnan(f[4, "log_req_time"]) and math.isnan(f[4, "user_same_request_runtime"])
    assert f[4, "user_tsafrir"] == pytest.approx(math.log1p(150))  # last two completed: 100, 200
    assert f[4, "sys_outstanding_jobs"] == 1 and f[4, "user_outstanding"] == 1
    # calendar from UnixStartTime: Monday 00:00 + 600 s
    assert f[4, "day_of_week"] == 0 and f[4, "hour_of_day"] == pytest.approx(600 / 3600)


def test_same_request_feature_and_history_window():
    w = Workload.from_arrays(submit=[0, 1000, 2000, 3000], wait=[0] * 4, runtime=[10, 20, 30, 40],
                             req_time=[60, 120, 60, 60], user=[3, 3, 3, 3])
    F, *_ = replay_features(w, history=2)
    assert F.loc[2, "user_same_request_runtime"] == pytest.approx(math.log1p(10))
    assert F.loc[3, "user_same_request_runtime"] == pytest.approx(math.log1p(30))
    # history=2: mean of the last two log runtimes only
    assert F.loc[3, "user_mean_log_runtime"] == pytest.approx((math.log1p(20) + math.log1p(30)) / 2)


def test_outcome_columns_never_reach_features():
    w = tiny()
    view = submit_view(w)
    a = OnlineFeatures(view, dict(w.header))
    jobs = w.jobs.copy()
    jobs["runtime"] = 12345
    jobs["wait"] = 999
    b = OnlineFeatures(submit_view(Workload(jobs, dict(w.header))), dict(w.header))
    for row in range(5):
        np.testing.assert_array_equal(a.at_submit(row, float(row)), b.at_submit(row, float(row)))


def test_constant_and_absent_fields_are_dropped_with_a_reason():
    w = Workload.from_arrays(submit=[0, 1, 2], runtime=[1, 2, 3], user=[-1, -1, -1], group=[4, 4, 4])
    feats = OnlineFeatures(submit_view(w), {})
    assert feats.dropped["group"] == "group is the same for every job"
    assert feats.dropped["user"] == "the trace has no user ids"
    assert "user ids" in feats.dropped["user_tsafrir"] and "requested times" in feats.dropped["log_req_time"]
    assert not set(feats.dropped) & set(feats.names)
