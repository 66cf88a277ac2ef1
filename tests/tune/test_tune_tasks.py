"""The tune tasks called as a library: schemas, provenance, the reference comparison."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from hpcopt.core.tasks import TASKS
from hpcopt.errors import ConfigError, InputError
from hpcopt.tune import tasks

pytest.importorskip("sklearn")
pytest.importorskip("optuna")

HERE = Path(__file__).resolve().parent


def test_every_use_case_is_a_registered_task():
    names = {"tune.run", "tune.ask", "tune.tell", "tune.space", "tune.observers", "tune.replay",
             "tune.compare_strategies", "tune.report", "tune.flags"}
    assert names <= set(TASKS.names())
    assert TASKS.get("tune.replay").schema_id == "tune.replay/1"
    assert TASKS.get("tune.run").parameters()["spec"]["role"] == "input"
    assert TASKS.get("tune.compare_strategies").parameters()["report"]["role"] == "output"


def test_run_compares_the_best_with_the_reference_by_hand(tmp_path):
    # the objective printed is |a - 2| + 1: the reference a = 1 gives 2, the best a = 2 gives 1,
    # so every interleaved pair has the ratio 2 exactly
    spec = tmp_path / "s.toml"
    spec.write_text(textwrap.dedent(f"""
        [study]
        name = "bowl"
        strategy = "grid"
        [parameters]
        a = [1, 2, 3, 4]
        [runner]
        kind = "command"
        command = "{sys.executable} -c 'print(\\"v=\\", abs({{a}} - 2) + 1); print(\\"sum=42\\")'"
        timing = "output"
        pattern = 'v= (\\S+)'
        check = 'sum=(\\d+)'
        reference = {{ a = 1 }}
        warmup = 0
        repeats = 1
    """))
    r = tasks.run(spec, budget=4, storage=":memory:", pairs=3, seed=4)
    out = r.payload
    assert r.schema_id == "tune.run/1" and r.provenance.seed == 4 and len(r.provenance.inputs["spec"]) == 64
    assert out["best"]["config"] == {"a": 2} and out["best"]["value"] == 1.0 and out["best_found_at_trial"] == 2
    v = out["versus_reference"]
    assert v["reference"] == {"a": 1} and v["pairs"] == 3 and v["speedup"] == 2.0 and v["speedup_iqr"] == [2.0, 2.0]
    assert v["output_matches_reference"] is True and out["final_failures"] == 0 and "schema" not in out


def test_replay_is_deterministic_and_hashes_its_cache():
    from hpcopt.data.samples import sample_path

    a = tasks.replay(sample_path("kt-pnpoly-rtx3090"), strategy="ga", budget=25, seed=3)
    b = tasks.replay(sample_path("kt-pnpoly-rtx3090"), strategy="ga", budget=25, seed=3)
    drop = lambda p: {k: v for k, v in p.items() if k != "seconds"}  # noqa: E731
    assert drop(a.payload) == drop(b.payload) and a.provenance.inputs == b.provenance.inputs
    assert a.payload["budget"] == 25 and a.payload["best"] >= a.payload["optimum"] == pytest.approx(8.71424, rel=1e-5)


def test_compare_strategies_slim_payload_full_extras_and_report(tmp_path):
    sys.path.insert(0, str(HERE))
    from test_tune_replay import write_cache

    cache = write_cache(tmp_path / "toy.json")
    page = tmp_path / "out" / "cmp.html"
    r = tasks.compare_strategies([cache], strategies=["random", "grid"], repeats=2, seed=1, report=page)
    space = r.payload["spaces"][0]
    assert "random_curve" not in space and "mean_best_curve" not in space["strategies"]["grid"]
    full = r.extras["comparison"]["spaces"][0]
    assert len(full["random_curve"]) == space["budget"] == len(full["strategies"]["grid"]["mean_best_curve"])
    assert r.artifacts["report"] == str(page) and page.read_text().count("data:image/png;base64,") == 1
    with pytest.raises(ConfigError, match="already exists"):  # checked before any work
        tasks.compare_strategies([cache], strategies=["random"], repeats=1, report=page)


def test_tell_refuses_bad_input_clearly(tmp_path):
    with pytest.raises(ConfigError, match="unknown status 'meh'"):
        tasks.tell("s", 0, status="meh")
    with pytest.raises(ConfigError, match="not both"):
        tasks.tell("s", 0, value=1.0, values=[1.0])
    with pytest.raises(ConfigError, match="give --value"):
        tasks.tell("s", 0)
    with pytest.raises(InputError, match="does not exist"):
        tasks.tell("s", 0, value=1.0, storage=str(tmp_path / "none.db"))
