import json
import subprocess
import sys

import pytest

from conftest import TEST_DATA


def payload(proc):
    """The task's payload from ``--json`` (the whole Result: schema, payload, artifacts, provenance)."""
    return json.loads(proc.stdout)["payload"]


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "hpcopt", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_simulate_json_has_the_documented_keys():
    out = payload(run("simulate", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--order", "sjf",
                         "--backfill", "easy", "--json"))
    for key in ("jobs", "procs", "avg_wait", "avg_bsld", "utilization", "makespan", "max_queue", "schema", "versions"):
        assert key in out
    assert out["jobs"] == 10000 and out["procs"] == 256 and out["engine"] == "fast"


def test_simulate_rlscheduler_mode_json():
    out = payload(run("simulate", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--order", "sjf",
                         "--backfill", "easy", "--mode", "rlscheduler", "--json"))
    assert round(out["avg_bsld"], 4) == 73.3065 and round(out["utilization"], 4) == 0.7784


def test_compare_writes_a_self_contained_report(tmp_path):
    report = tmp_path / "r.html"
    out = payload(run("compare", "--trace", str(TEST_DATA / "lublin_256_new2.swf.gz"),
                         "--policies", "fcfs,fcfs+easy,sjf+conservative", "--report", str(report), "--json"))
    assert [p["policy"] for p in out["policies"]] == ["fcfs", "fcfs+easy", "sjf+conservative"]
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 2 and "<script src" not in text


def test_jobs_out(tmp_path):
    jobs_csv = tmp_path / "jobs.csv"
    run("simulate", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--jobs-out", str(jobs_csv), "--json")
    assert jobs_csv.read_text().splitlines()[0].startswith("job_id,user,submit,start,end,wait")


def test_trace_info_json():
    out = payload(run("trace", "info", str(TEST_DATA / "lublin_256.swf.gz"), "--json"))
    assert out["jobs"] == 10000 and out["procs"] == 256 and not out["has_requested_time"]
    assert out["offered_load"] == pytest.approx(1.06, abs=0.01)
    assert out["unfinished_jobs"] == 0
    # --trace as in every other command: the same answer
    assert payload(run("trace", "info", "--trace", str(TEST_DATA / "lublin_256.swf.gz"), "--json")) == out


SACCT = """JobID|JobIDRaw|User|Account|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|TimelimitRaw|State
7001|7001|alice|chem|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|3600|4|4|120|COMPLETED
7002_3|7005|bob|phys|2024-01-01T00:01:00|2024-01-01T00:01:00|2024-01-01T00:11:00|600|8|8|60|COMPLETED
7003+0|7003|alice|chem|2024-01-01T00:02:00|2024-01-01T00:11:00|2024-01-01T00:21:00|600|8|8|60|FAILED
7004|7004|carol|chem|2024-01-01T00:03:00|Unknown|2024-01-01T00:05:00|0|0|2|60|CANCELLED by 1
7006|7006|bob|phys|2024-01-01T00:04:00|Unknown|Unknown|0|0|2|60|PENDING
7007|7007|carol|chem|2024-01-01T00:05:00|2024-01-01T00:21:00|Unknown|100|4|4|60|RUNNING
"""


def test_sacct_history_keeps_real_ids_and_names_and_sets_the_queue_aside(tmp_path):
    acct = tmp_path / "acct.txt"
    acct.write_text(SACCT)
    info = payload(run("trace", "info", "--trace", str(acct), "--json"))
    assert info["jobs"] == 4 and info["unfinished_jobs"] == 2
    assert info["unfinished_by_state"] == {"PENDING": 1, "RUNNING": 1}
    assert info["cleaning_for_simulation"]["jobs_out"] == 3  # 7004 never started: no runtime
    jobs_csv = tmp_path / "out" / "new" / "jobs.csv"  # missing folders are created
    out = payload(run("simulate", "--trace", str(acct), "--procs", "16", "--per-user", "--jobs-out", str(jobs_csv),
                         "--json"))
    assert out["jobs"] == 3
    assert [(u["user_name"], u["jobs"]) for u in out["per_user"]] == [("alice", 2), ("bob", 1)]
    import pandas as pd

    table = pd.read_csv(jobs_csv, dtype={"native_job_id": str})
    assert list(table.columns[:6]) == ["job_id", "native_job_id", "job_id_raw", "user", "user_name", "account"]
    assert table["native_job_id"].tolist() == ["7001", "7002_3", "7003+0"]
    assert table["user_name"].tolist() == ["alice", "bob", "alice"] and table["account"].tolist() == ["chem", "phys", "chem"]
    text = run("simulate", "--trace", str(acct), "--procs", "16", "--per-user").stdout
    assert "alice" in text and "bob" in text


def test_outputs_are_checked_before_the_work(tmp_path):
    trace = str(TEST_DATA / "lublin_256_new2.swf.gz")
    jobs_csv = tmp_path / "jobs.csv"
    jobs_csv.write_text("precious")
    proc = run("simulate", "--trace", trace, "--jobs-out", str(jobs_csv), check=False)
    assert proc.returncode == 64 and "already exists; pass --force" in proc.stderr
    assert jobs_csv.read_text() == "precious"
    run("simulate", "--trace", trace, "--jobs-out", str(jobs_csv), "--force", "--json")
    assert jobs_csv.read_text().startswith("job_id,user,submit")
    for args, message in [
        (("simulate", "--trace", trace, "--jobs-out", str(tmp_path / "jobs.txt")), "must end in .csv or .parquet"),
        (("compare", "--trace", trace, "--report", str(tmp_path / "r.pdf")), "--report must name an .html file"),
        (("compare", "--trace", trace, "--report", str(jobs_csv.with_suffix(".html")), "--policies", "fcfs"), None),
        (("compare", "--trace", trace, "--report", str(jobs_csv.with_suffix(".html")), "--policies", "fcfs"),
         "already exists; pass --force"),
        (("trace", "info"), "no trace given"),
        (("estimate", "evaluate", "--trace", trace, "--kind", "magic"), "--kind must be one of"),
        (("estimate", "evaluate", "--trace", trace, "--model", "tsafrir"), "No such option"),
        (("estimate", "train", "--trace", trace, "--out", str(tmp_path / "m"), "--random-state", "1"), "No such option"),
    ]:
        proc = run(*args, check=False)
        if message is None:
            assert proc.returncode == 0, proc.stderr
            continue
        assert proc.returncode == 64, (args, proc.stderr)
        assert message in " ".join(proc.stderr.split()) and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args, message, code",
    [
        (("simulate", "--trace", "{bad}"), "line 2, field 4 (run time): 'x' is not a number", 2),
        (("simulate", "--trace", "{acct}"), "line 2, column AllocCPUS: '1e308' is larger than 2,147,483,647", 2),
        (("trace", "info", "{acct}"), "line 2, column AllocCPUS: '1e308'", 2),
        (("simulate", "--trace", "{good}", "--order", "lifo"), "'order' parameter must be one of", 64),
        (("compare", "--trace", "{good}", "--policies", "fcfs+magic"), "'backfill' parameter must be one of", 64),
        (("trace", "info", "/no/such/file.swf"), "no such file", 2),
    ],
)
def test_bad_input_is_one_clear_line_data_2_usage_64(tmp_path, args, message, code):
    bad = tmp_path / "bad.swf"
    bad.write_text("1 0 0 10 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1\n2 0 0 x 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1\n")
    good = TEST_DATA / "lublin_256.swf.gz"
    acct = tmp_path / "acct.txt"
    acct.write_text(SACCT.replace("|3600|4|4|", "|3600|1e308|4|"))
    argv = [a.format(bad=bad, good=good, acct=acct) for a in args]
    proc = run(*argv, check=False)
    assert proc.returncode == code
    assert message in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


def test_estimate_evaluate_json_and_report(tmp_path):
    from hpcopt.data import sample_path

    report = tmp_path / "est.html"
    out = json.loads(run("estimate", "evaluate", "--trace", str(sample_path("hpc2n")), "--kind", "tsafrir",
                         "--report", str(report), "--json").stdout)["payload"]
    for key in ("jobs", "mae", "median_ae", "accuracy", "underestimation_rate"):
        assert key in out
    assert out["jobs"] == 3145 and out["kind"] == "tsafrir" and set(out["by_model"]) == {"tsafrir", "requested"}
    assert out["by_model"]["requested"]["all"]["underestimation_rate"] < out["underestimation_rate"]
    assert "data:image/png;base64," in report.read_text()


def test_simulate_with_online_tsafrir_and_sjbf():
    out = payload(run("simulate", "--trace", str(TEST_DATA.parent.parent / "src/hpcopt/data/bundled/hpc2n_alea_excerpt.swf.gz"),
                         "--runtime", "predicted:tsafrir", "--backfill-order", "sjbf", "--json"))
    assert out["backfill"] == "easy-sjbf" and out["runtime"] == "predicted:tsafrir" and out["engine"] == "generic"
    assert out["estimate_corrections"] > 0


def test_json_is_the_task_result_and_runs_are_recorded_unless_no_record(tmp_path):
    import os

    env = {**os.environ, "HPCOPT_HOME": str(tmp_path / "home")}

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "hpcopt", *args], capture_output=True, text=True, timeout=300,
                              env=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    trace = str(TEST_DATA / "lublin_256_new2.swf.gz")
    out = cli("trace", "info", trace, "--json")
    assert out["schema"] == "trace.info/1" and len(out["provenance"]["inputs"]["trace"]) == 64
    assert out["provenance"]["run_id"]
    out = cli("simulate", "--trace", trace, "--no-record", "--json")
    assert out["schema"] == "hpcopt.simulation/1" and out["provenance"]["run_id"] is None
    runs = cli("runs", "list", "--json")["runs"]
    assert [r["task"] for r in runs] == ["trace.info"] and runs[0]["status"] == "succeeded"
