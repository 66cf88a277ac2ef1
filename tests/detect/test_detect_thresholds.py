"""Label-free thresholds: POT against known tails, FAR quantiles, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")  # the 'detect' extra; CI installs it
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.detect.thresholds import far_threshold, fit_threshold, pot_threshold
from hpcopt.errors import ConfigError, InputError


def test_far_threshold_alarm_rate():
    s = np.arange(1000, dtype=float)
    t = far_threshold(s, 0.01)
    assert t.value == 990.0 and (s > t.value).mean() == pytest.approx(0.009)


def test_pot_on_exponential_tail_recovers_quantile():
    # Exp(1): P(S > z) = exp(-z), so the 1e-4 quantile is ln(1e4) = 9.21; GPD shape ~ 0
    rng = np.random.default_rng(0)
    s = rng.exponential(1.0, 200_000)
    t = pot_threshold(s, risk=1e-4, level=0.98)
    assert t.details["fit"] == "mle"
    assert abs(t.details["gpd_shape"]) < 0.05
    assert t.value == pytest.approx(np.log(1e4), rel=0.05)


def test_pot_on_pareto_tail_has_positive_shape():
    # Pareto with alpha = 2: tail P(S > z) = z^-2, quantile at 1e-4 is 100; GPD shape 0.5
    rng = np.random.default_rng(3)
    s = (1.0 - rng.random(400_000)) ** (-1 / 2.0)
    t = pot_threshold(s, risk=1e-4, level=0.99)
    assert t.details["gpd_shape"] == pytest.approx(0.5, abs=0.1)
    assert t.value == pytest.approx(100.0, rel=0.25)


def test_pot_falls_back_with_few_excesses():
    t = pot_threshold(np.arange(50, dtype=float), risk=0.01, level=0.98)
    assert "fallback" in t.details


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(1e-3, 0.02))
def test_pot_threshold_is_above_initial_and_monotone_in_risk(seed, risk):
    s = np.random.default_rng(seed).gamma(2.0, size=5000)
    lo = pot_threshold(s, risk=risk, level=0.95)
    hi = pot_threshold(s, risk=risk / 2, level=0.95)
    assert lo.value >= lo.details["initial"]
    assert hi.value >= lo.value - 1e-9


def test_bad_parameters_and_scores():
    with pytest.raises(ConfigError, match="'risk'"):
        pot_threshold([1.0, 2.0], risk=0)
    with pytest.raises(ConfigError, match="'rate'"):
        far_threshold([1.0], rate=1.5)
    with pytest.raises(ConfigError, match="'pot' or 'far'"):
        fit_threshold([1.0], "best")
    with pytest.raises(InputError, match="NaN"):
        far_threshold([1.0, float("nan")])
