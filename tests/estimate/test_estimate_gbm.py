"""GBMEstimator: no leakage, determinism, coverage, explanations, drift, bad input."""

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("lightgbm")

from hpcopt.data.workload import Workload  # noqa: E402
from hpcopt.errors import ConfigError, InputError  # noqa: E402
from hpcopt.estimate import Tsafrir, replay_trace  # noqa: E402
from hpcopt.estimate.gbm import GBMEstimator, conformal_quantile  # noqa: E402
from hpcopt.estimate.metrics import accuracy_metrics  # noqa: E402

FAST = dict(n_estimators=25, num_leaves=15, min_train_jobs=150, retrain_every=300)


def synthetic(n=1500, users=25, seed=0, requests=True, user_ids=True):
    """Users with their own typical runtime (lognormal around it), requests above it."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(4.0, 10.0, users)
    user = rng.integers(0, users, n)
    runtime = np.round(np.exp(mu[user] + rng.normal(0, 0.6, n))) + 1
    submit = np.cumsum(rng.exponential(600.0, n))
    wait = rng.exponential(300.0, n).round()
    req = np.ceil(np.exp(mu[user] + 1.2) / 600) * 600 if requests else np.full(n, -1.0)
    runtime = np.minimum(runtime, req) if requests else runtime
    procs = rng.choice([1, 2, 4, 8, 16], n)
    return Workload.from_arrays(
        source="synthetic", submit=submit, wait=wait, runtime=runtime, req_time=req, req_procs=procs,
        alloc_procs=procs, user=user + 1 if user_ids else np.full(n, -1), group=(user % 5) + 1,
    )


class Watchful:
    """Wraps an online estimator; fails when it is asked about a job submitted at t after
    being told of a completion at or after t."""

    def __init__(self, inner):
        self.inner = inner
        self.latest_completion = -math.inf
        self.asked = 0

    def start(self, jobs, header):
        assert (jobs["runtime"] == -1).all() and (jobs["wait"] == -1).all()
        self.inner.start(jobs, header)

    def on_submit(self, row, now):
        assert self.latest_completion < now, f"job {row} submitted at {now} after a completion at {self.latest_completion}"
        self.asked += 1
        return self.inner.on_submit(row, now)

    def on_complete(self, row, now, runtime):
        self.latest_completion = max(self.latest_completion, now)
        self.inner.on_complete(row, now, runtime)


def test_no_leakage_in_the_replay_protocol():
    w = synthetic(800)
    watch = Watchful(GBMEstimator(**FAST))
    rep = replay_trace(w, watch)
    assert watch.asked == len(rep.rows) == 800
    assert watch.inner.trainings_ >= 2


def test_estimates_do_not_depend_on_jobs_finishing_later():
    """Change the runtimes of jobs that end after time T (they still end after T): every
    estimate for a job submitted before T stays exactly the same."""
    w = synthetic(900, seed=3)
    submit, wait, run = w.column("submit"), w.column("wait"), w.column("runtime").astype(float)
    end = submit + wait + run
    T = float(np.quantile(submit, 0.6))
    late = end > T
    jobs = w.jobs.copy()
    jobs.loc[late, "runtime"] = run[late] * 3 + 7  # longer: still ends after T
    w2 = Workload(jobs, dict(w.header), "changed")
    a = replay_trace(w, GBMEstimator(**FAST))
    b = replay_trace(w2, GBMEstimator(**FAST))
    before = a.submit < T
    assert before.sum() > 400 and late.sum() > 100
    np.testing.assert_array_equal(a.estimate[before], b.estimate[before])
    np.testing.assert_array_equal(a.upper[before], b.upper[before])
    assert not np.array_equal(a.estimate[~before], b.estimate[~before])  # the change is visible later


def test_determinism_with_random_state():
    w = synthetic(700, seed=1)
    a = replay_trace(w, GBMEstimator(**FAST, random_state=7))
    b = replay_trace(w, GBMEstimator(**FAST, random_state=7))
    np.testing.assert_array_equal(a.estimate, b.estimate)
    np.testing.assert_array_equal(a.upper, b.upper)
    m1 = GBMEstimator(**FAST, random_state=3).fit(w)
    m2 = GBMEstimator(**FAST, random_state=3).fit(w)
    np.testing.assert_array_equal(m1.predict_interval(w)[1], m2.predict_interval(w)[1])
    assert m1.data_hash_ == m2.data_hash_


def test_fallback_is_tsafrir_until_the_first_training():
    w = synthetic(600, seed=2)
    g = GBMEstimator(**FAST)
    rg = replay_trace(w, g)
    rt = replay_trace(w, Tsafrir())
    untrained = ~g.trained_[rg.rows]
    assert 100 < untrained.sum() < 600
    np.testing.assert_array_equal(g.model_estimate_[rg.rows][untrained], rt.estimate[untrained])
    assert g.trained_[rg.rows].sum() > 0


def test_online_coverage_on_later_periods_is_near_nominal():
    w = synthetic(3000, seed=5)
    g = GBMEstimator(**FAST)
    rep = replay_trace(w, g)
    later = rep.submit >= np.median(rep.submit)
    m = accuracy_metrics(rep.estimate[later], rep.actual[later], g.lower_[rep.rows][later], g.upper_[rep.rows][later])
    assert 0.85 <= m["coverage"] <= 0.95, m
    # the learned model knows each user's typical runtime: better than Tsafrir on accuracy
    t = replay_trace(w, Tsafrir())
    assert m["accuracy"] > accuracy_metrics(t.estimate[later], t.actual[later])["accuracy"]


@pytest.mark.parametrize("seed", [11, 12])
def test_offline_interval_coverage_on_a_later_period(seed):
    w = synthetic(2400, seed=seed)
    first = w.jobs.iloc[:1600].reset_index(drop=True)
    model = GBMEstimator(**FAST, confidence_level=0.8).fit(Workload(first, {}, "first"))
    X = model.features(w).iloc[1600:]
    actual = w.column("runtime")[X.index.to_numpy()]
    _, pis = model.predict_interval(X)
    cov = np.mean((actual >= pis[:, 0]) & (actual <= pis[:, 1]))
    assert 0.72 <= cov <= 0.88
    _, wide = model.predict_interval(X, confidence_level=0.95)
    assert (wide[:, 1] >= pis[:, 1]).all() and (wide[:, 0] <= pis[:, 0]).all()


def test_explain_contributions_sum_to_the_prediction():
    w = synthetic(800, seed=4)
    model = GBMEstimator(**FAST).fit(w)
    exp = model.explain(w)
    total = exp.bias + exp.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, exp.prediction_log, atol=1e-9)
    # the point estimate is that prediction (in seconds), capped at the request
    req = w.column("req_time")[exp.values.index.to_numpy()]
    np.testing.assert_allclose(model.predict(w), np.minimum(np.round(np.expm1(exp.prediction_log).clip(0)), req), rtol=1e-9)
    top = exp.top(0, 3)
    assert len(top) == 3 and abs(top[0]["contribution"]) >= abs(top[2]["contribution"])


def test_drift_check_advises_a_retrain_when_runtimes_change():
    w = synthetic(1200, seed=6)
    model = GBMEstimator(**FAST).fit(w)
    same = model.drift_check(w)
    assert not same["retrain"]
    jobs = w.jobs.copy()
    # users no longer have typical runtimes: shuffle runtimes across jobs
    jobs["runtime"] = np.random.default_rng(0).permutation(jobs["runtime"].to_numpy())
    drifted = model.drift_check(Workload(jobs, {}, "drifted"))
    assert drifted["retrain"] and drifted["ratio"] > same["ratio"] and "retrain" in drifted["advice"]


def test_online_drift_check_uses_online_errors():
    w = synthetic(900, seed=8)
    g = GBMEstimator(**FAST)
    replay_trace(w, g)
    d = g.drift_check(window=200)
    assert d["jobs"] == 200 and d["training_log_mae"] > 0


def test_no_user_ids_and_no_requests_drop_named_features():
    w = synthetic(700, requests=False, user_ids=False)
    g = GBMEstimator(**FAST)
    rep = replay_trace(w, g)
    assert np.isfinite(rep.estimate).all()
    for f in ("user", "user_last_runtime", "user_tsafrir", "log_req_time", "user_mean_ratio"):
        assert f in g.dropped_features_ and f not in g.feature_names_
    assert "user ids" in g.dropped_features_["user_last_runtime"]
    assert "requested times" in g.dropped_features_["log_req_time"]


def test_the_lublin_model_trace_has_neither_and_still_works(lublin1):
    w = Workload(lublin1.jobs.iloc[:1500].reset_index(drop=True), dict(lublin1.header), lublin1.source)
    model = GBMEstimator(**FAST).fit(w)
    assert "user" in model.dropped_features_ and "log_req_time" in model.dropped_features_
    assert (model.predict(w) >= 0).all()


def test_bad_parameters_say_which_and_why():
    w = synthetic(300)
    with pytest.raises(ConfigError, match="'confidence_level' parameter of GBMEstimator must be"):
        GBMEstimator(confidence_level=1.5).fit(w)
    with pytest.raises(ConfigError, match="'n_estimators'"):
        GBMEstimator(n_estimators=0).fit(w)
    with pytest.raises(ConfigError, match="retraining schedule"):
        GBMEstimator(retrain_every=None, retrain_interval=None).start(w.jobs, {})
    with pytest.raises(ConfigError, match="point_loss"):
        GBMEstimator(point_loss="huber").fit(w)
    with pytest.raises(ConfigError, match="'selection_window'.*None or an int >= 5"):
        GBMEstimator(selection_window=3).start(w.jobs, {})
    with pytest.raises(ConfigError, match="'selection_z'"):
        GBMEstimator(selection_z=-1).start(w.jobs, {})
    with pytest.raises(ConfigError, match="no parameter 'alpha'"):
        GBMEstimator().set_params(alpha=0.1)


def test_bad_data_gets_clear_errors():
    w = synthetic(100)
    with pytest.raises(InputError, match="only 100 jobs .* at least 150"):
        GBMEstimator(**FAST).fit(w)
    with pytest.raises(ConfigError, match="not fitted"):
        GBMEstimator().predict(w)
    model = GBMEstimator(**FAST).fit(synthetic(400))
    X = model.features(w)
    with pytest.raises(InputError, match="lacks features .*log_req_time"):
        model.predict(X.drop(columns=["log_req_time"]))
    assert len(model.predict(X.drop(columns=["log_req_time"]), allow_missing=True)) == len(X)
    with pytest.raises(InputError, match="lacks features the model was trained with: .*log_req_time"):
        model.predict(synthetic(300, requests=False))
    bad = X.copy().astype(object)
    bad.iloc[0, 0] = "abc"
    with pytest.raises(InputError, match="numbers only"):
        model.predict(bad)
    with pytest.raises(InputError, match="needs the runtimes y"):
        GBMEstimator(**FAST).fit(X)
    with pytest.raises(InputError, match="finite and >= 0"):
        GBMEstimator(**FAST).fit(pd.concat([X] * 2), np.r_[np.full(len(X) * 2 - 1, 5.0), -1.0])


def test_fit_on_a_feature_table():
    w = synthetic(600, seed=9)
    model = GBMEstimator(**FAST).fit(w)
    X = model.features(w)
    y = w.column("runtime")[X.index.to_numpy()]
    m2 = GBMEstimator(**FAST).fit(X, y)
    assert m2.feature_names_ == list(X.columns) and "user" in m2.categorical_features_
    assert m2.predict(X).shape == (len(X),)


def test_conformal_quantile_hand_computed():
    scores = np.arange(1.0, 10.0)  # 9 scores
    assert conformal_quantile(scores, 0.9) == 9.0  # ceil(10 * 0.9) = 9th
    assert conformal_quantile(scores, 0.5) == 5.0  # ceil(10 * 0.5) = 5th
    assert conformal_quantile(scores, 0.95) == math.inf  # ceil(9.5) = 10 > 9
    assert conformal_quantile(np.array([]), 0.9) == math.inf


def test_adaptive_level_moves_with_misses_and_hits():
    """After a shift the fixed-level intervals miss more; adaptive conformal inference
    widens them (level up) and brings coverage of the shifted period nearer the nominal."""
    w = synthetic(2400, seed=21)
    jobs = w.jobs.copy()
    half = jobs["submit"] > jobs["submit"].median()
    rng = np.random.default_rng(1)
    jobs.loc[half, "runtime"] = np.round(jobs.loc[half, "runtime"] * rng.lognormal(0, 1.2, half.sum())).clip(1)
    jobs["req_time"] = -1.0  # no cap: keep the shifted runtimes
    shifted = Workload(jobs, {}, "shifted")
    covs, levels = [], []
    for gamma in (0.0, 0.02):
        g = GBMEstimator(**{**FAST, "retrain_every": 100000}, adaptive_gamma=gamma)
        rep = replay_trace(shifted, g)
        late = rep.submit > np.quantile(rep.submit, 0.6)
        lo, hi = g.lower_[rep.rows][late], g.upper_[rep.rows][late]
        covs.append(np.mean((rep.actual[late] >= lo) & (rep.actual[late] <= hi)))
        levels.append(g._online_level())
    assert levels[0] == pytest.approx(0.9) and levels[1] > 0.9
    assert abs(covs[1] - 0.9) < abs(covs[0] - 0.9)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60), st.floats(0.01, 0.99))
def test_conformal_quantile_covers_at_least_the_level(scores, level):
    q = conformal_quantile(np.array(scores), level)
    n = len(scores)
    if math.isinf(q):
        assert math.ceil((n + 1) * level) > n
    else:
        # a new exchangeable score falls below q with probability >= level
        assert np.sum(np.array(scores) <= q) >= math.ceil((n + 1) * level)
        assert q in scores


def test_start_resets_everything_learned():
    """The same object replayed on two traces gives what fresh objects give."""
    a, b = synthetic(700, seed=30), synthetic(500, seed=31)
    g = GBMEstimator(**FAST)
    replay_trace(a, g)
    second = replay_trace(b, g)
    fresh = replay_trace(b, GBMEstimator(**FAST))
    np.testing.assert_array_equal(second.estimate, fresh.estimate)
    np.testing.assert_array_equal(second.upper, fresh.upper)


def test_per_user_choice_takes_the_request_for_users_whose_requests_are_exact():
    """Half the users request exactly their runtime: once 5 of such a user's jobs are known
    and the request was the better estimate, the answer is the request; without the choice
    it is the model's own."""
    w = synthetic(1500, seed=4)
    jobs = w.jobs.copy()
    exact = jobs["user"] % 2 == 0
    jobs.loc[exact, "req_time"] = jobs.loc[exact, "runtime"]
    w = Workload(jobs, dict(w.header), w.source, [])
    g = GBMEstimator(**FAST)
    r = replay_trace(w, g)
    src = g.source_[r.rows]
    cand = g.candidates_[r.rows]
    np.testing.assert_array_equal(r.estimate, cand[np.arange(len(src)), src])
    assert (src[exact.to_numpy()[r.rows]] == 1).mean() > 0.5
    off = GBMEstimator(**FAST, selection_window=None)
    r_off = replay_trace(w, off)
    np.testing.assert_array_equal(r_off.estimate, off.model_estimate_[r_off.rows])
    acc = accuracy_metrics(r.estimate, r.actual)["accuracy"]
    assert acc > accuracy_metrics(r_off.estimate, r_off.actual)["accuracy"] + 0.05
