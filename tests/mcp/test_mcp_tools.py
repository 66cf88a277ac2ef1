"""Tasks as tools without MCP: schemas derived from the task, the plain call, recording."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

import mcp_toy_tasks  # registers the toy tasks
from hpcopt.core.results import Result
from hpcopt.core.tasks import TASKS, import_all_tasks, task
from hpcopt.errors import ConfigError, InputError
from hpcopt.mcp.tools import call_tool, tool_name, tool_spec


@pytest.fixture
def store(tmp_path):
    from hpcopt.store import open_store

    return open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)


@pytest.fixture
def numbers(tmp_path):
    f = tmp_path / "numbers.txt"
    f.write_text("1 2 3 6\n")
    return f


def test_tool_name():
    assert tool_name("schedule.compare") == "schedule_compare" and tool_name("a.b_c") == "a_b_c"


def test_input_schema_follows_the_signature():
    t = tool_spec(TASKS.get("testing.mcp_typed"))
    s = t.input_schema
    props = s["properties"]
    assert s["required"] == ["values"] and s["additionalProperties"] is False
    assert props["values"]["type"] == "array" and props["values"]["items"] == {"type": "number"}
    assert props["kind"]["enum"] == ["range", "span"] and props["kind"]["default"] == "range"
    assert props["values"]["description"] == "the numbers, at least one."  # from the docstring
    # an in-process object has no JSON form: not an argument, and the description says so
    assert "helper" not in props and t.hidden == {"helper": "Helper | None"}
    assert "Not settable here (the task's default is used): helper." in t.description
    assert list(props) == ["values", "kind", "record"]  # no register: the task writes no model
    jsonschema.Draft202012Validator.check_schema(s)


def test_roles_describe_paths_and_runner_options():
    t = tool_spec(TASKS.get("testing.mcp_fit"))
    props = t.input_schema["properties"]
    assert props["data"]["type"] == "string" and "SHA-256" in props["data"]["description"]  # str | Path -> string
    assert "artifact" in props["model"]["description"] and "replayed" in props["seed"]["description"]
    assert {"record", "register", "register_alias"} <= set(props)  # writes a model: can register it
    assert "model:NAME" in t.description and "Writes: model" in t.description


def test_output_schema_is_the_result_shape():
    typed = tool_spec(TASKS.get("testing.mcp_typed")).output_schema
    assert typed["properties"]["schema"]["const"] == "testing.mcp_typed/1"
    assert set(typed["required"]) >= {"schema", "payload", "provenance"}
    payload = typed["properties"]["payload"]
    payload = typed["$defs"][payload["$ref"].rsplit("/", 1)[1]] if "$ref" in payload else payload
    assert set(payload["properties"]) == {"low", "high", "kind"}  # the TypedDict the task returns
    echo = tool_spec(TASKS.get("testing.mcp_echo")).output_schema
    assert echo["properties"]["payload"]["type"] == "object"  # a plain dict: an open object
    prov = echo["$defs"]["Provenance"]["properties"]
    assert {"parameters", "inputs", "seed", "versions", "run_id"} <= set(prov)

    @task("testing.mcp_either", seed=None)
    def either(x: int = 1) -> dict | Result:
        """Answer with a payload or with a Result of another schema."""
        return {"x": x} if x else Result("testing.other", 2, {"x": x})

    s = tool_spec(TASKS.get("testing.mcp_either")).output_schema
    assert s["properties"]["schema"]["type"] == "string" and "const" not in s["properties"]["schema"]


def test_call_tool_returns_the_recorded_result(store, numbers):
    out = call_tool("testing.mcp_typed", {"values": [3, 1.5, 2]}, store=store)
    assert out["schema"] == "testing.mcp_typed/1" and out["payload"] == {"low": 1.5, "high": 3.0, "kind": "range"}
    run = store.get_run(out["provenance"]["run_id"])
    assert run.status == "succeeded" and run.result == out  # what the tool answers is what the store holds
    jsonschema.validate(out, tool_spec(TASKS.get("testing.mcp_typed")).output_schema)
    n = len(store.list_runs())
    out = call_tool("testing.mcp_typed", {"values": [1], "record": False}, store=store)
    assert out["provenance"]["run_id"] is None and len(store.list_runs()) == n


def test_call_tool_refuses_bad_arguments(store, numbers):
    with pytest.raises(ValidationError, match="valuez"):
        call_tool("testing.mcp_typed", {"valuez": [1]}, store=store)  # a misspelt argument is not ignored
    with pytest.raises(ValidationError, match="kind"):
        call_tool("testing.mcp_typed", {"values": [1], "kind": "width"}, store=store)
    with pytest.raises(ConfigError, match="must be a non-empty list"):
        call_tool("testing.mcp_typed", {"values": []}, store=store)
    bad = numbers.with_name("bad.txt")
    bad.write_text("1 x 3")
    with pytest.raises(InputError, match=r"bad.txt, value 2: 'x' is not a number"):
        call_tool("testing.mcp_fit", {"data": str(bad), "model": str(numbers.with_name("m"))}, store=store)
    with pytest.raises(ConfigError, match="register_alias needs register"):
        call_tool("testing.mcp_fit", {"data": str(numbers), "model": str(numbers.with_name("m")),
                                      "register_alias": "prod"}, store=store)


def test_call_tool_registers_and_resolves_models(store, numbers, tmp_path):
    out = call_tool("testing.mcp_fit", {"data": str(numbers), "model": str(tmp_path / "m"), "register": "mean",
                                        "register_alias": "production", "seed": 5}, store=store)
    assert out["payload"]["mean"] == 3.0 and out["payload"]["registered"]["version"] == 1
    assert out["provenance"]["seed"] == 5
    pred = call_tool("testing.mcp_predict", {"model": "model:mean@production", "data": str(numbers)}, store=store)
    assert pred["payload"] == {"mean": 3.0, "mae": 1.5}  # |1-3|+|2-3|+|3-3|+|6-3| = 6, over 4
    assert store.get_run(pred["provenance"]["run_id"]).input_models == ["mean:1"]


def test_progress_reaches_the_callback(store):
    seen = []
    out = call_tool("testing.mcp_count", {"n": 3}, store=store, progress=lambda d, t, m: seen.append((d, t, m)))
    assert out["payload"] == {"n": 3, "sum": 6}
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


def test_a_task_that_cannot_be_a_tool_says_why():
    @task("testing.mcp_objonly", seed=None)
    def objonly(helper: mcp_toy_tasks.Helper) -> dict:
        """Needs an object."""
        return {}

    with pytest.raises(ConfigError, match="required parameter 'helper' has the type mcp_toy_tasks.Helper, which has no JSON form"):
        tool_spec(TASKS.get("testing.mcp_objonly"))

    @task("testing.mcp_clash", seed=None)
    def clash(record: bool = False) -> dict:
        """Has a parameter the runner needs."""
        return {}

    with pytest.raises(ConfigError, match="parameter named 'record'"):
        tool_spec(TASKS.get("testing.mcp_clash"))


# the capabilities' tasks and the toys here (other tests' deliberately odd toy tasks are not the point)
_TASKS = sorted({n for n in import_all_tasks() if not n.startswith("testing.")} | set(mcp_toy_tasks.TOY_TASKS))


@pytest.mark.parametrize("name", _TASKS)
def test_every_registered_task_is_a_tool_with_valid_schemas(name):
    """Every capability task (and each toy) maps to a tool with valid JSON schemas."""
    t = tool_spec(TASKS.get(name))
    jsonschema.Draft202012Validator.check_schema(t.input_schema)
    jsonschema.Draft202012Validator.check_schema(t.output_schema)
    required = [p for p, d in TASKS.get(name).parameters().items() if d["required"]]
    assert set(required) <= set(t.input_schema["properties"]) and t.description
    json.dumps(t.input_schema), json.dumps(t.output_schema)
