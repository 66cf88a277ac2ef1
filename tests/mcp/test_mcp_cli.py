"""``hpcopt mcp``: the tool list, and bad options as clear errors (the transports are in test_mcp_transports)."""

from __future__ import annotations

import json

import pytest

import mcp_toy_tasks  # noqa: F401 - registers the toy tasks in this process
from hpcopt.cli import main
from hpcopt.core.tasks import TASKS
from hpcopt.mcp.tools import tool_spec


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_list_json_gives_each_tool_its_schemas(capsys):
    code, out, _ = run(capsys, "mcp", "--list", "--json", "--task", "testing.mcp_typed", "--task", "testing.mcp_fit")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "mcp.tools/1"
    assert [t["name"] for t in doc["tools"]] == ["testing_mcp_typed", "testing_mcp_fit"]
    typed = doc["tools"][0]
    spec = tool_spec(TASKS.get("testing.mcp_typed"))
    assert typed["input_schema"] == spec.input_schema and typed["output_schema"] == spec.output_schema
    assert typed["hidden"] == {"helper": "Helper | None"} and typed["task"] == "testing.mcp_typed"


def test_list_table_and_no_record_default(capsys):
    code, out, _ = run(capsys, "mcp", "--list", "--task", "testing.mcp_echo")
    assert code == 0 and "testing_mcp_echo" in out and "text, record" in out
    code, out, _ = run(capsys, "mcp", "--list", "--json", "--no-record", "--task", "testing.mcp_echo")
    assert json.loads(out)["tools"][0]["input_schema"]["properties"]["record"]["default"] is False


@pytest.mark.parametrize("argv, message", [
    (("mcp", "--transport", "sse"), "--transport must be stdio or http; got 'sse'"),
    (("mcp", "--list", "--task", "testing.mcp_ech"), "did you mean 'testing.mcp_echo'"),
    (("mcp", "--task", "testing.mcp_ech"), "did you mean 'testing.mcp_echo'"),  # before serving anything
])
def test_bad_options_exit_64(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 64 and message in err and "Traceback" not in err
