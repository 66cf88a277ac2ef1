"""MetricNormDetector: per-metric residuals on their own training scales, max/mean/top-k."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from hpcopt.detect import MADDetector, MetricNormDetector, make_detector
from hpcopt.detect.base import BaseDetector
from hpcopt.detect.stream import StreamScorer
from hpcopt.errors import ConfigError


class _Identity(BaseDetector):
    """Contributions = the row itself (non-negative data): makes the wrapper hand-checkable."""

    def _fit(self, X, progress):
        pass

    def _raw_scores(self, X):
        return X.sum(axis=1)

    def _contributions(self, X):
        return X.copy()


def _train():
    # metric 0 in 0..100 (median 50), metric 1 in 0..1 (median 0.5): very different scales
    t = np.linspace(0.0, 1.0, 101)
    return np.column_stack([100 * t, t])


def test_hand_computed_normalisation_and_reductions():
    X = _train()
    q0, q1 = np.quantile(X[:, 0], 0.99), np.quantile(X[:, 1], 0.99)
    row = np.array([[50.0, 1.5]])  # metric 0 at its median, metric 1 far above its training range
    z = np.array([0.0, (1.5 - 0.5) / (q1 - 0.5)])
    for reduce, expect in (("max", z.max()), ("mean", z.mean()), ("topk", z.max())):
        det = MetricNormDetector(detector=_Identity(smoothing=1), reduce=reduce, k=1, smoothing=1).fit(X)
        assert det.centre_ == pytest.approx([50.0, 0.5])
        assert det.spread_ == pytest.approx([q0 - 50.0, q1 - 0.5])
        assert det.decision_function(row)[0] == pytest.approx(expect)
        np.testing.assert_allclose(det.explain(row)[0], np.maximum(z, 0.0))
    # the plain sum is dominated by the wide metric; the normalised max is not
    plain = _Identity(smoothing=1).fit(X)
    wide = np.array([[99.0, 0.5]])  # metric 0 at its own 99th percentile: ordinary
    assert plain.decision_function(wide)[0] > plain.decision_function(row)[0]
    det = MetricNormDetector(detector=_Identity(smoothing=1), smoothing=1).fit(X)
    assert det.decision_function(row)[0] > 2 * det.decision_function(wide)[0]


def test_single_metric_fault_stands_out_more_with_max_than_with_mean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 10))
    T = rng.normal(size=(300, 10))
    T[200:210, 3] += 8.0
    y = np.zeros(300, bool)
    y[200:210] = True
    gaps = {}
    for reduce in ("max", "mean"):
        det = MetricNormDetector(detector=MADDetector(smoothing=1), reduce=reduce, smoothing=1).fit(X)
        s = det.decision_function(T)
        gaps[reduce] = s[y].min() / np.quantile(s[~y], 0.99)
        assert (det.explain(T[200:210]).argmax(axis=1) == 3).all()
    assert gaps["max"] > gaps["mean"] > 1.0


def test_named_detectors_wrap_and_are_deterministic():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 4))
    d = make_detector("pca_max", random_state=3, quantile=0.95)
    assert isinstance(d, MetricNormDetector) and d.reduce == "max" and d.quantile == 0.95
    assert d.random_state == 3 and d.detector.random_state == 3
    r = make_detector("mad_mean", recenter_window=20, change_window=5)
    assert type(r).__name__ == "RecentredDetector" and r.detector.reduce == "mean"
    assert r.detector.detector.change_window == 5
    a = make_detector("pca_max").fit(X).decision_function(X[:50])
    b = make_detector("pca_max").fit(X).decision_function(X[:50])
    np.testing.assert_array_equal(a, b)


def test_stream_equals_batch_with_context():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 3))
    det = make_detector("mad_max", change_window=10).fit(X)
    assert det.context_ == 10
    T = rng.normal(size=(60, 3))
    batch = det.decision_function(T)
    sc = StreamScorer(det)
    online = np.array([sc.update(row)[0] for row in T])
    np.testing.assert_allclose(online, batch, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kw, msg", [({"reduce": "median"}, "reduce"), ({"k": 0}, "'k'"), ({"k": 9, "reduce": "topk"}, "'k'"),
                                     ({"quantile": 0.3}, "quantile"), ({"detector": None}, "detector")])
def test_bad_parameters(kw, msg):
    params = {"detector": MADDetector()}
    params.update(kw)
    with pytest.raises(ConfigError, match=msg):
        MetricNormDetector(**params).fit(np.random.default_rng(0).normal(size=(50, 3)))


def test_named_pairs_are_train_normalised_means_of_their_members():
    pytest.importorskip("torch")
    from hpcopt.detect import EnsembleDetector
    from hpcopt.detect.base import causal_mean

    rng = np.random.default_rng(3)
    X = rng.normal(size=(240, 3))
    d = make_detector("lstm_pca_max", random_state=1, n_threads=1, smoothing=1)
    assert isinstance(d, EnsembleDetector)
    assert [m.reduce for m in d.detectors] == ["max", "max"]
    assert d.detectors[0].detector.n_threads == 1 and not hasattr(d.detectors[1].detector, "n_threads")
    r = make_detector("lstm_pca", recenter_window=20, n_threads=1)
    assert type(r).__name__ == "RecentredDetector" and len(r.detector.detectors) == 2
    with pytest.raises(ConfigError, match="epochs"):
        make_detector("lstm_pca", epochs=2)
    d.fit(X)
    T = rng.normal(size=(30, 3))
    manual = np.mean([(m._raw_scores(T) - med) / s for m, (med, s) in zip(d.members_, d.norm_)], axis=0)
    np.testing.assert_allclose(d.decision_function(T), causal_mean(manual, 1), rtol=1e-9)
    for m, (med, s) in zip(d.members_, d.norm_):
        raw = m._raw_scores(X)
        assert med == pytest.approx(np.median(raw)) and s == pytest.approx(np.quantile(raw, 0.99) - med)
