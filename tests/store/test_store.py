"""The run store and the model registry, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from hpcopt.core.results import Provenance, Result
from hpcopt.errors import ConfigError, InputError
from hpcopt.store import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        st = open_store(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        st = open_store(url, home=tmp_path)
        with st._engine.begin() as conn:  # each test starts from empty tables
            conn.exec_driver_sql("TRUNCATE runs, artifacts, model_versions, model_aliases")
    yield st
    st.dispose()


def test_record_success_failure_and_lineage(store, tmp_path):
    trace = tmp_path / "t.swf"
    trace.write_text("1 0 0 10 1 -1 -1 1 10 -1 1 1 1 1 1 -1 -1 -1\n")
    with store.record("schedule.simulate", parameters={"order": "sjf"}, inputs={"trace": trace}, seed=7) as run:
        run.set_result(Result("schedule.simulate", 1, {"wait": 1.5, "nan": float("nan")}, Provenance()))
        report = tmp_path / "r.html"
        report.write_text("<html/>")
        run.add_artifact("report", report)
        run.used_model("runtime", 2)
    with pytest.raises(InputError):
        with store.record("detect.fit", parameters={}) as run:
            raise InputError("bad cell", source="x.csv", line=3)
    runs = store.list_runs()
    assert [r.task for r in runs] == ["detect.fit", "schedule.simulate"]
    failed, ok = runs
    assert failed.status == "failed" and failed.error["type"] == "InputError" and "x.csv line 3" in failed.error["message"]
    assert failed.error["traceback"] is None  # an expected error keeps no traceback
    assert ok.status == "succeeded" and ok.seed == 7 and ok.result_schema == "schedule.simulate/1"
    assert ok.result["payload"] == {"wait": 1.5, "nan": None} and ok.input_models == ["runtime:2"]
    assert len(ok.inputs["trace"]) == 64 and ok.artifacts[0]["name"] == "report"
    assert store.get_run(ok.id[:6]).id == ok.id
    assert store.list_runs(status="failed")[0].id == failed.id
    df = store.compare([ok.id, failed.id])
    assert df.loc["result.wait", ok.id[:8]] == 1.5 and df.loc["param.order", ok.id[:8]] == "sjf"
    with pytest.raises(ConfigError):
        store.get_run("zz")
    with pytest.raises(InputError, match="no run with id"):
        store.get_run("abcdef")


def test_export_parquet_round_trip(store, tmp_path):
    for i in range(3):
        with store.record("t", parameters={"i": i}) as run:
            run.set_result({"v": i})
    p = store.export(tmp_path / "out" / "runs.parquet")
    df = pd.read_parquet(p)
    assert sorted(json.loads(x)["i"] for x in df["parameters"]) == [0, 1, 2]
    with pytest.raises(ConfigError, match="--force"):
        store.export(p)


_WRITER = textwrap.dedent("""
    import sys
    from hpcopt.store import open_store
    st = open_store(sys.argv[1], home=sys.argv[2])
    for i in range(int(sys.argv[3])):
        with st.record("w", parameters={"writer": sys.argv[4], "i": i}) as run:
            run.set_result({"i": i})
    v = st.models.register("shared-model", sys.argv[5], kind="test")
    print(v.version)
""")


def test_concurrent_writers_lose_nothing(store, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.json").write_text("{}")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, store.url, str(tmp_path), "25", str(k), str(model)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    runs = store.list_runs(limit=1000)
    assert len(runs) == 75 and all(r.status == "succeeded" for r in runs)
    assert sorted((r.parameters["writer"], r.parameters["i"]) for r in runs) == \
        sorted((str(k), i) for k in range(3) for i in range(25))
    assert sorted(int(o[0]) for o in outs) == [1, 2, 3]  # each registration got its own version
    assert [v.version for v in store.models.list("shared-model")] == [1, 2, 3]


def test_killed_run_is_marked_interrupted_never_half_written(store, tmp_path):
    code = textwrap.dedent("""
        import sys, time
        from hpcopt.store import open_store
        st = open_store(sys.argv[1], home=sys.argv[2])
        with st.record("long", parameters={}) as run:
            print(run.id, flush=True)
            time.sleep(600)
    """)
    p = subprocess.Popen([sys.executable, "-c", code, store.url, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    run_id = p.stdout.readline().strip()
    assert store.get_run(run_id).status == "running"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    r = store.list_runs()[0]  # listing reaps
    assert r.id == run_id and r.status == "interrupted" and r.result is None and r.finished_at is not None


def test_model_registry_versions_aliases_checksums(store, tmp_path):
    src = tmp_path / "model"
    src.mkdir()
    (src / "meta.json").write_text('{"a": 1}')
    (src / "weights.npz").write_bytes(b"PK\x03\x04 data")
    v1 = store.models.register("runtime-gbm", src, kind="estimate.gbm", metrics={"mae": 10.0}, run_id="ab" * 16)
    (src / "meta.json").write_text('{"a": 2}')
    v2 = store.models.register("runtime-gbm", src, kind="estimate.gbm")
    assert (v1.version, v2.version) == (1, 2) and v1.run_id == "ab" * 16 and v1.metrics == {"mae": 10.0}
    store.models.set_alias("runtime-gbm", "production", 1)
    assert store.models.get("runtime-gbm", alias="production").aliases == ("production",)
    p = store.models.path("runtime-gbm", alias="production")
    assert json.loads((p / "meta.json").read_text()) == {"a": 1}
    assert store.models.get("runtime-gbm").version == 2  # newest by default
    (p / "meta.json").write_text('{"a": 3}')  # damage the stored copy
    with pytest.raises(InputError, match="does not match its recorded SHA-256"):
        store.models.path("runtime-gbm", 1)
    (p / "meta.json").unlink()
    with pytest.raises(InputError, match="is missing"):
        store.models.path("runtime-gbm", 1)
    with pytest.raises(InputError, match="no alias 'staging'"):
        store.models.get("runtime-gbm", alias="staging")
    with pytest.raises(InputError, match="no version 9"):
        store.models.get("runtime-gbm", 9)
    with pytest.raises(ConfigError):
        store.models.register("../escape", src, kind="x")
    with pytest.raises(ConfigError):
        store.models.set_alias("runtime-gbm", "1", 1)


def test_pickles_and_symlinks_refused(store, tmp_path):
    import pickle

    src = tmp_path / "p"
    src.mkdir()
    (src / "model.bin").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(InputError, match="is a Python pickle"):
        store.models.register("p", src, kind="x")
    link = tmp_path / "l"
    link.mkdir()
    os.symlink("/etc/passwd", link / "passwd")
    with pytest.raises(InputError, match="symbolic link"):
        store.models.register("l", link, kind="x")


def test_cli_runs_and_models(tmp_path):
    env = {**os.environ, "HPCOPT_HOME": str(tmp_path)}
    st = open_store(home=tmp_path, url=f"sqlite:///{tmp_path / 'store.db'}")
    with st.record("t", parameters={"k": 1}) as run:
        run.set_result({"v": 1})
    src = tmp_path / "m"
    src.mkdir()
    (src / "a.json").write_text("{}")
    st.models.register("m", src, kind="k")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "hpcopt", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    r = cli("runs", "list", "--json")
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert runs[0]["task"] == "t"
    r = cli("runs", "show", runs[0]["id"][:8], "--json")
    assert json.loads(r.stdout)["run"]["result"] == {"v": 1}
    r = cli("runs", "export", "--out", str(tmp_path / "x.parquet"), "--json")
    assert json.loads(r.stdout)["runs"] == 1
    r = cli("models", "alias", "m", "production", "1", "--json")
    assert json.loads(r.stdout)["model"]["aliases"] == ["production"]
    r = cli("runs", "show", "ffff", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["type"] == "InputError"
    r = cli("runs", "list", "--status", "bogus")
    assert r.returncode == 64 and "Traceback" not in r.stderr


def test_light_listing_keeps_artifacts_and_drops_only_the_bodies(tmp_path):
    """list_runs(light=True) -- what the REST listing uses -- is every field but result and error."""
    from hpcopt.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    for i in range(3):
        f = tmp_path / f"a{i}.txt"
        f.write_text(str(i))
        with store.record("t", parameters={"i": i}, seed=i) as run:
            run.add_artifact("a", f)
            run.add_artifact("b", f)
            run.set_result({"value": i})
    full, light = store.list_runs(), store.list_runs(light=True)
    assert [r.id for r in full] == [r.id for r in light]
    for a, b in zip(full, light):
        assert a.result == {"value": a.seed} and b.result is None and b.error is None
        assert a.artifacts == b.artifacts and [x["name"] for x in b.artifacts] == ["a", "b"]
        assert {k: v for k, v in a.to_dict().items() if k not in ("result", "error")} == \
            {k: v for k, v in b.to_dict().items() if k not in ("result", "error")}
