"""A scripted agent session over MCP, step by step, on the capabilities' real tasks.

Load a trace, compare policies, train a runtime model, re-simulate with it, fetch the
report: each step's result is checked, and so is the thread that ties them (the model's
lineage to the training run, the simulation's to the model, the report to the comparison).
It runs once ``schedule.compare``, ``schedule.simulate`` and ``estimate.train`` are
registered and ``schedule.simulate`` takes a runtime model (an input parameter whose name
holds ``model``); until then it is skipped, naming what is missing.
"""

from __future__ import annotations

import json

import anyio
import mcp
import pytest

from hpcopt.core.tasks import TASKS, import_all_tasks
from hpcopt.mcp import build_server

NEEDED = ("schedule.compare", "schedule.simulate", "estimate.train")


def _model_parameter() -> str | None:
    spec = TASKS.get("schedule.simulate")
    return next((p for p in spec.inputs if "model" in p), None)


def _missing() -> str | None:
    names = import_all_tasks()
    absent = [n for n in NEEDED if n not in names]
    if absent:
        return f"the scenario needs the task(s) {', '.join(absent)}, not registered yet"
    if _model_parameter() is None:
        return ("schedule.simulate takes no runtime model yet (no input parameter whose name holds 'model', "
                "e.g. runtime_model, to pass model:NAME to)")
    return None


@pytest.mark.slow
def test_agent_scenario(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from hpcopt.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    server = build_server(store=store)
    model_param = _model_parameter()
    report_path = tmp_path / "compare.html"

    async def agent():
        async with mcp.Client(server) as c:
            def ok(r):
                assert not r.is_error, r.content[0].text
                return r.structured_content

            async def read(uri):
                return (await c.read_resource(uri)).contents[0]

            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"schedule_compare", "schedule_simulate", "estimate_train"} <= tools

            # 1. load a trace: the bundled sample the traces resource lists
            traces = json.loads((await read("hpcopt://traces")).text)["traces"]
            trace = next(t["path"] for t in traces if t["name"] == "hpc2n")
            if "trace_info" in tools:
                info = ok(await c.call_tool("trace_info", {"trace": trace}))
                assert info["provenance"]["inputs"]["trace"] and info["payload"]

            # 2. compare two policies, with the HTML report
            policies = ["fcfs", "fcfs+easy"]
            cmp_ = ok(await c.call_tool("schedule_compare", {"trace": trace, "policies": policies,
                                                             "report": str(report_path)}))
            rows = {r["policy"]: r for r in cmp_["payload"]["policies"]}
            assert list(rows) == policies
            assert all(r["avg_wait"] >= 0 and 0 < r["utilization"] <= 1 for r in rows.values())
            # the comparison's row is the simulation of that policy: one engine behind both tools
            sim = ok(await c.call_tool("schedule_simulate", {"trace": trace, "order": "fcfs", "backfill": "easy"}))
            assert sim["payload"]["avg_wait"] == pytest.approx(rows["fcfs+easy"]["avg_wait"])

            # 3. train a runtime model and register it
            trained = ok(await c.call_tool("estimate_train", {"trace": trace, "model": str(tmp_path / "rt"),
                                                              "register": "runtime", "seed": 0}))
            reg = trained["payload"]["registered"]
            assert (reg["name"], reg["version"]) == ("runtime", 1)
            version = json.loads((await read("hpcopt://models/runtime/1")).text)
            assert version["run_id"] == trained["provenance"]["run_id"]

            # 4. re-simulate with the trained model
            resim = ok(await c.call_tool("schedule_simulate", {"trace": trace, "order": "sjf", "backfill": "easy",
                                                               model_param: "model:runtime"}))
            run = json.loads((await read(f"hpcopt://runs/{resim['provenance']['run_id']}")).text)
            assert run["input_models"] == ["runtime:1"] and run["status"] == "succeeded"
            assert resim["payload"]["avg_wait"] >= 0

            # 5. fetch the comparison's report
            rep = await read(f"hpcopt://reports/{cmp_['provenance']['run_id']}")
            assert rep.mime_type == "text/html" and "fcfs+easy" in rep.text

    anyio.run(agent)
