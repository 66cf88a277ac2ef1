"""The estimate tasks and the library protocols under them (evaluation, conformal arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpcopt.data import sample_path
from hpcopt.errors import ConfigError
from hpcopt.estimate.conformal import aci_level, aci_update, cqr_interval, cqr_scores
from hpcopt.estimate.evaluate import versus_baselines
from hpcopt.estimate.tasks import evaluate


def test_evaluate_task_result_and_provenance():
    r = evaluate(trace=str(sample_path("hpc2n")), kind="tsafrir", seed=3)
    assert r.schema_id == "estimate.evaluate/1"
    assert len(r.provenance.inputs["trace"]) == 64 and r.provenance.seed == 3
    p = r.payload
    assert p["kind"] == "tsafrir" and list(p["by_model"]) == ["tsafrir", "requested"]
    assert p["jobs"] == 3145 and p["accuracy"] == p["by_model"]["tsafrir"]["all"]["accuracy"]
    # the claims are the comparison of the numbers beside them
    t, q = p["by_model"]["tsafrir"]["all"], p["by_model"]["requested"]["all"]
    assert p["versus_baselines"] == {"accuracy_beats_both": t["accuracy"] > q["accuracy"]}
    assert "evaluation" in r.extras and "evaluation" not in r.to_dict()["payload"]


def test_evaluate_refuses_bad_options_before_any_work(tmp_path):
    trace = str(sample_path("hpc2n"))
    with pytest.raises(ConfigError, match="--kind must be one of .*got 'tsafir'.*did you mean 'tsafrir'"):
        evaluate(trace=trace, kind="tsafir")
    with pytest.raises(ConfigError, match="must name an .html file"):
        evaluate(trace=trace, kind="tsafrir", report=str(tmp_path / "r.pdf"))
    existing = tmp_path / "r.html"
    existing.write_text("precious")
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        evaluate(trace=trace, kind="tsafrir", report=str(existing))
    assert existing.read_text() == "precious"
    with pytest.raises(ConfigError, match="has no parameters to set"):
        evaluate(trace=trace, kind="tsafrir", params={"history": 3})


def test_versus_baselines_by_hand():
    by = {"gbm": {"all": {"accuracy": 0.5, "mae": 90.0}, "later_half": {"coverage": 0.88}},
          "tsafrir": {"all": {"accuracy": 0.45, "mae": 100.0}},
          "requested": {"all": {"accuracy": 0.52, "mae": 300.0}}}
    assert versus_baselines(by, "gbm", 0.9) == {"accuracy_beats_both": False, "mae_beats_tsafrir": True,
                                                "later_coverage_within_3_points": True}
    by["gbm"]["later_half"]["coverage"] = 0.86
    assert versus_baselines(by, "gbm", 0.9)["later_coverage_within_3_points"] is False


def test_cqr_arithmetic_by_hand():
    lo, hi = np.log1p(np.array([10.0, 100.0])), np.log1p(np.array([20.0, 200.0]))
    y = np.log1p(np.array([30.0, 150.0]))
    s = cqr_scores(lo, hi, y)
    assert s[0] == pytest.approx(np.log1p(30) - np.log1p(20)) and s[1] == pytest.approx(np.log1p(150) - np.log1p(200))  # nearer the upper end
    lower, upper = cqr_interval(lo, hi, 0.0, s)
    np.testing.assert_allclose(lower, [10.0, 100.0])
    np.testing.assert_allclose(upper, [20.0, 200.0])
    lower, upper = cqr_interval(lo, hi, math.inf, s)
    assert np.isinf(upper).all() and (lower == 0).all()
    lower, _ = cqr_interval(lo, hi, -math.inf, s)  # falls back to the smallest score
    np.testing.assert_allclose(lower, np.maximum(np.expm1(lo - s.min()), 0))
    # ACI: a miss at 90 % moves alpha by gamma * (0.1 - 1), a hit by gamma * 0.1
    assert aci_update(0.1, 0.01, 0.9, True) == pytest.approx(0.1 - 0.009)
    assert aci_update(0.1, 0.01, 0.9, False) == pytest.approx(0.101)
    assert aci_level(0.1, 9) == pytest.approx(0.9) and aci_level(-0.5, 9) == pytest.approx(0.9)
    assert aci_level(0.5, 9) == pytest.approx(0.5) and aci_level(1.5, 9) == 0.0
