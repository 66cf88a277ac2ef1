"""USADDetector: causal last-step scores, bounded adversarial training, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from hpcopt.detect import load_detector, make_detector
from hpcopt.detect.usad import USADDetector
from hpcopt.errors import ConfigError


def _series(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.column_stack([np.sin(t / 10), np.cos(t / 10), 0.1 * rng.normal(size=n)])


def test_usad_is_causal_bounded_and_round_trips(tmp_path):
    X = _series()
    det = make_detector("usad", window=8, epochs=3, n_threads=1, random_state=0).fit(X)
    assert isinstance(det, USADDetector) and det.context_ == 7
    # the sigmoid output bounds the adversarial phase: the losses stay finite and small
    assert np.isfinite(det.loss_history_).all() and max(det.loss_history_) < 2.0
    T = _series(300, seed=1)
    s = det.decision_function(T)
    T2 = T.copy()
    T2[200:] += 5.0  # a changed future never alters past scores
    np.testing.assert_allclose(det.decision_function(T2)[:200], s[:200], rtol=1e-6)
    # rows far outside the training range cannot be reproduced by the sigmoid decoders
    assert det.decision_function(T2)[210:].min() > np.quantile(s[:200], 0.99)
    p = det.save(tmp_path / "u.pkl")
    np.testing.assert_allclose(load_detector(p).decision_function(T), s, rtol=1e-6)
    again = make_detector("usad", window=8, epochs=3, n_threads=1, random_state=0).fit(X)
    np.testing.assert_allclose(again.decision_function(T), s, rtol=1e-6)


@pytest.mark.parametrize("kw, msg", [({"alpha": -1.0}, "alpha"), ({"alpha": 0.0, "beta": 0.0}, "alpha \\+ beta"),
                                     ({"window": 0}, "window")])
def test_usad_bad_parameters(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        USADDetector(epochs=1, **kw).fit(_series(200))
