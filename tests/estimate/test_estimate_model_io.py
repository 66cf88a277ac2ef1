"""Saving and loading GBMEstimator: round trip, metadata, wrong versions, missing features."""

import json

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from hpcopt.data.workload import Workload  # noqa: E402
from hpcopt.errors import InputError  # noqa: E402
from hpcopt.estimate.gbm import GBMEstimator  # noqa: E402
from hpcopt.estimate.model_io import load_model, metadata_digest, read_metadata  # noqa: E402


def workload(n=600, seed=0, with_names=True, requests=True):
    rng = np.random.default_rng(seed)
    user = rng.integers(1, 15, n)
    runtime = np.round(np.exp(4 + user * 0.4 + rng.normal(0, 0.5, n)))
    req = np.ceil(runtime * 3 / 60) * 60 if requests else np.full(n, -1.0)
    w = Workload.from_arrays(source="synthetic", submit=np.cumsum(rng.exponential(500, n)), wait=np.zeros(n),
                             runtime=runtime, req_time=req, req_procs=rng.integers(1, 9, n), user=user)
    if with_names:
        w.jobs["queue_name"] = np.where(user % 3 == 0, "long", "short")
    return w


@pytest.fixture(scope="module")
def fitted():
    return GBMEstimator(n_estimators=20, min_train_jobs=100, random_state=4).fit(workload())


def test_round_trip_gives_the_same_predictions_and_metadata(fitted, tmp_path):
    w = workload(300, seed=1)
    fitted.save(tmp_path / "m")
    loaded = GBMEstimator.load(tmp_path / "m")
    p1, i1 = fitted.predict_interval(w)
    p2, i2 = loaded.predict_interval(w)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(i1, i2)
    e1, e2 = fitted.explain(w), loaded.explain(w)
    np.testing.assert_allclose(e1.contributions.to_numpy(), e2.contributions.to_numpy())
    assert loaded.get_params() == fitted.get_params()
    meta = read_metadata(tmp_path / "m")
    assert meta["features"] == fitted.feature_names_ and "queue_name" in meta["features"]
    assert meta["vocab"]["queue_name"] == {"long": 0, "short": 1} or meta["vocab"]["queue_name"] == {"short": 0, "long": 1}
    assert meta["data_hash"].startswith("sha256:") and len(meta["data_hash"]) == 71
    assert meta["training_window"]["jobs"] == 600
    assert set(meta["versions"]) >= {"lightgbm", "numpy", "python", "hpcopt"}
    assert meta["metrics"]["calibration_jobs"] == 120
    assert loaded.drift_check(w)["training_log_mae"] == pytest.approx(fitted.training_error_)


def test_string_codes_follow_the_saved_vocabulary(fitted, tmp_path):
    """On a trace where queue names first appear in the other order, codes still match."""
    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    w = workload(300, seed=2)
    X = loaded.features(w)
    names = w.jobs["queue_name"].to_numpy()[X.index.to_numpy()]
    codes = X["queue_name"].to_numpy()
    for name in ("long", "short"):
        assert (codes[names == name] == loaded.vocab_["queue_name"][name]).all()


def test_a_different_lightgbm_major_version_is_named(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    meta["versions"]["lightgbm"] = "3.3.5"
    meta["digest"] = metadata_digest(meta)  # an edit that keeps the metadata consistent
    (tmp_path / "m" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"saved with LightGBM 3\.3\.5; this is LightGBM 4\."):
        load_model(tmp_path / "m")


def test_a_trace_missing_the_models_features_is_named(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    bare = workload(300, seed=3, with_names=False, requests=False)
    with pytest.raises(InputError, match="lacks features the model was trained with: log_req_time, queue_name"):
        loaded.predict(bare)
    est = loaded.predict(bare, allow_missing=True)
    assert np.isfinite(est).all() and loaded.missing_features_[:2] == ["log_req_time", "queue_name"]


def test_not_a_model_directory(tmp_path):
    with pytest.raises(InputError, match="not a saved model"):
        load_model(tmp_path)
    (tmp_path / "metadata.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(tmp_path)


def test_a_damaged_booster_file(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    (tmp_path / "m" / "upper.txt").unlink()
    with pytest.raises(InputError, match="model file upper.txt is missing"):
        load_model(tmp_path / "m")


def test_a_model_trained_online_can_be_saved(tmp_path):
    from hpcopt.estimate import replay_trace

    w = workload(900, seed=5)
    g = GBMEstimator(n_estimators=20, min_train_jobs=100, retrain_every=300, early_stopping=True)
    replay_trace(w, g)
    g.save(tmp_path / "online")
    loaded = load_model(tmp_path / "online")
    meta = read_metadata(tmp_path / "online")
    assert meta["training_window"]["jobs"] == g.n_train_ and meta["data_hash"] == g.data_hash_
    np.testing.assert_array_equal(loaded.predict(w), g.predict(w))
