"""``hpcopt estimate train / predict / explain`` end to end on a small SWF file."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from hpcopt.data import write_swf  # noqa: E402
from hpcopt.data.workload import Workload  # noqa: E402


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "hpcopt", "estimate", *args], capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 700
    user = rng.integers(1, 12, n)
    runtime = np.round(np.exp(3 + user * 0.5 + rng.normal(0, 0.4, n)))
    w = Workload.from_arrays(submit=np.round(np.cumsum(rng.exponential(300, n))), wait=np.zeros(n), runtime=runtime,
                             req_time=np.ceil(runtime * 4 / 60) * 60, req_procs=rng.integers(1, 9, n),
                             alloc_procs=rng.integers(1, 9, n), user=user, group=user % 3 + 1,
                             header={"MaxProcs": "64"})
    path = tmp_path_factory.mktemp("t") / "small.swf"
    write_swf(w, path)
    return path


def test_train_predict_explain(trace, tmp_path):
    model = tmp_path / "model"
    out = json.loads(run("train", "--trace", str(trace), "--out", str(model), "--n-estimators", "20", "--json").stdout)
    assert out["jobs"] == 700 and "user_tsafrir" in out["features"] and out["random_state"] == 0
    assert "executable" in out["dropped_features"]
    assert (model / "metadata.json").is_file()
    pred = json.loads(run("predict", "--model", str(model), "--trace", str(trace), "--json").stdout)
    assert pred["metrics"]["jobs"] == 700 and len(pred["predictions"]) == 700
    p = pred["predictions"][10]
    assert 0 <= p["lower"] <= p["upper"] and p["estimate"] >= 0 and p["actual"] > 0
    assert {"mae", "median_ae", "accuracy", "coverage", "mean_interval_width"} <= set(pred["metrics"])
    assert "advice" in pred["drift"]
    ex = json.loads(run("explain", "--trace", str(trace), "--job", "600", "--json").stdout)
    assert ex["job_id"] == 600 and "completed before job 600" in ex["trained_on"]
    assert len(ex["contributions"]) == 8
    total = ex["base_log"] + sum(c["contribution"] for c in ex["contributions"])
    assert abs(total - ex["prediction_log"]) < 1.0  # top 8 of the features carry most of it
    text = run("explain", "--trace", str(trace), "--job", "600", "--model", str(model)).stdout
    assert "contribution" in text and "job 600" in text


def test_bad_input_exits_2_with_one_line(trace, tmp_path):
    r = run("explain", "--trace", str(trace), "--job", "99999", check=False)
    assert r.returncode == 2 and "no job with id 99999" in r.stderr
    r = run("explain", "--trace", str(trace), "--job", "3", check=False)
    assert r.returncode == 2 and "completed before job 3" in r.stderr
    r = run("predict", "--model", str(tmp_path), "--trace", str(trace), check=False)
    assert r.returncode == 2 and "not a saved model" in r.stderr
    r = run("train", "--trace", str(tmp_path / "nope.swf"), "--out", str(tmp_path / "m"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_evaluate_gbm_json_names_the_source_of_every_answer(trace):
    out = json.loads(run("evaluate", "--trace", str(trace), "--model", "gbm", "--json").stdout)
    for key in ("jobs", "mae", "median_ae", "accuracy", "underestimation_rate", "coverage", "mean_interval_width"):
        assert key in out
    assert set(out["gbm_sources"]) == {"model", "requested", "tsafrir"}
    assert sum(out["gbm_sources"].values()) == out["jobs"] == 700
