"""The detect tasks and the protocol pieces they moved into the library."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from hpcopt.detect.metrics import circular_shift_floor, same_rate_floor
from hpcopt.errors import ConfigError, InputError


def _files(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    T = rng.normal(size=(200, 3))
    T[100:110, 2] += 8.0
    y = np.zeros(200, dtype=int)
    y[100:110] = 1
    np.savetxt(tmp_path / "train.txt", X, delimiter=",", fmt="%.6f")
    np.savetxt(tmp_path / "test.txt", T, delimiter=",", fmt="%.6f")
    np.savetxt(tmp_path / "labels.txt", y, fmt="%d")
    return tmp_path / "train.txt", tmp_path / "test.txt", tmp_path / "labels.txt"


def test_evaluate_task_result_and_its_random_baseline(tmp_path):
    from hpcopt.data.telemetry import LabelledSeries, read_labels, read_matrix
    from hpcopt.detect.evaluate import random_baseline
    from hpcopt.detect.tasks import evaluate

    tr, te, lab = _files(tmp_path)
    r = evaluate(tr, te, lab, detector="mad", threshold="pot", recenter_window=0, seed=4)
    assert r.schema_id == "hpcopt.detect.evaluation/1" and r.provenance.seed == 4
    assert set(r.provenance.inputs) == {"train", "test", "labels"} and r.payload["event_recall"] == 1.0
    assert "detector" in r.extras and "_extras" not in r.payload
    # the baseline is the library's, on the same series, with the same threshold method
    s = LabelledSeries("test.txt", read_matrix(tr), read_matrix(te), read_labels(lab), None, 60.0)
    assert r.payload["random_baseline"] == random_baseline(s, threshold="pot", seed=4)


def test_fit_task_payload_for_the_registry_and_score_of_a_model_directory(tmp_path):
    from hpcopt.detect.tasks import fit, score

    tr, te, _ = _files(tmp_path)
    model = tmp_path / "v1" / "mad.hpd"
    r = fit(tr, model, detector="mad", threshold="far", rate=0.02, recenter_window=0)
    assert r.artifacts == {"model": str(model)} and r.payload["model_kind"] == "detector"
    assert r.payload["model_meta"]["threshold_method"] == "far"
    assert r.payload["metrics"]["train_alert_rate"] <= 0.02 + 1e-9 and r.payload["metrics"]["n_train"] == 600
    by_file = score(model, te, threshold="fixed").payload
    by_dir = score(model.parent, te, threshold="fixed").payload  # a registered version is such a directory
    assert by_dir["alerts"] == by_file["alerts"] and any(a["start"] <= 105 < a["end"] for a in by_file["alerts"])
    (model.parent / "other.hpd").write_bytes(model.read_bytes())
    with pytest.raises(InputError, match="exactly one saved detector"):
        score(model.parent, te, threshold="fixed")
    with pytest.raises(ConfigError, match="already exists"):
        fit(tr, model, detector="mad", recenter_window=0)  # checked before any work


def test_circular_shift_floor_by_hand():
    a = np.array([1, 0, 0, 0])
    # evenly spaced: every offset of the circle once, np.roll semantics (row i moves to i + k)
    assert circular_shift_floor([a], lambda s: s[0].tolist(), n_shifts=10) == \
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert circular_shift_floor([a], lambda s: int(s[0][2]), n_shifts=2) == [0, 1]  # offsets 0 and 2
    # drawn: draw k shifts each series by default_rng([seed, k]).integers(n), in order
    b = np.arange(7) % 2
    got = circular_shift_floor([a, b], lambda s: [x.tolist() for x in s], n_shifts=3, seed=5)
    for k, shifted in enumerate(got):
        rng = np.random.default_rng([5, k])
        assert shifted == [np.roll(a, rng.integers(4)).tolist(), np.roll(b, rng.integers(7)).tolist()]
    assert circular_shift_floor([np.array([])], len, n_shifts=3) == []


def test_same_rate_floor_keeps_the_rate_not_the_runs():
    a = np.zeros(1000, dtype=int)
    a[100:150] = 1  # one run of 50 alerts: rate 0.05
    rates = same_rate_floor([a], lambda s: float(s[0].mean()), n_draws=20, seed=0)
    assert abs(np.mean(rates) - 0.05) < 0.01
    assert same_rate_floor([np.zeros(10)], lambda s: int(s[0].sum()), n_draws=3) == [0, 0, 0]


def test_inject_anomalies_is_deterministic_and_leaves_its_input():
    from hpcopt.detect.evaluate import inject_anomalies

    rng = np.random.default_rng(0)
    ref, rows = rng.normal(size=(300, 6)), rng.normal(size=(400, 6))
    keep = rows.copy()
    B1, y1 = inject_anomalies(ref, rows, seed=3)
    B2, y2 = inject_anomalies(ref, rows, seed=3)
    assert np.array_equal(B1, B2) and np.array_equal(y1, y2) and np.array_equal(rows, keep)
    changed = (B1 != rows).any(axis=1)
    assert changed.any() and not changed[y1 == 0].any()  # only labelled rows are touched


def test_option_rules_are_the_library_s():
    from hpcopt.detect.config import adapt_params, score_threshold, split_threshold

    assert split_threshold("dspot") == ("pot", "dspot") and split_threshold("far") == ("far", None)
    assert score_threshold("fixed") is None
    assert adapt_params("dspot", 20, 50, True) == {"censored": True, "depth": 20, "max_peaks": 50}
    with pytest.raises(ConfigError, match="dspot only"):
        adapt_params("spot", 20, None)
    with pytest.raises(ConfigError, match="must be fixed, spot or dspot"):
        score_threshold("pot")
