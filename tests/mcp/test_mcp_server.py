"""The MCP server in memory, through the SDK's own client: tools, progress, errors, resources, prompts."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import jsonschema
import mcp
import pytest

import mcp_toy_tasks
from conftest import TEST_DATA
from hpcopt.core.tasks import TASKS, task
from hpcopt.mcp import build_server, prompts
from hpcopt.mcp.tools import tool_spec


@pytest.fixture
def store(tmp_path):
    from hpcopt.store import open_store

    return open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)


@pytest.fixture
def server(store):
    return build_server(tasks=mcp_toy_tasks.TOY_TASKS, store=store)


@pytest.fixture
def numbers(tmp_path):
    f = tmp_path / "numbers.txt"
    f.write_text("1 2 3 6\n")
    return f


def session(server, body, **client_kw):
    """Run ``await body(client)`` against ``server`` over the in-memory transport."""
    async def main():
        async with mcp.Client(server, **client_kw) as c:
            return await body(c)
    return anyio.run(main)


def test_one_tool_per_task_with_the_derived_schemas(server):
    tools = session(server, lambda c: c.list_tools()).tools
    assert sorted(t.name for t in tools) == sorted(n.replace(".", "_") for n in mcp_toy_tasks.TOY_TASKS)
    for t in tools:
        spec = tool_spec(TASKS.get(t.meta["hpcopt/task"]))
        assert t.input_schema == spec.input_schema and t.output_schema == spec.output_schema
        assert t.description == spec.description and t.meta["hpcopt/schema"] == spec.task.schema_id
    by = {t.name: t for t in tools}
    assert by["testing_mcp_echo"].annotations.read_only_hint is True
    assert by["testing_mcp_fit"].annotations.read_only_hint is False  # writes a model directory


def test_each_tool_call_answers_the_recorded_result(server, store, numbers, tmp_path):
    calls = {
        "testing_mcp_echo": ({"text": "hello"}, {"text": "hello"}),
        "testing_mcp_count": ({"n": 4}, {"n": 4, "sum": 10}),
        "testing_mcp_fit": ({"data": str(numbers), "model": str(tmp_path / "m"), "register": "mean"},
                            None),
        "testing_mcp_predict": ({"model": "model:mean", "data": str(numbers)}, {"mean": 3.0, "mae": 1.5}),
        "testing_mcp_report": ({"data": str(numbers), "report": str(tmp_path / "r.html")}, {"sum": 12.0}),
        "testing_mcp_typed": ({"values": [2, 7], "kind": "span"}, {"low": 2.0, "high": 7.0, "kind": "span"}),
        "testing_mcp_lines": ({"trace": str(TEST_DATA / "lublin_256.swf.gz")}, None),
    }

    async def body(c):
        schemas = {t.name: t.output_schema for t in (await c.list_tools()).tools}
        out = {}
        for name, (args, _) in calls.items():
            r = await c.call_tool(name, args)
            assert not r.is_error, r.content
            jsonschema.validate(r.structured_content, schemas[name])
            assert json.loads(r.content[0].text) == r.structured_content  # the same result as text
            out[name] = r.structured_content
        return out

    out = session(server, body)
    assert set(out) == set(calls)
    for name, (_, payload) in calls.items():
        res = out[name]
        if payload is not None:
            assert res["payload"] == payload
        assert store.get_run(res["provenance"]["run_id"]).result == res
    assert out["testing_mcp_fit"]["payload"]["registered"]["version"] == 1
    assert store.get_run(out["testing_mcp_predict"]["provenance"]["run_id"]).input_models == ["mean:1"]
    assert out["testing_mcp_lines"]["payload"]["jobs"] > 0
    assert out["testing_mcp_report"]["artifacts"] == {"report": str(tmp_path / "r.html")}


@pytest.mark.parametrize("in_thread", [False, True])
def test_progress_notifications(server, monkeypatch, in_thread):
    import hpcopt.mcp.server as srv

    monkeypatch.setattr(srv, "PROGRESS_INTERVAL_S", 0.0)  # every step, not throttled
    seen = []

    async def progress(done, total, message):
        seen.append((done, total, message))

    r = session(server, lambda c: c.call_tool("testing_mcp_count", {"n": 5, "in_thread": in_thread},
                                              progress_callback=progress))
    assert not r.is_error and r.structured_content["payload"]["sum"] == 15
    assert seen == [(float(i), 5.0, f"step {i}") for i in range(1, 6)]


def test_progress_is_throttled_but_the_last_step_arrives(server):
    seen = []

    async def progress(done, total, message):
        seen.append(done)

    r = session(server, lambda c: c.call_tool("testing_mcp_count", {"n": 200}, progress_callback=progress))
    assert not r.is_error
    assert seen[0] == 1.0 and seen[-1] == 200.0 and len(seen) < 200 and seen == sorted(seen)


def test_errors_carry_the_library_message(server, store, numbers, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("4 five")

    async def body(c):
        return [await c.call_tool("testing_mcp_count", {"n": 0}),
                await c.call_tool("testing_mcp_count", {"m": 3}),
                await c.call_tool("testing_mcp_fit", {"data": str(bad), "model": str(tmp_path / "m")}),
                await c.call_tool("testing_mcp_lines", {"trace": str(tmp_path / "missing.swf.gz")}),
                await c.call_tool("testing_mcp_predict", {"model": "model:nope", "data": str(numbers)}),
                await c.call_tool("no_such_tool", {})]

    rng, extra, data, missing, model, unknown = session(server, body)
    assert all(r.is_error for r in (rng, extra, data, missing, model, unknown))
    assert "must be an int in the range [1, 1000]; got 0 instead" in rng.content[0].text
    assert "m\n  Extra inputs are not permitted" in extra.content[0].text
    assert "bad.txt, value 2: 'five' is not a number (the file holds numbers" in data.content[0].text
    assert f"{tmp_path / 'missing.swf.gz'}: No such file or directory" in missing.content[0].text
    assert "nope" in model.content[0].text and "Unknown tool: no_such_tool" in unknown.content[0].text
    failed = store.list_runs(status="failed")
    assert {r.task for r in failed} >= {"testing.mcp_count", "testing.mcp_fit"}  # failures are recorded too


def test_record_false_leaves_no_run_and_no_record_server_default(store):
    s = build_server(tasks=["testing.mcp_echo"], store=store, record=False)

    async def body(c):
        (t,) = (await c.list_tools()).tools
        assert t.input_schema["properties"]["record"]["default"] is False
        a = await c.call_tool("testing_mcp_echo", {})
        b = await c.call_tool("testing_mcp_echo", {"record": True})
        return a, b

    a, b = session(s, body)
    assert a.structured_content["provenance"]["run_id"] is None
    assert [r.id for r in store.list_runs()] == [b.structured_content["provenance"]["run_id"]]


def test_resources_runs_models_traces_reports(server, store, numbers, tmp_path):
    async def body(c):
        fit = (await c.call_tool("testing_mcp_fit", {"data": str(numbers), "model": str(tmp_path / "m"),
                                                     "register": "mean", "register_alias": "production"}))
        rep = await c.call_tool("testing_mcp_report", {"data": str(numbers), "report": str(tmp_path / "r.html"),
                                                       "title": "sums"})
        lin = await c.call_tool("testing_mcp_lines", {"trace": str(TEST_DATA / "lublin_256.swf.gz")})
        fit_id, rep_id, lin_id = (r.structured_content["provenance"]["run_id"] for r in (fit, rep, lin))

        async def read(uri):
            (content,) = (await c.read_resource(uri)).contents
            return content

        listed = {r.uri for r in (await c.list_resources()).resources}
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        runs = json.loads((await read("hpcopt://runs")).text)
        run = json.loads((await read(f"hpcopt://runs/{fit_id}")).text)
        models = json.loads((await read("hpcopt://models")).text)
        one = json.loads((await read("hpcopt://models/mean/1")).text)
        traces = json.loads((await read("hpcopt://traces")).text)
        lublin = json.loads((await read("hpcopt://traces/lublin_256.swf.gz")).text)
        reports = json.loads((await read("hpcopt://reports")).text)
        report = await read(f"hpcopt://reports/{rep_id}")
        art = await read(f"hpcopt://runs/{rep_id}/artifacts/report")
        return (listed, templates, runs, run, models, one, traces, lublin, reports, report, art,
                fit_id, rep_id, lin_id)

    (listed, templates, runs, run, models, one, traces, lublin, reports, report, art,
     fit_id, rep_id, lin_id) = session(server, body)
    assert listed == {"hpcopt://runs", "hpcopt://models", "hpcopt://traces", "hpcopt://reports"}
    assert {"hpcopt://runs/{run_id}", "hpcopt://models/{name}/{version}", "hpcopt://reports/{run_id}"} <= templates
    assert [r["id"] for r in runs["runs"]] == [lin_id, rep_id, fit_id]  # newest first
    assert run["id"] == fit_id and run["status"] == "succeeded" and run["result"]["payload"]["mean"] == 3.0
    (m,) = models["models"]
    assert (m["name"], m["version"], m["aliases"], m["run_id"], m["reference"]) == \
        ("mean", 1, ["production"], fit_id, "model:mean:1")
    assert one["metrics"] == {"mean": 3.0} and one["run_uri"] == f"hpcopt://runs/{fit_id}"
    names = {t["name"]: t for t in traces["traces"]}
    assert names["hpc2n"]["bundled"] and Path(names["hpc2n"]["path"]).is_file()  # the bundled sample
    assert lublin["runs"] == [lin_id] and len(lublin["sha256"]) == 64 and lublin["exists"]
    assert [r["run_id"] for r in reports["reports"]] == [rep_id]
    assert report.mime_type == "text/html" and "<title>sums</title>" in report.text and "sum = 12" in report.text
    assert art.text == report.text


def test_resource_errors_are_clear(server, store, tmp_path, numbers):
    async def body(c):
        errs = []
        for uri in ("hpcopt://runs/abcdef", "hpcopt://models/none", "hpcopt://traces/hpc2m",
                    "hpcopt://reports/zz"):
            with pytest.raises(mcp.MCPError) as e:
                await c.read_resource(uri)
            errs.append(str(e.value))
        r = await c.call_tool("testing_mcp_echo", {})
        rid = r.structured_content["provenance"]["run_id"]
        with pytest.raises(mcp.MCPError) as e:
            await c.read_resource(f"hpcopt://reports/{rid}")
        errs.append(str(e.value))
        return errs

    run, model, trace, bad_id, no_report = session(server, body)
    assert "no run with id 'abcdef'" in run and "no model named 'none'" in model
    assert "did you mean 'hpc2n'" in trace and "a run id is 4 to 32 hexadecimal characters" in bad_id
    assert "wrote no report" in no_report


def test_an_artifact_changed_since_the_run_is_refused(server, store, numbers, tmp_path):
    out = tmp_path / "r.html"

    async def body(c):
        r = await c.call_tool("testing_mcp_report", {"data": str(numbers), "report": str(out)})
        out.write_text("<html>edited</html>")
        with pytest.raises(mcp.MCPError, match="changed since the run wrote it"):
            await c.read_resource(f"hpcopt://reports/{r.structured_content['provenance']['run_id']}")

    session(server, body)


def test_prompts_name_the_tools_that_exist(server):
    async def body(c):
        listed = (await c.list_prompts()).prompts
        got = await c.get_prompt("policy_change", {"trace": "site.swf", "proposed_policy": "sjf+easy"})
        return listed, got

    listed, got = session(server, body)
    assert [p.name for p in listed] == ["queue_slow", "policy_change", "node_anomaly", "tune_kernel"]
    args = {a.name: a.required for a in next(p for p in listed if p.name == "policy_change").arguments}
    assert args == {"trace": True, "proposed_policy": True, "current_policy": False}
    text = got.messages[0].content.text
    assert "from the current (default) policy to sjf+easy" in text and "site.swf" in text
    assert "(no schedule tool is available on this server yet" in text  # only toy tasks are served here


def test_prompt_text_lists_the_capability_tools():
    tools = {"schedule_compare": "Compare policies.", "schedule_simulate": "Replay a trace.",
             "detect_evaluate": "Detect."}
    text = prompts.queue_slow(tools, trace="t.swf", policies="fcfs,sjf+easy")
    assert "- schedule_compare: Compare policies.\n- schedule_simulate: Replay a trace." in text
    assert "detect_evaluate" not in text and "fcfs,sjf+easy" in text
    assert [p.name for p in prompts.available(["schedule.compare"])] == \
        ["queue_slow", "policy_change", "node_anomaly", "tune_kernel"]
    assert prompts.available(["resilience.advise"])[-1].name == "checkpoint_interval"


def test_a_task_that_cannot_be_a_tool_is_left_out(store):
    @task("testing.mcp_needs_object", seed=None)
    def needs_object(helper: mcp_toy_tasks.Helper) -> dict:
        """Needs an in-process object."""
        return {}

    s = build_server(tasks=["testing.mcp_needs_object", "testing.mcp_echo"], store=store)
    assert list(s.hpcopt_skipped) == ["testing.mcp_needs_object"]
    assert [t.name for t in session(s, lambda c: c.list_tools()).tools] == ["testing_mcp_echo"]


def test_a_cancelled_call_stops_the_task_at_its_next_progress_report(server, store):
    async def body(c):
        with anyio.move_on_after(0.6):  # the client gives up: the SDK sends notifications/cancelled
            await c.call_tool("testing_mcp_count", {"n": 200, "delay_s": 0.02})
        for _ in range(200):  # the task notices at its next report and its run ends
            runs = store.list_runs(task="testing.mcp_count")
            if runs and runs[0].status != "running":
                return runs[0]
            await anyio.sleep(0.05)
        raise AssertionError("the cancelled task's run never ended")

    run = session(server, body)
    assert run.status == "failed" and run.error["type"] == "CallCancelled"
    assert run.error["message"] == "the MCP client cancelled this tool call"


def test_an_argument_check_refuses_before_the_task_runs(store, numbers, tmp_path):
    from hpcopt.errors import ConfigError

    root = tmp_path / "allowed"
    root.mkdir()
    seen = []

    def under_root(spec, arguments):
        seen.append((spec.name, sorted(arguments)))
        for name in (*spec.inputs, *spec.outputs):
            v = arguments.get(name)
            if isinstance(v, str) and not v.startswith("model:") and not Path(v).resolve().is_relative_to(root):
                raise ConfigError(f"the {name!r} path {v} is outside the data root {root}")

    s = build_server(tasks=["testing.mcp_report"], store=store, check_arguments=under_root)
    inside = root / "n.txt"
    inside.write_text("4 5")

    async def body(c):
        return (await c.call_tool("testing_mcp_report", {"data": str(numbers), "report": str(root / "r.html")}),
                await c.call_tool("testing_mcp_report", {"data": str(inside), "report": str(root / "r.html")}))

    refused, ran = session(s, body)
    assert refused.is_error and f"the 'data' path {numbers} is outside the data root" in refused.content[0].text
    assert not ran.is_error and ran.structured_content["payload"]["sum"] == 9.0
    assert seen[0] == ("testing.mcp_report", ["data", "record", "report", "title"])
    assert [r.task for r in store.list_runs()] == ["testing.mcp_report"]  # the refused call never ran
