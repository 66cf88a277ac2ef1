"""PyOD-backed detectors (hbos, loda, ecod, copod) behind the one API."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyod")  # the 'detect' extra; CI installs it
pytest.importorskip("sklearn")

from hpcopt.detect import load_detector, make_detector
from hpcopt.detect.stream import StreamScorer
from hpcopt.errors import ConfigError


def _data(seed=0, n=2000, m=6):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 2))
    return np.repeat(f, 3, axis=1) + 0.1 * rng.normal(size=(n, m))


def _test():
    T = _data(1, n=600)
    T[300:320, 4] += 8.0
    y = np.zeros(600, dtype=int)
    y[300:320] = 1
    return T, y


# HBOS gives every value beyond its histogram range the same floor density, and an empirical
# CDF cannot put a tail probability below 1/(n+1) (ECOD, COPOD), so a jump far out in one of
# six metrics adds a bounded amount to the score: their margins are smaller.
@pytest.mark.parametrize("name,q", [("hbos", 0.95), ("loda", 0.99), ("ecod", 0.97), ("copod", 0.97),
                                    ("ecod_batch", 0.97), ("copod_batch", 0.97)])
def test_pyod_detector_finds_injected_anomaly(name, q):
    det = make_detector(name, random_state=0).fit(_data())
    T, y = _test()
    s = det.decision_function(T)
    assert s.shape == (600,) and np.isfinite(s).all()
    assert s[305:320].mean() > np.quantile(s[y == 0], q)
    a = det.predict(T)
    assert a[305:320].mean() > 0.3 and a[y == 0].mean() < 0.05
    assert det.threshold_.method == "pot" and det.threshold_.n_calibration == 2000


@pytest.mark.parametrize("name", ["hbos", "ecod", "copod", "ecod_batch"])
def test_pyod_culprits_name_the_shifted_metric(name):
    det = make_detector(name, random_state=0).fit(_data())
    T, _ = _test()
    C = det.explain(T)
    assert C.shape == T.shape and (C >= 0).all()
    assert (np.argmax(C[305:320], axis=1) == 4).mean() > 0.8


@pytest.mark.parametrize("name", ["ecod", "copod", "ecod_batch"])
def test_ecod_contributions_are_per_metric_tail_scores_and_sum_to_the_score(name):
    det = make_detector(name, smoothing=1, random_state=0).fit(_data())
    T, _ = _test()
    np.testing.assert_allclose(det._contributions(T).sum(axis=1), det._raw_scores(T), rtol=1e-9)


def test_loda_is_seeded_and_leaves_numpys_global_state_alone(tmp_path):
    X = _data()
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    a = make_detector("loda", random_state=0).fit(X).decision_function(X[:200])
    assert np.random.random() == before
    b = make_detector("loda", random_state=0).fit(X).decision_function(X[:200])
    c = make_detector("loda", random_state=1).fit(X).decision_function(X[:200])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_hbos_streams_like_batch_and_saves(tmp_path):
    det = make_detector("hbos", random_state=0).fit(_data())
    T, _ = _test()
    sc = StreamScorer(det)
    online = [sc.update(r)[0] for r in T]
    np.testing.assert_allclose(online, det.decision_function(T), rtol=1e-9)
    det.save(tmp_path / "h.hpd")
    np.testing.assert_array_equal(load_detector(tmp_path / "h.hpd").decision_function(T), det.decision_function(T))


def test_transductive_models_are_refused_by_the_stream():
    det = make_detector("ecod_batch", random_state=0).fit(_data())
    assert det.transductive
    with pytest.raises(ConfigError, match="transductive"):
        StreamScorer(det)


def test_wrapped_transductive_models_are_refused_by_the_stream_too():
    from hpcopt.detect.detectors import EnsembleDetector, RecentredDetector

    X = _data()
    rec = RecentredDetector(detector=make_detector("ecod_batch", random_state=0), window=50).fit(X)
    ens = EnsembleDetector(detectors=[make_detector("hbos"), make_detector("copod_batch")]).fit(X)
    causal = EnsembleDetector(detectors=[make_detector("hbos"), make_detector("copod")]).fit(X)
    assert rec.transductive and ens.transductive and not causal.transductive
    for det in (rec, ens):
        with pytest.raises(ConfigError, match="transductive"):
            StreamScorer(det)
    StreamScorer(causal)


def _skewed(seed, n):
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, size=(n, 4))
    X[:, 1] = -X[:, 1]  # left-skewed
    X[:, 3] = X[:, 0] + 0.1 * rng.normal(size=n)
    return X


@pytest.mark.parametrize("model", ["ecod", "copod"])
def test_causal_ecdf_scores_equal_pyods_scores_of_one_row_at_a_time(model):
    X, T = _skewed(0, 400), _skewed(1, 60)
    T[7, 0] = 50.0
    causal = make_detector(model, smoothing=1).fit(X)
    batch = make_detector(f"{model}_batch", smoothing=1).fit(X)
    assert not causal.transductive and batch.transductive
    one_by_one = np.array([batch._raw_scores(T[i:i + 1])[0] for i in range(len(T))])
    np.testing.assert_allclose(causal._raw_scores(T), one_by_one, rtol=1e-12, atol=1e-12)
    # PyOD's batch score of a row moves with the other rows of the call; the causal one does not
    assert not np.allclose(batch._raw_scores(T), one_by_one)


@pytest.mark.parametrize("model", ["ecod", "copod"])
def test_causal_ecdf_follows_pyod_when_one_row_flips_a_metrics_skewness(model):
    # a near-symmetric metric (sample skewness -0.11) turns right-skewed once the extreme row is in
    X = np.random.default_rng(0).normal(size=(400, 3))
    T = np.array([[8.0, 0.0, 0.0]])
    causal = make_detector(model, smoothing=1).fit(X)
    batch = make_detector(f"{model}_batch", smoothing=1).fit(X)
    assert causal._skew_sign()[0] == -1.0 and causal._skew_sign(causal._z(T))[0, 0] == 1.0
    np.testing.assert_allclose(causal._raw_scores(T), batch._raw_scores(T), rtol=1e-12)


@pytest.mark.parametrize("model", ["ecod", "copod"])
def test_causal_ecdf_training_scores_count_each_row_once(model):
    X = _skewed(0, 400)
    causal = make_detector(model, smoothing=1).fit(X)
    batch = make_detector(f"{model}_batch", smoothing=1).fit(X)
    # PyOD's in-sample scores: #{train <= x} / n, the row counted once
    np.testing.assert_allclose(causal.train_scores_, batch.estimator_.decision_scores_, rtol=1e-12)
    # scoring the training rows as new rows would count them twice and score them lower
    assert (causal._raw_scores(X) <= causal.train_scores_ + 1e-12).all()


def test_wrappers_calibrate_causal_ecdf_members_on_their_in_sample_scores():
    from hpcopt.detect.detectors import EnsembleDetector, MetricNormDetector, RecentredDetector, recentre

    X = _skewed(0, 400)
    ecod = make_detector("ecod", smoothing=1)
    rec = RecentredDetector(detector=ecod, window=20, smoothing=1).fit(X)
    np.testing.assert_allclose(rec.train_scores_, rec.inner_.train_scores_, rtol=1e-12)
    assert not np.allclose(rec.train_scores_, rec.inner_._raw_scores(recentre(X, 20, rec.median_)))
    ens = EnsembleDetector(detectors=[ecod, make_detector("mad", smoothing=1)], smoothing=1).fit(X)
    m, (med, scale) = ens.members_[0], ens.norm_[0]
    assert med == pytest.approx(float(np.median(m.train_scores_)))
    np.testing.assert_allclose(ens.train_scores_, np.mean(
        [(m.train_scores_ - med) / scale, (ens.members_[1].train_scores_ - ens.norm_[1][0]) / ens.norm_[1][1]], axis=0))
    # the ensemble's training contributions use its members' in-sample ones too
    ens1 = EnsembleDetector(detectors=[ecod], smoothing=1).fit(X)
    s1 = np.maximum((ens1.members_[0].train_scores_ - ens1.norm_[0][0]) / ens1.norm_[0][1], 0.0)
    C1 = ens1.members_[0]._tail_scores(X, in_sample=True)
    np.testing.assert_allclose(ens1._train_contributions(X), C1 / C1.sum(axis=1, keepdims=True) * s1[:, None])
    norm = MetricNormDetector(detector=ecod, reduce="max", smoothing=1).fit(X)
    C = norm.inner_._tail_scores(X, in_sample=True)
    np.testing.assert_allclose(norm.centre_, np.median(C, axis=0))
    np.testing.assert_allclose(norm.train_scores_, ((C - norm.centre_) / norm.spread_).max(axis=1))


def test_causal_ecod_threshold_keeps_the_false_alarm_rate_near_the_risk():
    # on fresh data from the training distribution, POT at risk 0.01 should alert on about 1 %;
    # training scores that counted each row twice gave 0.038 here
    rates = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        det = make_detector("ecod").fit(rng.gamma(2.0, size=(600, 60)))
        rates.append(det.predict(rng.gamma(2.0, size=(20_000, 60))).mean())
    assert 0.005 < np.mean(rates) < 0.025


def test_causal_ecod_and_copod_hand_computed_one_metric():
    # training 1 (x7), 2, 3, 10: n = 10, skewed right, so u_skew is the right tail only
    X = np.array([1.0] * 7 + [2.0, 3.0, 10.0])[:, None]
    T = np.array([[1.0], [11.0], [2.5]])
    # 1.0: 7 training values <= (ties count), 10 >=: u_left = -log(8/11), u_right = -log(11/11) = 0
    # 11 : 10 <=, 0 >=: u_left = 0, u_right = log(11);  2.5: 8 <=, 2 >=: -log(9/11), -log(3/11)
    u_left = np.array([-np.log(8 / 11), 0.0, -np.log(9 / 11)])
    u_right = np.array([0.0, np.log(11.0), -np.log(3 / 11)])
    ecod = make_detector("ecod", smoothing=1, clip=100.0, threshold="far").fit(X)
    copod = make_detector("copod", smoothing=1, clip=100.0, threshold="far").fit(X)
    assert ecod._skew_sign().tolist() == [1.0] and ecod._skew_sign(T).ravel().tolist() == [1.0, 1.0, 1.0]
    # ECOD: max(u_skew, u_left, u_right); COPOD: max(u_skew, (u_left + u_right) / 2)
    np.testing.assert_allclose(ecod._raw_scores(T), np.maximum(u_left, u_right), rtol=1e-12)
    np.testing.assert_allclose(copod._raw_scores(T), np.maximum(u_right, (u_left + u_right) / 2), rtol=1e-12)


@pytest.mark.parametrize("model", ["ecod", "copod"])
def test_causal_ecdf_handles_a_metric_constant_in_training(model):
    X = _skewed(0, 300)
    X[:, 2] = 0.5
    det = make_detector(model, smoothing=1).fit(X)
    T = _skewed(1, 50)
    T[:, 2] = 0.5
    T[10:15, 2] = 3.0  # the constant metric moves
    s = det.decision_function(T)
    assert np.isfinite(det.train_scores_).all() and np.isfinite(s).all()
    assert det._skew_sign()[2] == 0.0
    assert (np.argmax(det.explain(T)[10:15], axis=1) == 2).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40))
def test_causal_ecdf_score_of_a_row_does_not_depend_on_the_rows_after_it(seed, k):
    rng = np.random.default_rng(seed)
    X, T = rng.normal(size=(200, 3)), rng.normal(scale=2.0, size=(40, 3))
    for model in ("ecod", "copod"):
        det = make_detector(model, smoothing=1).fit(X)
        full = det.decision_function(T)
        np.testing.assert_allclose(det.decision_function(T[:k]), full[:k], rtol=1e-12)
        assert (full >= 0).all()


def test_causal_ecod_streams_like_batch_and_saves(tmp_path):
    det = make_detector("ecod", random_state=0).fit(_data())
    T, _ = _test()
    sc = StreamScorer(det)
    np.testing.assert_allclose([sc.update(r)[0] for r in T], det.decision_function(T), rtol=1e-9)
    det.save(tmp_path / "e.hpd")
    np.testing.assert_array_equal(load_detector(tmp_path / "e.hpd").decision_function(T), det.decision_function(T))


def test_bad_pyod_parameters():
    with pytest.raises(ConfigError, match="'model'"):
        from hpcopt.detect.pyod_detectors import PyODDetector

        PyODDetector(model="knnx").fit(_data())
    with pytest.raises(ConfigError, match="bad model_params"):
        make_detector("hbos", model_params={"no_such": 1}).fit(_data())
    with pytest.raises(ConfigError, match=r"'ecdf_reference'.*one of train, train\+scored"):
        make_detector("ecod", ecdf_reference="test").fit(_data())
    with pytest.raises(ConfigError, match="applies to ecod and copod only"):
        make_detector("hbos", ecdf_reference="train+scored").fit(_data())
    with pytest.raises(ConfigError, match=r"ecod_batch.*ecdf_reference='train\+scored'.*use 'ecod'"):
        make_detector("ecod_batch", ecdf_reference="train")
    with pytest.raises(ConfigError, match="takes no 'model' parameter"):
        make_detector("ecod", model="hbos")
    with pytest.raises(ConfigError, match="would have no effect on the causal ecod"):
        make_detector("ecod", model_params={"n_jobs": 2}).fit(_data())
