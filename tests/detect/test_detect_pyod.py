"""PyOD-backed detectors (hbos, loda, ecod, copod) behind the one API."""

from __future__ import annotations

import numpy as np
import pytest

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
@pytest.mark.parametrize("name,q", [("hbos", 0.95), ("loda", 0.99), ("ecod", 0.97), ("copod", 0.97)])
def test_pyod_detector_finds_injected_anomaly(name, q):
    det = make_detector(name, random_state=0).fit(_data())
    T, y = _test()
    s = det.decision_function(T)
    assert s.shape == (600,) and np.isfinite(s).all()
    assert s[305:320].mean() > np.quantile(s[y == 0], q)
    a = det.predict(T)
    assert a[305:320].mean() > 0.3 and a[y == 0].mean() < 0.05
    assert det.threshold_.method == "pot" and det.threshold_.n_calibration == 2000


@pytest.mark.parametrize("name", ["hbos", "ecod", "copod"])
def test_pyod_culprits_name_the_shifted_metric(name):
    det = make_detector(name, random_state=0).fit(_data())
    T, _ = _test()
    C = det.explain(T)
    assert C.shape == T.shape and (C >= 0).all()
    assert (np.argmax(C[305:320], axis=1) == 4).mean() > 0.8


def test_ecod_contributions_are_pyods_per_metric_scores_and_sum_to_the_score():
    det = make_detector("ecod", smoothing=1, random_state=0).fit(_data())
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
    det.save(tmp_path / "h.pkl")
    np.testing.assert_array_equal(load_detector(tmp_path / "h.pkl").decision_function(T), det.decision_function(T))


def test_transductive_models_are_refused_by_the_stream():
    det = make_detector("ecod", random_state=0).fit(_data())
    assert det.transductive
    with pytest.raises(ConfigError, match="transductive"):
        StreamScorer(det)


def test_wrapped_transductive_models_are_refused_by_the_stream_too():
    from hpcopt.detect.detectors import EnsembleDetector, RecentredDetector

    X = _data()
    rec = RecentredDetector(detector=make_detector("ecod", random_state=0), window=50).fit(X)
    ens = EnsembleDetector(detectors=[make_detector("hbos"), make_detector("copod")]).fit(X)
    causal = EnsembleDetector(detectors=[make_detector("hbos"), make_detector("mad")]).fit(X)
    assert rec.transductive and ens.transductive and not causal.transductive
    for det in (rec, ens):
        with pytest.raises(ConfigError, match="transductive"):
            StreamScorer(det)
    StreamScorer(causal)


def test_bad_pyod_parameters():
    with pytest.raises(ConfigError, match="'model'"):
        from hpcopt.detect.pyod_detectors import PyODDetector

        PyODDetector(model="knnx").fit(_data())
    with pytest.raises(ConfigError, match="bad model_params"):
        make_detector("hbos", model_params={"no_such": 1}).fit(_data())
