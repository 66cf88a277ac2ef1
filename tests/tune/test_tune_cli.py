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
    rep = json.loads(out)
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
    code, _, err = run_cli(["tune", "run", str(spec), "--storage", str(db), "--budget", "3", "--json"], capsys)
    assert code == 2 and "no configuration gave a valid result" in err and "compile_error" in err
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["trials"] == 3 and rep["status_counts"] == {"compile_error": 3}


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
    first = json.loads(out)
    assert code == 0 and first["trials"] == 6 and first["random_state"] == 0
    code, out, _ = run_cli(["tune", "run", str(spec), "--storage", str(db), "--budget", "15", "--json"], capsys)
    second = json.loads(out)
    assert second["resumed_trials"] == 6 and second["trials"] == 15
    assert second["best"]["value"] <= first["best"]["value"]
    html = tmp_path / "r.html"
    code, out, _ = run_cli(["tune", "report", "--storage", str(db), "--html", str(html), "--json"], capsys)
    assert code == 0 and html.read_text().count("data:image/png;base64,") >= 2
    assert "cost_model" in json.loads(out)


def test_replay_and_compare_strategies_json(tmp_path, capsys):
    sys.path.insert(0, str(HERE))
    from test_tune_replay import write_cache

    cache = write_cache(tmp_path / "toy.json")
    code, out, _ = run_cli(["tune", "replay", "--cache", str(cache), "--strategy", "greedy", "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["optimum"] == pytest.approx(1.0) and rep["best"] >= rep["optimum"]
    code, out, _ = run_cli(["tune", "compare-strategies", "--cache", str(cache), "--strategies", "random,ga",
                            "--repeats", "2", "--plot-dir", str(tmp_path / "plots"), "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["default_strategy"] == "bo" and set(rep["scores"]) == {"random", "ga"}
    assert Path(rep["plots"][0]).stat().st_size > 1000
    code, _, err = run_cli(["tune", "compare-strategies", "--cache", str(cache), "--strategies", "best"], capsys)
    assert code == 2 and "unknown strategy 'best'" in err
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
    rep = json.loads(out)
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
    first = json.loads(out)
    code, out, _ = run_cli(["tune", "ask", str(spec), "--storage", db, "--json"], capsys)
    second = json.loads(out)
    assert first["trial"] != second["trial"] and first["config"] != second["config"]  # pending one not repeated
    code, out, _ = run_cli(["tune", "tell", "--study", "remote", "--storage", db, "--trial", str(first["trial"]),
                            "--value", "0.5", "--json"], capsys)
    assert code == 0 and json.loads(out)["result"]["value"] == 0.5
    code, _, err = run_cli(["tune", "tell", "--study", "remote", "--storage", db, "--trial", str(first["trial"]),
                            "--value", "0.4"], capsys)
    assert code == 2 and "not waiting" in err
    code, out, _ = run_cli(["tune", "tell", "--study", "remote", "--storage", db, "--trial", str(second["trial"]),
                            "--status", "timeout", "--json"], capsys)
    assert json.loads(out)["result"]["status"] == "timeout"
    code, out, _ = run_cli(["tune", "report", "--storage", db, "--json"], capsys)
    rep = json.loads(out)
    assert rep["status_counts"] == {"ok": 1, "timeout": 1} and rep["best"]["value"] == 0.5
