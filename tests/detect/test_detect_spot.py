"""SPOT / DSPOT streaming thresholds: known tails, step semantics, causality, drift, wiring."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")  # the 'detect' extra; CI installs it
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.detect.thresholds import SPOT, pot_threshold
from hpcopt.errors import ConfigError, InputError


def test_spot_initial_threshold_on_exponential_tail():
    # Exp(1): P(S > z) = exp(-z), so the 1e-3 quantile is ln(1000) = 6.91; GPD shape ~ 0
    s = np.random.default_rng(0).exponential(1.0, 50_000)
    sp = SPOT(risk=1e-3, level=0.98).fit(s)
    assert sp.method == "spot" and sp.fit_ == "mle"
    assert abs(sp.shape_) < 0.1
    assert sp.z_ == pytest.approx(math.log(1e3), rel=0.05)
    # the initial step is the batch POT
    assert sp.z_ == pytest.approx(pot_threshold(s, risk=1e-3, level=0.98).value, rel=1e-9)


def _block_rates(alarms, blocks, risk):
    return [float(b.mean() / risk) for b in np.array_split(alarms, blocks)]


@pytest.mark.parametrize("draw", ["exponential", "pareto"])
def test_censored_spot_keeps_the_alarm_rate_at_the_risk_on_a_long_stream(draw):
    """Stationary scores: with alarms counted as censored excesses the alarm rate stays at
    the risk; with the paper's rule (alarms dropped) it climbs block after block."""
    rng = np.random.default_rng(1)
    gen = (lambda n: rng.exponential(1.0, n)) if draw == "exponential" else (lambda n: rng.pareto(3.0, n))
    cal, stream = gen(20_000), gen(200_000)
    censored, _ = SPOT(risk=0.01, level=0.95, censored=True).fit(cal).run(stream)
    paper, _ = SPOT(risk=0.01, level=0.95, censored=False).fit(cal).run(stream)
    c, p = _block_rates(censored, 4, 0.01), _block_rates(paper, 4, 0.01)
    assert all(0.8 < r < 1.25 for r in c), c
    assert p[-1] > 2.0 and p[-1] > p[0], p


def test_paper_spot_on_an_exponential_stream_sinks_below_ln_1000():
    rng = np.random.default_rng(1)
    sp = SPOT(risk=1e-3, level=0.98, censored=False).fit(rng.exponential(1.0, 20_000))
    alarms, thr = sp.run(rng.exponential(1.0, 100_000))
    # the peaks lose the top of the tail and the fitted shape drifts below 0: the threshold
    # sinks from ln(1000) = 6.91 and the alarm rate is above the risk
    assert 1e-3 < alarms.mean() < 2.5e-3
    assert np.median(thr) == pytest.approx(math.log(1e3), rel=0.12)
    assert -0.2 < sp.shape_ < 0.0


def test_max_peaks_bounds_the_sample_not_the_tail_probability():
    """With fewer peaks kept than there are calibration peaks, the initial threshold is still
    POT's (up to the subsample's fit) and the alarm rate stays near the risk. (A window of
    a few hundred gives noisy fits: 1.1-2.2x the risk per block with 300.)"""
    rng = np.random.default_rng(6)
    cal = rng.exponential(1.0, 60_000)
    sp = SPOT(risk=0.01, level=0.95, max_peaks=2000, censored=True).fit(cal)
    assert sp.N_t_ == 3000 and len(sp.peaks_) == 2000
    assert sp.z_ == pytest.approx(pot_threshold(cal, risk=0.01, level=0.95).value, rel=0.05)
    alarms, _ = sp.run(rng.exponential(1.0, 150_000))
    assert all(0.75 < r < 1.35 for r in _block_rates(alarms, 3, 0.01))
    assert len(sp._excess) == 2000 and sp.N_t_ > 3000


def test_dspot_works_on_deviation_from_the_moving_average():
    rng = np.random.default_rng(2)
    cal = rng.exponential(1.0, 5000)
    sp = SPOT(risk=1e-3, level=0.98, depth=10).fit(cal)
    assert sp.method == "dspot"
    assert sp.mean_ == pytest.approx(cal[-10:].mean())
    # the threshold of the next score is z + M
    m = sp.mean_
    a, thr = sp.step(0.5)
    assert thr == pytest.approx(sp.z_ + m) and not a
    # the window now ends with 0.5 and forgets the oldest calibration score
    assert sp.mean_ == pytest.approx((cal[-9:].sum() + 0.5) / 10)
    # an alarm does not enter the window
    before = sp.mean_
    a, _ = sp.step(1e6)
    assert a and sp.mean_ == before


def test_dspot_follows_a_drift_that_spot_does_not():
    rng = np.random.default_rng(3)
    cal = rng.exponential(1.0, 5000)
    stream = rng.exponential(1.0, 20_000) + np.linspace(0.0, 20.0, 20_000)  # slow upward drift
    spot_alarms, _ = SPOT(risk=1e-3, level=0.98).fit(cal).run(stream)
    dspot_alarms, thr = SPOT(risk=1e-3, level=0.98, depth=50).fit(cal).run(stream)
    assert spot_alarms.mean() > 0.5          # SPOT alarms on most of the drifted stream
    censored, _ = SPOT(risk=1e-3, level=0.98, censored=True).fit(cal).run(stream)
    assert censored.mean() < 0.2             # counted alarms raise the threshold along the drift
    assert dspot_alarms.mean() < 0.01        # DSPOT moves its threshold along
    assert thr[-1] > thr[0] + 15.0


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(50, 400), st.sampled_from([0, 5]))
def test_spot_is_causal_a_changed_future_never_alters_past_alarms(seed, cut, depth):
    rng = np.random.default_rng(seed)
    cal = rng.gamma(2.0, size=2000)
    stream = rng.gamma(2.0, size=500)
    other = stream.copy()
    other[cut:] = rng.gamma(2.0, size=500 - cut) * rng.choice([0.1, 3.0, 30.0])
    a1, t1 = SPOT(risk=0.01, level=0.95, depth=depth).fit(cal).run(stream)
    a2, t2 = SPOT(risk=0.01, level=0.95, depth=depth).fit(cal).run(other)
    np.testing.assert_array_equal(a1[:cut], a2[:cut])
    np.testing.assert_array_equal(t1[:cut + 1], t2[:cut + 1])  # the threshold at `cut` is set before it


def test_automatic_refits_stay_close_to_refitting_after_every_peak():
    rng = np.random.default_rng(4)
    cal, stream = rng.gamma(2.0, size=5000), rng.gamma(2.0, size=8000)
    a1, t1 = SPOT(risk=1e-3, level=0.98, refit_every=1).fit(cal).run(stream)
    a2, t2 = SPOT(risk=1e-3, level=0.98).fit(cal).run(stream)
    assert np.max(np.abs(t1 - t2) / t1) < 0.05
    assert abs(int(a1.sum()) - int(a2.sum())) <= 3


def test_max_peaks_bounds_memory():
    rng = np.random.default_rng(5)
    sp = SPOT(risk=1e-3, level=0.98, max_peaks=200, censored=True).fit(rng.exponential(1.0, 20_000))
    sp.run(rng.exponential(1.0, 10_000))
    assert len(sp._excess) == 200 and len(sp._cens) == 200
    rec = sp.as_threshold()
    assert rec.method == "spot" and rec.details["n_peaks"] + rec.details["n_censored"] == 200
    assert rec.params["max_peaks"] == 200 and rec.details["n_excesses"] == sp.N_t_ > 200


def test_spot_bad_input():
    with pytest.raises(ConfigError, match="'risk'"):
        SPOT(risk=0.1, level=0.95).fit(np.arange(1000.0))
    with pytest.raises(ConfigError, match="'depth'"):
        SPOT(depth=-1).fit(np.arange(1000.0))
    with pytest.raises(ConfigError, match="'max_peaks'"):
        SPOT(max_peaks=3).fit(np.arange(1000.0))
    with pytest.raises(ConfigError, match="not fitted"):
        SPOT().step(1.0)
    with pytest.raises(InputError, match="SPOT needs at least"):
        SPOT(risk=1e-3, level=0.98).fit(np.arange(100.0))
    with pytest.raises(InputError, match="DSPOT with depth 500"):
        SPOT(depth=500).fit(np.arange(100.0))
    with pytest.raises(InputError, match="NaN"):
        SPOT(risk=1e-3, level=0.98).fit(np.arange(5000.0)).step(float("nan"))
    with pytest.raises(InputError, match="NaN"):
        SPOT().fit([1.0, float("nan")])


def _series():
    from hpcopt.data.telemetry import LabelledSeries

    rng = np.random.default_rng(0)
    f = rng.normal(size=(3000, 1))
    X = np.hstack([f, f, f, rng.normal(size=(3000, 1))]) + 0.05 * rng.normal(size=(3000, 4))
    g = rng.normal(size=(1500, 1))
    T = np.hstack([g, g, g, rng.normal(size=(1500, 1))]) + 0.05 * rng.normal(size=(1500, 4))
    T[600:, 2] += 0.6            # a lasting, unlabelled level shift of one metric ...
    T[1200:1230, 1] += 5.0       # ... and a labelled anomaly after it
    y = np.zeros(1500, dtype=np.int8)
    y[1200:1230] = 1
    return LabelledSeries("toy", X, T, y, None, 60.0, None, None)


def test_evaluate_and_stream_with_spot_agree_and_are_label_free():
    pytest.importorskip("sklearn")
    from hpcopt.detect import make_detector
    from hpcopt.detect.evaluate import evaluate_series, make_spot
    from hpcopt.detect.stream import StreamScorer

    s = _series()
    det = make_detector("mad", random_state=0)
    r = evaluate_series(det, s, adapt="dspot", adapt_params={"depth": 20}, with_culprits=False)
    arr = r["_arrays"]
    assert r["threshold"]["method"] == "dspot" and r["threshold"]["params"]["depth"] == 20
    # the same alerts as running DSPOT over the scores, and the same whatever the labels say
    ref, _ = make_spot(arr["detector"], "dspot", {"depth": 20}).run(arr["scores"])
    np.testing.assert_array_equal(arr["alerts"], ref)
    s2 = _series()
    s2.labels[:] = 0
    s2.labels[:50] = 1
    r2 = evaluate_series(det, s2, adapt="dspot", adapt_params={"depth": 20}, with_culprits=False)
    np.testing.assert_array_equal(r2["_arrays"]["alerts"], arr["alerts"])
    assert arr["alerts"][1200:1230].mean() > 0.8
    # online: StreamScorer with the same adaptive threshold raises the same alerts
    sc = StreamScorer(arr["detector"], adapt="dspot", adapt_params={"depth": 20})
    online = []
    for row in s.test:
        score, _ = sc.update(row)
        online.append(sc.in_alert)
    np.testing.assert_array_equal(np.array(online, dtype=np.int8), arr["alerts"])


def test_make_spot_rejects_unknown_method():
    pytest.importorskip("sklearn")
    from hpcopt.detect import make_detector
    from hpcopt.detect.evaluate import make_spot

    det = make_detector("mad").fit(np.random.default_rng(0).normal(size=(500, 3)))
    with pytest.raises(ConfigError, match="'spot' or 'dspot'"):
        make_spot(det, "adaptive")
