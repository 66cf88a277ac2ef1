import json
import sys
import textwrap
from pathlib import Path

import pytest

from hpcopt.cli import main

# these tests need the 'tune' extra: pip install -e '.[test,tune]'
pytest.importorskip("sklearn")
pytest.importorskip("optuna")

HERE = Path(__file__).resolve().parent


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def write_spec(tmp_path, body):
    p = tmp_path / "spec.toml"
    p.write_text(textwrap.dedent(body))
    return p


def test_space_of_bundled_example(capsys):
    code, out, _ = run_cli(["tune", "space", "matmul", "--json"], capsys)
    rep = json.loads(out)["payload"]
    assert code == 0 and rep["cartesian_size"] == 4096 and rep["valid"] == 3456


def test_unknown_parameter_in_constraint_is_one_line_exit_2(tmp_path, capsys):
    spec = write_spec(tmp_path, """
        constraints = ["tile * blocks <= 64"]
        [parameters]
        tile = [1, 2, 4]
        [runner]
        kind = "command"
        command = "true"
    """)
    code, out, err = run_cli(["tune", "space", str(spec)], capsys)
    assert code == 2 and out == ""
    assert "spec.toml" in err and "unknown parameter 'blocks'" in err and len(err.strip().splitlines()) == 1


def test_empty_space_is_refused(tmp_path, capsys):
    spec = write_spec(tmp_path, """
        constraints = ["tile > 100"]
        [parameters]
        tile = [1, 2, 4]
        [runner]
        kind = "command"
        command = "true"
    """)
    code, _, err = run_cli(["tune", "space", str(spec)], capsys)
    assert code == 2 and "empty space" in err
    spec.write_text('[runner]\nkind = "command"\ncommand = "true"\n')
    code, _, err = run_cli(["tune", "space", str(spec)], capsys)
    assert code == 2 and "no parameters" in err


def test_kernel_that_never_compiles_keeps_the_study(tmp_path, capsys):
    (tmp_path / "k.c").write_text("int main(void) { return oops; }\n")
    spec = write_spec(tmp_path, """
        [parameters]
        U = [1, 2, 4]
        [runner]
        kind = "c"
        source = "k.c"
        repeats = 1
    """)
    db = tmp_path / "s.db"
    code, out, _ = run_cli(["tune", "run", str(spec), "--storage", str(db), "--budget", "3", "--json"], capsys)
    err = json.loads(out)["error"]
    assert code == 2 and err["exit_code"] == 2 and "no configuration gave a valid result" in err["message"]
    assert "compile_error" in err["message"] and err["source"] == str(spec)
    assert f"rerun with --study spec --storage {db} --retry-failed after fixing the kernel" in err["hint"]
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--json"], capsys)
    rep = json.loads(out)["payload"]
    assert code == 0 and rep["trials"] == 3 and rep["status_counts"] == {"compile_error": 3}


KERNEL = """
#include <stdio.h>
int main(void) {
    volatile double s = 0; for (long i = 0; i < 20000L * U; i++) s += 1.0;
    printf("time_s=%.9f\\n", 1e-3 * (U == 2 ? 1.0 : 2.0 + U)); return 0;
}
"""


def test_retry_failed_measures_the_fixed_kernel_again(tmp_path, capsys):
    """The resume trap: a kernel that does not compile, fixed, then the same --study."""
    src = tmp_path / "k.c"
    src.write_text(KERNEL.replace("volatile double s = 0;", "volatile double s = 0 oops;"))
    spec = write_spec(tmp_path, """
        [study]
        name = "fix"
        strategy = "random"
        [parameters]
        U = [1, 2, 4, 8]
        [runner]
        kind = "c"
        source = "k.c"
        timing = "output"
        pattern = 'time_s=(\\S+)'
        warmup = 0
        repeats = 1
    """)
    db = tmp_path / "s.db"
    args = ["tune", "run", str(spec), "--storage", str(db), "--json"]
    code, out, _ = run_cli(args + ["--budget", "2"], capsys)
    assert code == 2 and "--study fix" in json.loads(out)["error"]["hint"]
    assert "runner changed" not in json.loads(out)["error"]["hint"]
    src.write_text(KERNEL)  # fixed
    # a plain rerun keeps the failures (final) and says what to do
    code, out, _ = run_cli(args + ["--budget", "2"], capsys)
    err = json.loads(out)["error"]
    assert code == 2 and "0 measured in this run" in err["message"] and "--retry-failed" in err["hint"]
    assert "the runner changed since the study was created" in err["hint"]
    # --retry-failed measures the 2 failed configurations again first, then 1 new one (budget 3)
    code, out, _ = run_cli(args + ["--budget", "3", "--retry-failed"], capsys)
    rep = json.loads(out)["payload"]
    assert code == 0, out
    assert rep["retried_failures"] == 2 and rep["superseded_failures"] == 2 and rep["measured"] == 3
    assert rep["trials"] == 3 and rep["configurations"] == 3 and rep["status_counts"] == {"ok": 3}
    assert rep["runner_changed"] is True
    # the failed trials stay in the history as what they were; numbers are never reused
    from hpcopt.tune.storage import Storage

    hist = Storage(str(db)).history("fix")
    assert [t.state for t in hist] == ["retried", "retried", "done", "done", "done"]
    assert {t.result.status.value for t in hist[:2]} == {"compile_error"}
    assert {t.key for t in hist[:2]} < {t.key for t in hist[2:]}
    # resuming again measures nothing more: the budget is met
    code, out, _ = run_cli(args + ["--budget", "3", "--retry-failed"], capsys)
    rep = json.loads(out)["payload"]
    assert code == 0 and rep["measured"] == 0 and rep["retried_failures"] == 0 and rep["trials"] == 3
    html = tmp_path / "r.html"
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--report", str(html), "--json"], capsys)
    assert code == 0 and json.loads(out)["payload"]["superseded_failures"] == 2 and "Failures measured again (2)" in html.read_text()


def test_run_command_spec_resume_and_html_report(tmp_path, capsys):
    spec = write_spec(tmp_path, f"""
        constraints = ["a * b <= 12"]
        [study]
        name = "toy"
        strategy = "bo"
        [parameters]
        a = {{ type = "int", low = 1, high = 6 }}
        b = [1, 2, 3, 4]
        [runner]
        kind = "command"
        command = "{sys.executable} -c 'print(\\"v=\\", ({{a}} - 3) ** 2 + ({{b}} - 2) ** 2 + 1)'"
        timing = "output"
        pattern = 'v= (\\S+)'
        warmup = 0
        repeats = 1
    """)
    db = tmp_path / "s.db"
    code, out, _ = run_cli(["tune", "run", str(spec), "--storage", str(db), "--budget", "6", "--json"], capsys)
    first = json.loads(out)["payload"]
    assert code == 0 and first["trials"] == 6 and first["random_state"] == 0
    code, out, _ = run_cli(["tune", "run", str(spec), "--storage", str(db), "--budget", "15", "--json"], capsys)
    second = json.loads(out)["payload"]
    assert second["resumed_trials"] == 6 and second["trials"] == 15
    assert second["best"]["value"] <= first["best"]["value"]
    html = tmp_path / "out" / "r.html"  # a missing folder is created
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--report", str(html), "--json"], capsys)
    assert code == 0 and html.read_text().count("data:image/png;base64,") >= 2
    assert "cost_model" in json.loads(out)["payload"]
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--report", str(html), "--json"], capsys)
    assert code == 64 and "--force" in json.loads(out)["error"]["message"]
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--report", str(db), "--force", "--json"], capsys)
    assert code == 64 and "also an input" in json.loads(out)["error"]["message"] and db.stat().st_size > 1000
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--report", str(html), "--force"], capsys)
    assert code == 0 and "wrote" in out


def test_replay_and_compare_strategies_json(tmp_path, capsys):
    sys.path.insert(0, str(HERE))
    from test_tune_replay import write_cache

    cache = write_cache(tmp_path / "toy.json")
    code, out, _ = run_cli(["tune", "replay", "--cache", str(cache), "--strategy", "greedy", "--json"], capsys)
    full = json.loads(out)
    rep = full["payload"]
    assert code == 0 and full["schema"] == "tune.replay/1" and full["provenance"]["seed"] == 0
    assert rep["optimum"] == pytest.approx(1.0) and rep["best"] >= rep["optimum"]
    # the run is recorded (with its cache's hash) unless --no-record
    from hpcopt.store import open_store

    run = open_store().get_run(full["provenance"]["run_id"])
    assert run.task == "tune.replay" and run.status == "succeeded" and run.result["payload"]["best"] == rep["best"]
    assert len(full["provenance"]["inputs"]["cache"]) == 64
    code, out, _ = run_cli(["tune", "replay", "--cache", str(cache), "--strategy", "greedy", "--json",
                            "--no-record"], capsys)
    again = json.loads(out)
    assert again["provenance"]["run_id"] is None and again["payload"]["best"] == rep["best"]
    page = tmp_path / "cmp.html"
    code, out, _ = run_cli(["tune", "compare-strategies", "--cache", str(cache), "--strategies", "random,ga",
                            "--repeats", "2", "--report", str(page), "--json"], capsys)
    rep = json.loads(out)["payload"]
    assert code == 0 and rep["default_strategy"] == "bo" and set(rep["scores"]) == {"random", "ga"}
    text = page.read_text()
    assert rep["report"] == str(page) and text.count("data:image/png;base64,") == 1 and "<td>ga</td>" in text
    code, out, _ = run_cli(["tune", "compare-strategies", "--cache", str(cache), "--report", str(cache),
                            "--force", "--json"], capsys)
    assert code == 64 and "also an input" in out
    code, _, err = run_cli(["tune", "compare-strategies", "--cache", str(cache), "--strategies", "best"], capsys)
    assert code == 64 and "unknown strategy 'best'" in err
    code, _, err = run_cli(["tune", "replay", "--cache", str(tmp_path / "none.json")], capsys)
    assert code == 2 and "none.json" in err


def test_flags_json_keys_on_a_small_kernel(tmp_path, capsys):
    src = tmp_path / "k.c"
    src.write_text(textwrap.dedent("""
        #include <stdio.h>
        int main(void) {
            double s = 0; for (int i = 1; i < 2000000; i++) s += 1.0 / i;
            printf("sum=%.12f\\n", s); return 0;
        }
    """))
    code, out, _ = run_cli(["tune", "flags", "--source", str(src), "--budget", "4", "--repeats", "1", "--timing", "wall",
                            "--final-repeats", "3", "--json"], capsys)
    rep = json.loads(out)["payload"]
    assert code == 0
    for k in ("baseline_flags", "baseline_seconds", "best_flags", "best_seconds", "speedup", "evaluations"):
        assert k in rep
    assert "-O3" in rep["baseline_flags"] and rep["evaluations"] == 4 and rep["speedup"] >= 1.0
    assert rep["fast_math_allowed"] is False


def test_ask_tell_across_processes(tmp_path, capsys):
    spec = write_spec(tmp_path, """
        [study]
        name = "remote"
        strategy = "random"
        [parameters]
        a = [1, 2, 3, 4]
        [runner]
        kind = "command"
        command = "true"
    """)
    db = str(tmp_path / "s.db")
    code, out, _ = run_cli(["tune", "ask", str(spec), "--storage", db, "--json"], capsys)
    first = json.loads(out)["payload"]
    code, out, _ = run_cli(["tune", "ask", str(spec), "--storage", db, "--json"], capsys)
    second = json.loads(out)["payload"]
    assert first["trial"] != second["trial"] and first["config"] != second["config"]  # pending one not repeated
    code, out, _ = run_cli(["tune", "tell", "--study", "remote", "--storage", db, "--trial", str(first["trial"]),
                            "--value", "0.5", "--json"], capsys)
    assert code == 0 and json.loads(out)["payload"]["result"]["value"] == 0.5
    code, _, err = run_cli(["tune", "tell", "--study", "remote", "--storage", db, "--trial", str(first["trial"]),
                            "--value", "0.4"], capsys)
    assert code == 2 and "not waiting" in err
    code, out, _ = run_cli(["tune", "tell", "--study", "remote", "--storage", db, "--trial", str(second["trial"]),
                            "--status", "timeout", "--json"], capsys)
    assert json.loads(out)["payload"]["result"]["status"] == "timeout"
    code, out, _ = run_cli(["tune", "report", "--storage", db, "--json"], capsys)
    rep = json.loads(out)["payload"]
    assert rep["status_counts"] == {"ok": 1, "timeout": 1} and rep["best"]["value"] == 0.5


def test_every_tune_option_has_help_and_no_old_names():
    import click
    import typer.main

    from hpcopt.cli import app

    group = typer.main.get_command(app).commands["tune"]
    for name, cmd in group.commands.items():
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert p.help, f"tune {name} {p.opts} has no help"
                assert not {"--html", "--plot-dir"} & set(p.opts)
