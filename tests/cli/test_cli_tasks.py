"""``hpcopt tasks``: every face's use cases listed from the one task registry."""

import json

from typer.testing import CliRunner

from hpcopt.cli import _register, app
from hpcopt.errors import ConfigError

_register()


def test_tasks_lists_every_capability_and_one_task_parameters():
    r = CliRunner().invoke(app, ["tasks", "--json"])
    assert r.exit_code == 0, r.output
    tasks = {t["name"]: t for t in json.loads(r.stdout)["tasks"]}
    assert {"schedule.simulate", "schedule.compare", "trace.info"} <= set(tasks)
    assert tasks["schedule.compare"]["schema"] == "hpcopt.compare/1"
    assert tasks["schedule.compare"]["parameters"]["trace"]["role"] == "input"
    r = CliRunner().invoke(app, ["tasks", "schedule.simulat"])
    assert isinstance(r.exception, ConfigError)  # main() maps it to exit code 64
    assert "did you mean 'schedule.simulate'" in str(r.exception)
