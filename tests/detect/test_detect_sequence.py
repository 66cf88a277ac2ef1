"""The LSTM autoencoder on torch CPU (skipped without torch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hpcopt.detect import load_detector, make_detector  # noqa: E402
from hpcopt.detect.stream import StreamScorer  # noqa: E402
from hpcopt.errors import ConfigError  # noqa: E402


def _series(n, seed):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    base = np.sin(2 * np.pi * t / 50.0)
    return np.column_stack([base, np.cos(2 * np.pi * t / 50.0), 0.5 * base]) + 0.05 * rng.normal(size=(n, 3))


def _small(**kw):
    return make_detector("lstm", window=8, hidden=16, code=8, epochs=12, batch_size=64, n_threads=1,
                         random_state=0, **kw)


def test_lstm_learns_pattern_and_flags_break(tmp_path):
    X = _series(1500, 0)
    T = _series(400, 1)
    T[200:230, 2] = -T[200:230, 2]  # metric 2 flips sign: breaks its tie to metric 0
    det = _small().fit(X)
    assert det.loss_history_[-1] < det.loss_history_[0] * 0.5
    s = det.decision_function(T)
    assert s.shape == (400,)
    assert s[205:230].mean() > np.quantile(np.r_[s[20:195], s[240:]], 0.99)
    C = det.explain(T)
    # the autoencoder shares one code for all metrics, so the broken pair (0, 2) is blamed
    # together; metric 1 (unaffected) must not be
    top = np.argmax(C[205:230], axis=1)
    assert np.isin(top, [0, 2]).mean() > 0.9 and (top == 2).mean() >= 0.4
    # determinism and persistence
    det2 = _small().fit(X)
    np.testing.assert_allclose(det2.decision_function(T), s, rtol=1e-5, atol=1e-7)
    back = load_detector(det.save(tmp_path / "lstm.hpd"))
    np.testing.assert_allclose(back.decision_function(T), s, rtol=1e-6, atol=1e-8)
    # streaming gives the batch scores (after the first window)
    sc = StreamScorer(det)
    online = np.array([sc.update(r)[0] for r in T])
    np.testing.assert_allclose(online, s, rtol=1e-4, atol=1e-6)
    assert len(sc._rows) == det.window


def test_lstm_bad_params():
    with pytest.raises(ConfigError, match="'window'"):
        make_detector("lstm", window=0).fit(_series(100, 0))
