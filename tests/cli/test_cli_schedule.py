import json
import subprocess
import sys

import pytest

from conftest import TEST_DATA


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "hpcopt", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_simulate_json_has_the_documented_keys():
    out = json.loads(run("simulate", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--order", "sjf",
                         "--backfill", "easy", "--json").stdout)
    for key in ("jobs", "procs", "avg_wait", "avg_bsld", "utilization", "makespan", "max_queue", "schema", "versions"):
        assert key in out
    assert out["jobs"] == 10000 and out["procs"] == 256 and out["engine"] == "fast"


def test_simulate_rlscheduler_mode_json():
    out = json.loads(run("simulate", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--order", "sjf",
                         "--backfill", "easy", "--mode", "rlscheduler", "--json").stdout)
    assert round(out["avg_bsld"], 4) == 73.3065 and round(out["utilization"], 4) == 0.7784


def test_compare_writes_a_self_contained_report(tmp_path):
    report = tmp_path / "r.html"
    out = json.loads(run("compare", "--trace", str(TEST_DATA / "lublin_256_new2.swf.gz"),
                         "--policies", "fcfs,fcfs+easy,sjf+conservative", "--report", str(report), "--json").stdout)
    assert [p["policy"] for p in out["policies"]] == ["fcfs", "fcfs+easy", "sjf+conservative"]
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 2 and "<script src" not in text


def test_demo_and_jobs_out(tmp_path):
    out = json.loads(run("demo", "--report", str(tmp_path / "demo.html"), "--json").stdout)
    assert out["trace"] == "bundled:hpc2n" and len(out["policies"]) == 7
    jobs_csv = tmp_path / "jobs.csv"
    run("simulate", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--jobs-out", str(jobs_csv), "--json")
    assert jobs_csv.read_text().splitlines()[0].startswith("job_id,user,submit,start,end,wait")


def test_trace_info_json():
    out = json.loads(run("trace", "info", str(TEST_DATA / "lublin_256.swf.gz"), "--json").stdout)
    assert out["jobs"] == 10000 and out["procs"] == 256 and not out["has_requested_time"]
    assert out["offered_load"] == pytest.approx(1.06, abs=0.01)


@pytest.mark.parametrize(
    "args, message",
    [
        (("simulate", "--trace", "{bad}"), "line 2, field 4 (run time): 'x' is not a number"),
        (("simulate", "--trace", "{good}", "--order", "lifo"), "'order' parameter must be one of"),
        (("compare", "--trace", "{good}", "--policies", "fcfs+magic"), "'backfill' parameter must be one of"),
        (("trace", "info", "/no/such/file.swf"), "no such file"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, args, message):
    bad = tmp_path / "bad.swf"
    bad.write_text("1 0 0 10 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1\n2 0 0 x 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1\n")
    good = TEST_DATA / "lublin_256.swf.gz"
    argv = [a.format(bad=bad, good=good) for a in args]
    proc = run(*argv, check=False)
    assert proc.returncode == 2
    assert message in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


def test_estimate_evaluate_json_and_report(tmp_path):
    from hpcopt.data import bundled_workload_path

    report = tmp_path / "est.html"
    out = json.loads(run("estimate", "evaluate", "--trace", str(bundled_workload_path()), "--model", "tsafrir",
                         "--report", str(report), "--json").stdout)
    for key in ("jobs", "mae", "median_ae", "accuracy", "underestimation_rate"):
        assert key in out
    assert out["jobs"] == 3145 and set(out["by_model"]) == {"tsafrir", "requested"}
    assert out["by_model"]["requested"]["all"]["underestimation_rate"] < out["underestimation_rate"]
    assert "data:image/png;base64," in report.read_text()


def test_simulate_with_online_tsafrir_and_sjbf():
    out = json.loads(run("simulate", "--trace", str(TEST_DATA.parent.parent / "src/hpcopt/data/bundled/hpc2n_alea_excerpt.swf.gz"),
                         "--runtime", "predicted:tsafrir", "--backfill-order", "sjbf", "--json").stdout)
    assert out["backfill"] == "easy-sjbf" and out["runtime"] == "predicted:tsafrir" and out["engine"] == "generic"
    assert out["estimate_corrections"] > 0
