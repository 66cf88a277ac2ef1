"""check_detector on every registered built-in detector, and on broken toys it must catch."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from hpcopt.detect import DETECTORS, make_detector
from hpcopt.detect.base import BaseDetector
from hpcopt.testing.checks.detector import check_detector

_NEEDS = {"lstm": "torch", "hbos": "pyod", "loda": "pyod", "ecod": "pyod", "copod": "pyod", "ecod_batch": "pyod",
          "copod_batch": "pyod", "lstm_max": "torch", "lstm_mean": "torch", "lstm_pca": "torch",
          "lstm_pca_max": "torch"}


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_builtin_detector_meets_the_contract(name):
    if name in _NEEDS:
        pytest.importorskip(_NEEDS[name])
    # lstm members: one torch thread, so that the determinism rule is exact on any machine
    extra = {"n_threads": 1} if name.startswith("lstm") else {}
    check_detector(lambda: make_detector(name, random_state=3, **extra))


def test_a_detector_instance_is_accepted_and_a_recentred_one_checked():
    check_detector(make_detector("mad", recenter_window=20, random_state=0))


class _Toy(BaseDetector):
    """A correct toy: distance of each row from the training mean."""

    def __init__(self, *, threshold="pot", risk=0.01, level=0.95, rate=0.01, smoothing=1, random_state=0):
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)

    def _fit(self, X, progress):
        self.mean_ = X.mean(axis=0)

    def _raw_scores(self, X):
        return np.abs(X - self.mean_).sum(axis=1)

    def _contributions(self, X):
        return np.abs(X - self.mean_)


class _PeeksAhead(_Toy):
    """Scores each row against the mean of the rows it is scored with: it reads the future."""

    def _raw_scores(self, X):
        return np.abs(X - X.mean(axis=0)).sum(axis=1)


class _Unseeded(_Toy):
    """Ignores random_state: every fit draws fresh noise."""

    def _fit(self, X, progress):
        self.mean_ = X.mean(axis=0) + np.random.default_rng().normal(size=X.shape[1])


class _BadParams(_Toy):
    """Stores a parameter under another name, so get_params cannot find it."""

    def __init__(self, *, scale=2.0, **kw):
        super().__init__(**kw)
        self._scale = scale


class _NaNScores(_Toy):
    """NaN for a row far from the training mean (the test rows' level shift)."""

    def _raw_scores(self, X):
        s = super()._raw_scores(X)
        s[X[:, 1] - X[:, 0] > 3.0] = np.nan
        return s


class _SwallowsBadInput(_Toy):
    """Fills NaN silently instead of refusing it."""

    def fit(self, X, y=None, *, progress=None):
        return super().fit(np.nan_to_num(np.asarray(X, dtype=float)), progress=progress)


class _NegativeContributions(_Toy):
    def _contributions(self, X):
        return X - self.mean_


@pytest.mark.parametrize("toy, message", [
    (_PeeksAhead, "not causal"),
    (_Unseeded, "different scores"),
    (_BadParams, "its own name"),
    (_NaNScores, "finite scores"),
    (_SwallowsBadInput, "fit on rows with NaN"),
    (_NegativeContributions, "non-negative"),
])
def test_check_detector_catches_a_broken_toy(toy, message):
    with pytest.raises(AssertionError, match=message):
        check_detector(toy)


def test_the_correct_toy_passes_until_it_must_be_saved():
    # a class outside hpcopt cannot be saved in the safe format: the check says so at the last rule
    with pytest.raises(Exception, match="not one of hpcopt's|_Toy"):
        check_detector(_Toy)
