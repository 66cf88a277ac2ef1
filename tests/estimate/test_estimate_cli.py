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


@pytest.fixture(scope="module")
def sacct_trace(tmp_path_factory):
    """The same kind of history as a ``sacct -P -X`` export: real job ids (arrays among them), user names."""
    rng = np.random.default_rng(1)
    n = 400
    user = rng.integers(1, 8, n)
    runtime = np.round(np.exp(3 + user * 0.5 + rng.normal(0, 0.4, n))).astype(int)
    submit = np.round(np.cumsum(rng.exponential(300, n))).astype(int)
    t0 = np.datetime64("2024-03-01T00:00:00")
    lines = ["JobID|JobIDRaw|User|Account|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|TimelimitRaw|State"]
    for i in range(n):
        jid = f"{90000 + i}" if i % 4 else f"{80000 + i}_{i % 7}"
        s0, s1, s2 = (str(t0 + np.timedelta64(int(v), "s")) for v in (submit[i], submit[i], submit[i] + runtime[i]))
        lines.append(f"{jid}|{100000 + i}|user{user[i]:02d}|acct{user[i] % 3}|{s0}|{s1}|{s2}|{runtime[i]}|2|2|"
                     f"{int(np.ceil(runtime[i] * 4 / 60))}|COMPLETED")
    lines.append(f"99999|99999|user01|acct1|{t0 + np.timedelta64(int(submit[-1]), 's')}|Unknown|Unknown|0|0|2|10|PENDING")
    path = tmp_path_factory.mktemp("s") / "acct.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_real_job_ids_and_users_end_to_end(sacct_trace, tmp_path):
    model = tmp_path / "model"
    run("train", "--trace", str(sacct_trace), "--out", str(model), "--n-estimators", "10", "--json")
    pred = json.loads(run("predict", "--model", str(model), "--trace", str(sacct_trace), "--json").stdout)["payload"]
    assert len(pred["predictions"]) == 400  # the pending job is not predicted as if finished
    first = pred["predictions"][0]
    assert first["native_job_id"] == "80000_0" and first["job_id_raw"] == "100000"
    assert first["user_name"].startswith("user") and first["account"].startswith("acct")
    text = run("predict", "--model", str(model), "--trace", str(sacct_trace), "--limit", "3").stdout
    assert "80000_0" in text and "90001" in text and "user" in text
    ex = json.loads(run("explain", "--trace", str(sacct_trace), "--job", "80300_6", "--model", str(model),
                        "--json").stdout)["payload"]
    assert ex["native_job_id"] == "80300_6" and ex["job_id"] == 301
    ex_raw = json.loads(run("explain", "--trace", str(sacct_trace), "--job", "100300", "--model", str(model),
                            "--json").stdout)["payload"]
    assert ex_raw["estimate_s"] == ex["estimate_s"]  # JobIDRaw names the same job
    r = run("explain", "--trace", str(sacct_trace), "--job", "301", "--model", str(model), check=False)
    assert r.returncode == 2 and "no job with id 301" in r.stderr  # a row number is not a Slurm job id
    r = run("explain", "--trace", str(sacct_trace), "--job", "99999", "--model", str(model), check=False)
    assert r.returncode == 2 and "still in the queue" in " ".join(r.stderr.split())


def test_train_never_overwrites_a_users_directory(trace, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    r = run("train", "--trace", str(trace), "--out", str(out), "--n-estimators", "5", check=False)
    assert r.returncode == 64 and "already exists and is not empty; pass --force" in " ".join(r.stderr.split())
    assert (out / "notes.txt").read_text() == "precious" and not (out / "metadata.json").exists()
    r = run("train", "--trace", str(trace), "--out", str(trace), "--n-estimators", "5", check=False)
    assert r.returncode == 64 and "would replace the trace" in r.stderr
    run("train", "--trace", str(trace), "--out", str(out), "--n-estimators", "5", "--force", "--json")
    assert (out / "metadata.json").is_file() and not (out / "notes.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine.")]  # no temporary left behind
    nested = tmp_path / "a" / "b" / "model"  # missing parents are created
    run("train", "--trace", str(trace), "--out", str(nested), "--n-estimators", "5", "--seed", "3", "--json")
    assert (nested / "metadata.json").is_file()


def test_train_predict_explain(trace, tmp_path):
    model = tmp_path / "model"
    out = json.loads(run("train", "--trace", str(trace), "--out", str(model), "--n-estimators", "20", "--json").stdout)["payload"]
    assert out["jobs"] == 700 and "user_tsafrir" in out["features"] and out["random_state"] == 0
    assert "executable" in out["dropped_features"]
    assert (model / "metadata.json").is_file()
    pred = json.loads(run("predict", "--model", str(model), "--trace", str(trace), "--json").stdout)["payload"]
    assert pred["metrics"]["jobs"] == 700 and len(pred["predictions"]) == 700
    p = pred["predictions"][10]
    assert 0 <= p["lower"] <= p["upper"] and p["estimate"] >= 0 and p["actual"] > 0
    assert {"mae", "median_ae", "accuracy", "coverage", "mean_interval_width"} <= set(pred["metrics"])
    assert "advice" in pred["drift"]
    ex = json.loads(run("explain", "--trace", str(trace), "--job", "600", "--json").stdout)["payload"]
    assert ex["job_id"] == 600 and "completed before job 600" in ex["trained_on"]
    assert len(ex["contributions"]) == 8
    total = ex["base_log"] + sum(c["contribution"] for c in ex["contributions"])
    assert abs(total - ex["prediction_log"]) < 1.0  # top 8 of the features carry most of it
    text = run("explain", "--trace", str(trace), "--job", "600", "--model", str(model)).stdout
    assert "contribution" in text and "job 600" in text


def test_bad_input_exits_2_with_one_line(trace, tmp_path):
    r = run("explain", "--trace", str(trace), "--job", "99999", check=False)
    assert r.returncode == 2 and "no job with id 99999" in r.stderr
    r = run("explain", "--trace", str(trace), "--job", "abc", check=False)
    assert r.returncode == 2 and "no job with id abc" in r.stderr
    r = run("explain", "--trace", str(trace), "--job", "3", check=False)
    assert r.returncode == 2 and "completed before job 3" in r.stderr
    r = run("predict", "--model", str(tmp_path), "--trace", str(trace), check=False)
    assert r.returncode == 2 and "not a saved model" in r.stderr
    r = run("train", "--trace", str(tmp_path / "nope.swf"), "--out", str(tmp_path / "m"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_evaluate_gbm_json_names_the_source_of_every_answer(trace):
    out = json.loads(run("evaluate", "--trace", str(trace), "--kind", "gbm", "--json").stdout)["payload"]
    for key in ("jobs", "mae", "median_ae", "accuracy", "underestimation_rate", "coverage", "mean_interval_width"):
        assert key in out
    assert set(out["gbm_sources"]) == {"model", "requested", "tsafrir"}
    assert sum(out["gbm_sources"].values()) == out["jobs"] == 700


def test_train_registers_and_predict_takes_a_model_reference(trace, tmp_path):
    """--register/--alias put the trained model in the store; --model model:NAME@ALIAS finds it,
    and both runs are recorded (the second with the model as its input)."""
    from hpcopt.store import open_store

    out = json.loads(run("train", "--trace", str(trace), "--out", str(tmp_path / "m"), "--n-estimators", "10",
                         "--register", "runtime-test", "--alias", "production", "--json").stdout)
    assert out["schema"] == "estimate.train/1" and out["artifacts"]["model"] == str(tmp_path / "m")
    reg = out["payload"]["registered"]
    assert reg["name"] == "runtime-test" and reg["alias"] == "production"
    pred = json.loads(run("predict", "--model", "model:runtime-test@production", "--trace", str(trace),
                          "--json").stdout)
    assert pred["schema"] == "estimate.predict/1" and pred["payload"]["metrics"]["jobs"] == 700
    store = open_store()
    rec = store.models.get("runtime-test", alias="production")
    assert rec.kind == "estimate.gbm" and rec.meta["data_hash"] == out["payload"]["data_hash"]
    assert rec.run_id == out["provenance"]["run_id"]
    assert store.get_run(pred["provenance"]["run_id"]).input_models == [f"runtime-test:{reg['version']}"]
    n = len(store.list_runs(limit=1000))
    run("predict", "--model", str(tmp_path / "m"), "--trace", str(trace), "--no-record", "--json")
    assert len(store.list_runs(limit=1000)) == n
