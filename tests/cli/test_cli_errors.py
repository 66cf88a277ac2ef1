"""Exit codes and the JSON error shape of the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "hpcopt", *args], capture_output=True, text=True, timeout=120)


def test_version():
    from hpcopt import __version__

    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"hpcopt {__version__}"


def test_no_command_shows_help_and_succeeds():
    r = run()
    assert r.returncode == 0 and "Usage" in r.stderr + r.stdout


@pytest.mark.parametrize("as_json", [False, True])
def test_data_error_exit_2(tmp_path, as_json):
    bad = tmp_path / "t.swf"
    bad.write_text("1 0 0 10 abc 1 1 1 10 1 1 1 1 1 1 1 1 1\n")
    r = run("simulate", "--trace", str(bad), *(["--json"] if as_json else []))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    if as_json:
        err = json.loads(r.stdout)["error"]
        assert err["schema"] == "error/1" and err["type"] == "InputError" and err["exit_code"] == 2
        assert err["source"] == str(bad) and err["line"] == 1 and "field 5" in err["field"]
    else:
        assert r.stderr.startswith("error:") and "line 1" in r.stderr


@pytest.mark.parametrize("args", [["simulate", "--bogus"], ["simulate", "--procs", "abc", "--trace", "x"],
                                  ["no-such-command"]])
def test_usage_error_exit_64(args):
    r = run(*args)
    assert r.returncode == 64 and "Traceback" not in r.stderr
    r = run(*args, "--json")
    assert r.returncode == 64
    err = json.loads(r.stdout)["error"]
    assert err["type"] == "UsageError" and err["exit_code"] == 64 and err["message"]


def test_config_error_exit_64(tmp_path):
    r = run("simulate", "--trace", "tests/data/lublin_256.swf.gz", "--order", "nope", "--json")
    assert r.returncode == 64
    assert json.loads(r.stdout)["error"]["type"] == "ConfigError"
