"""The task contract (core.tasks) and the one way faces run tasks (store.runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcopt.core.results import Result
from hpcopt.core.tasks import TASKS, describe_parameter, task
from hpcopt.errors import ConfigError


@task("testing.toy", inputs=("data",), outputs=("model",), libraries=("numpy",))
def toy(data: str | Path, scale: float = 2.0, model: str | Path | None = None, seed: int = 0,
        progress=None) -> dict:
    """Sum the numbers in a file, times ``scale``; optionally write a one-file model."""
    total = sum(float(x) for x in Path(data).read_text().split()) * scale
    if model is not None:
        Path(model).mkdir(parents=True, exist_ok=True)
        (Path(model) / "model.json").write_text(json.dumps({"total": total}))
    if progress is not None:
        progress(1, 1, "done")
    return {"total": total, "metrics": {"total": total}, "model_kind": "toy", "_extras": {"obj": object()}}


@pytest.fixture
def data(tmp_path):
    f = tmp_path / "numbers.txt"
    f.write_text("1 2 3\n")
    return f


def test_task_returns_result_with_provenance(data):
    r = toy(data, scale=3.0, seed=7)
    assert isinstance(r, Result) and r.schema_id == "testing.toy/1"
    assert r.payload["total"] == 18.0
    p = r.provenance
    assert p.parameters == {"data": str(data), "scale": 3.0, "model": None, "seed": 7}
    assert p.seed == 7 and len(p.inputs["data"]) == 64 and p.finished_at >= p.started_at
    assert "numpy" in p.versions and "hpcopt" in p.versions
    assert "obj" in r.extras and "extras" not in r.to_dict() and "_extras" not in r.payload
    back = Result.from_dict(json.loads(r.to_json()))
    assert back.payload == r.payload and back.provenance.inputs == p.inputs


def test_registry_and_parameters():
    spec = TASKS.get("testing.toy")
    assert spec.schema_id == "testing.toy/1" and spec.summary.startswith("Sum the numbers")
    ps = spec.parameters()
    assert ps["data"]["role"] == "input" and ps["data"]["required"]
    assert ps["model"]["role"] == "output" and ps["seed"]["role"] == "seed" and ps["scale"]["default"] == 2.0
    assert "progress" not in ps
    with pytest.raises(ConfigError, match="did you mean 'testing.toy'"):
        TASKS.get("testing.toi")


def test_describe_parameter_never_serialises_objects():
    class Est:
        def get_params(self):
            return {"a": 1}

    assert describe_parameter(Est()) == {"class": "Est", "params": {"a": 1}}
    assert describe_parameter(object()) == {"class": "object"}
    assert describe_parameter((Path("/x"), 1)) == ["/x", 1]


def test_declared_input_must_be_a_parameter():
    with pytest.raises(TypeError, match="not a parameter"):
        task("testing.bad", inputs=("nope",))(lambda x: {})


def test_run_task_records_and_registers(data, tmp_path):
    from hpcopt.store import open_store
    from hpcopt.store.runner import run_task

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    r = run_task("testing.toy", store=store, register="toy-model", register_alias="staging",
                 data=str(data), model=str(tmp_path / "m"), seed=3)
    run = store.get_run(r.provenance.run_id)
    assert run.status == "succeeded" and run.task == "testing.toy" and run.seed == 3
    assert run.result["payload"]["total"] == 12.0 and run.result_schema == "testing.toy/1"
    assert r.payload["registered"]["version"] == 1
    rec = store.models.get("toy-model", alias="staging")
    assert rec.run_id == run.id and rec.metrics == {"total": 12.0} and rec.kind == "toy"
    # a model reference resolves to the verified directory and is recorded as the run's input
    r2 = run_task("testing.toy", store=store, data=str(data), model="model:toy-model@staging", seed=1)
    assert r2.payload["total"] == 12.0
    assert store.get_run(r2.provenance.run_id).input_models == ["toy-model:1"]
    assert store.get_run(r2.provenance.run_id).inputs["data"] == r2.provenance.inputs["data"]
    # --no-record: nothing is written
    n = len(store.list_runs())
    r3 = run_task("testing.toy", record=False, store=store, data=str(data))
    assert r3.provenance.run_id is None and len(store.list_runs()) == n


def test_run_task_failure_is_recorded(tmp_path):
    from hpcopt.store import open_store
    from hpcopt.store.runner import run_task

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    with pytest.raises(FileNotFoundError):
        run_task("testing.toy", store=store, data=str(tmp_path / "missing.txt"))
    (run,) = store.list_runs()
    assert run.status == "failed" and run.error["type"] == "FileNotFoundError"
    with pytest.raises(ConfigError, match="not a model reference"):
        run_task("testing.toy", store=store, data="x", model="model:bad name")


@task("testing.draws_seed")
def draws_seed(seed: int | None = None) -> dict:
    """Draw a seed when none is given and report it, as tune.run does."""
    return {"random_state": 1234 if seed is None else seed}


def test_a_drawn_seed_is_recorded(tmp_path):
    from hpcopt.store import open_store
    from hpcopt.store.runner import run_task

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    r = run_task("testing.draws_seed", store=store)
    assert r.provenance.seed == 1234 and store.get_run(r.provenance.run_id).seed == 1234
    assert run_task("testing.draws_seed", store=store, seed=5).provenance.seed == 5


def test_a_recorded_run_reads_each_input_once(data, tmp_path, monkeypatch):
    """The run row and the result's provenance share one hash of each input file."""
    import hpcopt.core.provenance as prov
    from hpcopt.store import open_store
    from hpcopt.store.runner import run_task

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    calls = []
    real = prov.file_sha256
    monkeypatch.setattr(prov, "file_sha256", lambda p, *a, **k: calls.append(str(p)) or real(p, *a, **k))
    r = run_task("testing.toy", store=store, data=str(data))
    assert calls.count(str(data)) == 1
    assert store.get_run(r.provenance.run_id).inputs == r.provenance.inputs == {"data": real(data)}
