"""On real data: the HPC2N excerpt shipped in the package (no ../shared needed), and the
shared traces for the missing-field paths."""

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from conftest import SHARED_DATA  # noqa: E402
from hpcopt.data import load_workload, sample_path  # noqa: E402
from hpcopt.estimate import Tsafrir, replay_trace  # noqa: E402
from hpcopt.estimate.gbm import GBMEstimator  # noqa: E402
from hpcopt.estimate.metrics import accuracy_metrics  # noqa: E402


def test_hpc2n_excerpt_online():
    w = load_workload(sample_path("hpc2n"))
    g = GBMEstimator(random_state=0)
    rep = replay_trace(w, g)
    later = rep.submit >= np.median(rep.submit)
    m = accuracy_metrics(rep.estimate[later], rep.actual[later], g.lower_[rep.rows][later], g.upper_[rep.rows][later])
    assert 0.87 <= m["coverage"] <= 0.93
    t = replay_trace(w, Tsafrir())
    assert np.abs(rep.estimate - rep.actual).mean() < np.abs(t.estimate - t.actual).mean()
    assert g.trainings_ >= 4 and "group" in g.dropped_features_


@pytest.mark.shared
def test_nasa_trace_without_requests_runs_and_names_what_it_dropped():
    w = load_workload(SHARED_DATA / "traces" / "NASA-iPSC-1993-3.1-cln.swf.gz")
    w.jobs = w.jobs.iloc[:3000].reset_index(drop=True)
    g = GBMEstimator(n_estimators=30)
    rep = replay_trace(w, g)
    assert np.isfinite(rep.estimate).all() and (rep.estimate >= 0).all()
    assert "requested times" in g.dropped_features_["log_req_time"]
    assert "user_tsafrir" in g.feature_names_  # user ids are there


@pytest.mark.shared
def test_wagap_queue_names_become_a_feature():
    w = load_workload(SHARED_DATA / "traces" / "wagap-2013_alea.swf.gz")
    w.jobs = w.jobs.iloc[:2000].reset_index(drop=True)
    model = GBMEstimator(n_estimators=20).fit(w)
    assert "queue_name" in model.feature_names_ and "resource_spec" in model.feature_names_
    assert len(model.vocab_["queue_name"]) >= 5
    assert model.dropped_features_["queue"] == "the trace has no queue ids"
