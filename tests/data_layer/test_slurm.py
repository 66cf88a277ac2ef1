import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcopt.data import load_workload, read_job_table, read_sacct
from hpcopt.errors import InputError

SACCT = """JobIDRaw|User|Group|Partition|QOS|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|TimelimitRaw|ReqMem|NNodes|State
100|alice|proj|batch|normal|2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T01:00:10|3600|4|4|120|4000M|1|COMPLETED
100.batch|alice|proj|batch|normal|2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T01:00:10|3600|4|4||4000M|1|COMPLETED
101|bob|proj|debug|normal|2024-01-01T00:05:00|2024-01-01T00:06:00|2024-01-01T00:07:00|60|8|8|UNLIMITED|2Gc|2|CANCELLED by 1
102|alice|proj|batch|normal|2024-01-01T00:10:00|Unknown|Unknown|0|0|2|30|1G|1|PENDING
"""

# Every kind of job a real `sacct -P -X` history holds (hand-checked below).
ALL_STATES = """JobID|JobIDRaw|User|Group|Account|Partition|QOS|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|TimelimitRaw|ReqMem|NNodes|State
100|100|alice|proj|acctA|batch|normal|2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T01:00:10|3600|4|4|120|4000Mc|1|COMPLETED
100.batch|100.batch||||||2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T01:00:10|3600|4|4||4000Mc|1|COMPLETED
101|101|bob|proj|acctB|debug|normal|2024-01-01T00:05:00|2024-01-01T00:06:00|2024-01-01T00:07:00|60|8|8|UNLIMITED|2Gn|2|CANCELLED by 1
102|102|alice|proj|acctA|batch|normal|2024-01-01T00:10:00|Unknown|Unknown|0|0|2|30|1G|1|PENDING
103_1|104|carol|other|acctC|batch|high|2024-01-01T00:11:00|2024-01-01T00:12:00|Unknown|500|16|16|60|16G|2|RUNNING
103_2|105|carol|other|acctC|batch|high|2024-01-01T00:11:00|None|2024-01-01T00:20:00|0|0|16|60|16G|2|CANCELLED+
106+0|106|dave|proj|acctA|batch|normal|2024-01-01T00:15:00|2024-01-01T00:15:05|2024-01-01T00:16:05|60|2|2|10|100M|1|FAILED
107|107|erin|proj|acctA|batch|normal|2024-01-01T00:16:00|2024-01-01T00:16:30|Unknown|40|4|4|10|1G|1|SUSPENDED
108|108|erin|proj|acctA|batch|normal|2024-01-01T00:17:00|Unknown|Unknown|0|0|4|10|1G|1|REQUEUED
109|109|frank|proj|acctA|batch|normal|2024-01-01T00:18:00|2024-01-01T00:18:01|2024-01-01T00:19:01|60|1|1|10|1G|1|TIMEOUT
110|110|frank|proj|acctA|batch|normal|2024-01-01T00:18:30|Unknown|2024-01-01T00:19:00|0|0|1|10|1G|1|RV
"""


def _write(tmp_path, text, name="acct.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sacct_maps_to_swf_fields(tmp_path):
    w = read_sacct(_write(tmp_path, SACCT))
    assert len(w) == 2  # the PENDING job is not a finished job
    assert any("1 job-step" in note for note in w.read_notes)
    np.testing.assert_array_equal(w.column("submit"), [0, 300])
    np.testing.assert_array_equal(w.column("wait"), [10, 60])
    np.testing.assert_array_equal(w.column("runtime"), [3600, 60])
    np.testing.assert_array_equal(w.column("req_time"), [7200, -1])  # TimelimitRaw is in minutes
    np.testing.assert_array_equal(w.column("status"), [1, 5])
    np.testing.assert_array_equal(w.column("user"), [1, 2])
    # 4000M without a suffix (Slurm >= 21.08) is the job's total over 4 CPUs; 2Gc is per CPU
    np.testing.assert_allclose(w.column("req_mem"), [4000 * 1024 / 4, 2 * 1024**2])
    assert w.header["UnixStartTime"] == "1704067200"
    assert w.jobs["native_job_id"].tolist() == ["100", "101"] and w.jobs["user_name"].tolist() == ["alice", "bob"]
    assert w.queue["native_job_id"].tolist() == ["102"] and w.queue["state"].tolist() == ["PENDING"]
    assert load_workload(_write(tmp_path, SACCT, "x.txt")).column("runtime").tolist() == [3600, 60]  # auto-detected


def test_every_job_state_is_placed_and_counted(tmp_path):
    w = read_sacct(_write(tmp_path, ALL_STATES))
    # finished: 100, 101 (cancelled after starting), 103_2 (cancelled before starting), 106+0, 109
    assert w.jobs["native_job_id"].tolist() == ["100", "101", "103_2", "106+0", "109"]
    np.testing.assert_array_equal(w.column("job_id"), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(w.column("runtime"), [3600, 60, -1, 60, 60])  # never started: no runtime
    np.testing.assert_array_equal(w.column("wait"), [10, 60, -1, 5, 1])
    np.testing.assert_array_equal(w.column("status"), [1, 5, 5, 0, 0])
    assert w.jobs["job_id_raw"].tolist() == ["100", "101", "105", "106", "109"]
    assert w.jobs["account"].tolist() == ["acctA", "acctB", "acctC", "acctA", "acctA"]
    # the current queue: pending, running, suspended, requeued -- with what is known so far
    q = w.queue
    assert q["native_job_id"].tolist() == ["102", "103_1", "107", "108"]
    assert q["state"].tolist() == ["PENDING", "RUNNING", "SUSPENDED", "REQUEUED"]
    np.testing.assert_array_equal(q["elapsed"], [-1, 500, 40, -1])
    np.testing.assert_array_equal(q["runtime"], [-1, -1, -1, -1])
    np.testing.assert_array_equal(q["start"], [-1, 720, 990, -1])
    np.testing.assert_array_equal(q["job_id"], [6, 7, 8, 9])  # numbered after the finished jobs
    assert q["user"].tolist() == [1, 3, 5, 5]  # the same user codes as the job table
    notes = " | ".join(w.read_notes)
    assert "1 job-step lines" in notes
    assert "1 jobs ended without starting (CANCELLED 1)" in notes
    assert "4 jobs had not finished when exported (PENDING 1, REQUEUED 1, RUNNING 1, SUSPENDED 1)" in notes
    assert "1 REVOKED records skipped" in notes
    assert len(w) + len(q) + 1 + 1 == 11  # 11 data lines: 5 finished, 4 queued, 1 revoked, 1 step


def test_req_mem_follows_slurm_meaning(tmp_path):
    # procs 8 on 2 nodes: per node (n) x nodes / procs; per CPU (c) as is; plain = job total / procs
    rows = ["4000Mn", "4000Mc", "16G", "2048", "0", "", "1.5Gc"]
    body = "".join(f"{i}|2024-01-01T00:00:00|10|8|8|{m}|2|COMPLETED\n" for i, m in enumerate(rows))
    w = read_sacct(_write(tmp_path, "JobID|Submit|ElapsedRaw|AllocCPUS|ReqCPUS|ReqMem|NNodes|State\n" + body))
    np.testing.assert_allclose(w.column("req_mem"), [4000 * 1024 * 2 / 8, 4000 * 1024, 16 * 1024**2 / 8,
                                                     2048 * 1024 / 8, -1, -1, 1.5 * 1024**2])


def test_sacct_missing_column_says_what_to_export(tmp_path):
    with pytest.raises(InputError, match="no submit-time column.*sacct -P"):
        read_sacct(_write(tmp_path, SACCT.replace("|Submit|", "|Foo|")))


def test_sacct_bad_time_names_line_and_column(tmp_path):
    with pytest.raises(InputError, match=r"line 4, column Submit: 'yesterday' is not a date"):
        read_sacct(_write(tmp_path, SACCT.replace("2024-01-01T00:05:00", "yesterday")))


HEADER = "JobID|User|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|TimelimitRaw|NNodes|State\n"
GOOD = {"ElapsedRaw": "60", "AllocCPUS": "4", "ReqCPUS": "4", "TimelimitRaw": "10", "NNodes": "1"}


def _one_job(field: str, value: str) -> str:
    cells = dict(GOOD, **{field: value})
    return HEADER + (f"7|u|2024-01-01T00:00:00|2024-01-01T00:00:05|2024-01-01T00:01:05|{cells['ElapsedRaw']}|"
                     f"{cells['AllocCPUS']}|{cells['ReqCPUS']}|{cells['TimelimitRaw']}|{cells['NNodes']}|COMPLETED\n")


@pytest.mark.parametrize("field", sorted(GOOD))
@pytest.mark.parametrize("value, why", [("inf", "is not a finite number"), ("nan", "is not a finite number"),
                                        ("1e308", "is larger than|longer than 100 years"),
                                        ("-5", "is negative"), ("abc", "is not a number"),
                                        ("-inf", "is not a finite number")])
def test_absurd_values_are_refused_naming_line_and_column(tmp_path, field, value, why):
    with pytest.raises(InputError) as err:
        read_sacct(_write(tmp_path, _one_job(field, value)))
    assert f"line 2, column {field}: '{value}'" in str(err.value)
    assert err.value.line == 2 and err.value.field == f"column {field}"
    assert any(w in str(err.value) for w in why.split("|"))


@pytest.mark.parametrize("field, value, why", [("AllocCPUS", "2.5", "not a whole number"),
                                               ("ElapsedRaw", "4e9", "longer than 100 years")])
def test_fractional_counts_and_huge_durations_are_refused(tmp_path, field, value, why):
    with pytest.raises(InputError, match=why):
        read_sacct(_write(tmp_path, _one_job(field, value)))


def test_minus_one_means_unknown_as_in_swf(tmp_path):
    w = read_sacct(_write(tmp_path, _one_job("ReqCPUS", "-1")))
    assert w.column("req_procs").tolist() == [-1] and w.column("alloc_procs").tolist() == [4]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(GOOD) + ["Submit", "Start", "State", "ReqMem"]),
       value=st.one_of(st.sampled_from(["inf", "nan", "1e308", "-5", "-1e308", "1e-308", "0x10", "99999999999999999999",
                                        "1-99:99:99", "Unknown", "", "+5", " 3 "]),
                       st.text(alphabet=st.characters(blacklist_characters="|\n\r\x00", codec="utf-8"), max_size=12)))
def test_fuzzed_single_field_is_a_clean_error_or_a_sane_value(tmp_path, field, value):
    text = _one_job(field, value) if field in GOOD else HEADER.replace("|State", "|State|ReqMem") + (
        "7|u|2024-01-01T00:00:00|2024-01-01T00:00:05|2024-01-01T00:01:05|60|4|4|10|1|COMPLETED|1G\n")
    if field in ("Submit", "Start", "State", "ReqMem"):
        text = text.replace({"Submit": "2024-01-01T00:00:00", "Start": "2024-01-01T00:00:05", "State": "COMPLETED",
                             "ReqMem": "1G"}[field], value.replace("|", ""), 1)
    p = _write(tmp_path, text)
    try:
        w = read_sacct(p)
    except InputError as exc:
        assert exc.source == str(p)
        return
    jobs = w.jobs
    for col in ("runtime", "wait", "req_time", "req_mem", "submit"):
        v = jobs[col].to_numpy(dtype=float)
        assert np.isfinite(v).all() and ((v >= 0) | (v == -1)).all(), (col, v)
    for col in ("alloc_procs", "req_procs"):
        v = jobs[col].to_numpy()
        assert ((v >= 0) | (v == -1)).all() and (v <= 2**31 - 1).all()
    assert len(w) + (0 if w.queue is None else len(w.queue)) <= 1


def test_csv_job_table_sets_aside_unfinished_jobs(tmp_path):
    p = tmp_path / "jobs.csv"
    p.write_text("job_id,user,account,submit_time,start_time,end_time,run_time,processors_req,state\n"
                 "1,u1,a1,2024-01-01 00:00:00,2024-01-01 00:00:10,2024-01-01 00:01:10,60,2,COMPLETED\n"
                 "2,u2,a1,2024-01-01 00:01:00,,,,2,PENDING\n"
                 "3,u2,a2,2024-01-01 00:02:00,,2024-01-01 00:03:00,0,2,CANCELLED by 0\n")
    w = read_job_table(p)
    assert w.jobs["native_job_id"].tolist() == ["1", "3"] and w.column("runtime").tolist() == [60, -1]
    assert w.jobs["account"].tolist() == ["a1", "a2"] and w.column("group").tolist() == [1, 2]
    assert w.queue["native_job_id"].tolist() == ["2"]


@pytest.mark.shared
def test_nrel_eagle_table():
    from conftest import SHARED_DATA

    w = read_job_table(SHARED_DATA / "traces" / "nrel_eagle_sample_1000.csv.gz")
    assert len(w) == 1000 and w.queue is None
    s = w.summary()
    assert s["users"] == 15 and s["has_requested_time"]
    assert (w.column("req_time") == 172800).any()
    assert w.jobs["native_job_id"].iloc[0] == "532209" and w.jobs["user_name"].iloc[0] == "user0014"


@pytest.mark.parametrize("column, value, why", [
    ("run_time", "inf", "is not a finite number"), ("run_time", "-5", "is negative"),
    ("processors_req", "1e308", "is larger than"), ("processors_req", "-3", "is negative"),
    ("wallclock_req", "nan", "is not a finite number"), ("wallclock_req", "ten", "is not a number"),
])
def test_csv_table_refuses_absurd_values_like_sacct(tmp_path, column, value, why):
    cells = {"run_time": "60", "processors_req": "2", "wallclock_req": "120"}
    cells[column] = value
    p = tmp_path / "jobs.csv"
    p.write_text("job_id,submit_time,run_time,processors_req,wallclock_req\n"
                 f"1,2024-01-01 00:00:00,{cells['run_time']},{cells['processors_req']},{cells['wallclock_req']}\n")
    with pytest.raises(InputError, match=f"line 2, column {column}: '{value}' {why}"):
        read_job_table(p)


@pytest.mark.parametrize("value, seconds", [("1-02:03:04", 93784), ("05:06", 306), ("00:00:07", 7), ("UNLIMITED", -1)])
def test_elapsed_and_timelimit_durations(tmp_path, value, seconds):
    text = ("JobID|Submit|Elapsed|Timelimit|NCPUS|State\n"
            f"1|2024-01-01T00:00:00|{value if value != 'UNLIMITED' else '00:00:01'}|{value}|1|COMPLETED\n")
    w = read_sacct(_write(tmp_path, text))
    assert w.column("req_time").tolist() == [seconds]
    if value != "UNLIMITED":
        assert w.column("runtime").tolist() == [seconds]


@pytest.mark.parametrize("value", ["1-99:inf:00", "nan:00", "-1-00:00:00", "1:2:3:4", "99999999999999999999999-00:00:00"])
def test_bad_durations_are_refused(tmp_path, value):
    text = f"JobID|Submit|Elapsed|NCPUS|State\n1|2024-01-01T00:00:00|{value}|1|COMPLETED\n"
    with pytest.raises(InputError, match="line 2, column Elapsed"):
        read_sacct(_write(tmp_path, text))


@pytest.mark.parametrize("line, message", [
    ("2|2024-01-01T00:00:00|10", "line 5: has 3 fields; the header has 5"),
    ("2|2024-01-01T00:00:00|10|1|COMPLETED|x", "line 5: has 6 fields; the header has 5"),
    ("2|2024-01-01T00:00:00|abc|1|COMPLETED", "line 5, column ElapsedRaw: 'abc' is not a number"),
])
def test_line_numbers_count_blank_lines_and_short_lines_are_refused(tmp_path, line, message):
    text = f"JobID|Submit|ElapsedRaw|NCPUS|State\n1|2024-01-01T00:00:00|10|1|COMPLETED\n\n\n{line}\n"
    with pytest.raises(InputError, match=message):
        read_sacct(_write(tmp_path, text))


def test_parsable_with_trailing_separator(tmp_path):
    # sacct -p (not -P) ends every line with '|'
    text = "".join(line + "|\n" for line in SACCT.splitlines())
    w = read_sacct(_write(tmp_path, text))
    assert w.jobs["native_job_id"].tolist() == ["100", "101"] and w.column("runtime").tolist() == [3600, 60]


def test_duplicates_listing_keeps_earlier_runs_of_a_requeued_job(tmp_path):
    # sacct -D: job 500 ran, was requeued, ran again and completed; job 501 is requeued and waiting
    text = ("JobID|Submit|Start|End|ElapsedRaw|NCPUS|State\n"
            "500|2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T00:05:10|300|4|REQUEUED\n"
            "500|2024-01-01T00:05:20|2024-01-01T00:06:00|2024-01-01T00:16:00|600|4|COMPLETED\n"
            "501|2024-01-01T00:07:00|Unknown|Unknown|0|0|REQUEUED\n")
    w = read_sacct(_write(tmp_path, text))
    assert w.jobs["native_job_id"].tolist() == ["500", "500"]
    np.testing.assert_array_equal(w.column("runtime"), [300, 600])
    np.testing.assert_array_equal(w.column("status"), [0, 1])
    assert w.queue["native_job_id"].tolist() == ["501"]
    assert w.find_job("500") == 1  # the latest run
    assert any("1 REQUEUED records with a start and an end" in n for n in w.read_notes)


def test_positive_runtime_without_start_is_kept(tmp_path):
    # a table whose start column is empty for a job that did run: the runtime is kept, the wait is unknown
    text = ("JobID|Submit|Start|ElapsedRaw|NCPUS|State\n"
            "1|2024-01-01T00:00:00||120|2|COMPLETED\n2|2024-01-01T00:00:00|Unknown|0|2|CANCELLED\n")
    w = read_sacct(_write(tmp_path, text))
    np.testing.assert_array_equal(w.column("runtime"), [120, -1])
    np.testing.assert_array_equal(w.column("wait"), [-1, -1])


# --- issue 10: values the fuzz harness found accepted without a word (one case each) ---------------------------

ID_HEADER = "JobID|JobIDRaw|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|ReqMem|NNodes|State\n"
ID_CELLS = {"JobID": "4102", "JobIDRaw": "4102", "ElapsedRaw": "60", "AllocCPUS": "8", "ReqCPUS": "8",
            "ReqMem": "4000M", "NNodes": "1", "Start": "2024-01-01T00:00:05", "End": "2024-01-01T00:01:05"}


def _job_line(**cells) -> str:
    c = dict(ID_CELLS, **cells)
    return ID_HEADER + (f"4101|4101|2024-01-01T00:00:00|2024-01-01T00:00:05|2024-01-01T00:01:05|60|8|8|4000M|1|COMPLETED\n"
                        f"{c['JobID']}|{c['JobIDRaw']}|2024-01-01T00:00:00|{c['Start']}|{c['End']}|{c['ElapsedRaw']}|"
                        f"{c['AllocCPUS']}|{c['ReqCPUS']}|{c['ReqMem']}|{c['NNodes']}|COMPLETED\n")


@pytest.mark.parametrize("column, value, why", [
    ("ReqMem", "nan", "'nan' is not a memory size"),
    ("JobID", "-5", "'-5' is not a Slurm job ID"),
    ("JobID", "inf", "'inf' is not a Slurm job ID"),
    ("JobID", "9" * 400, "is larger than Slurm's largest job ID (4,294,967,295)"),
    ("JobID", "", "the job ID is empty"),
    ("JobID", "abc", "'abc' is not a Slurm job ID"),
    ("JobID", str(2**70), f"'{2**70}' is larger than Slurm's largest job ID"),
    ("JobID", "4102_" + str(2**70), "is larger than Slurm's largest job ID"),
    ("JobID", "4294967296", "is larger than Slurm's largest job ID"),
    ("JobIDRaw", "nan", "'nan' is not a Slurm job ID: expected digits"),
    ("JobIDRaw", str(2**70), "is larger than Slurm's largest job ID"),
    ("JobIDRaw", "", "the job ID is empty"),
    ("JobIDRaw", "4102_1", "'4102_1' is not a Slurm job ID: expected digits"),
    ("AllocCPUS", "UNLIMITED", "'UNLIMITED' is not a number"),
    ("Start", "nan", "'nan' is not a date and time"),
])
def test_sacct_forbidden_cells_are_refused_with_line_and_column(tmp_path, column, value, why):
    with pytest.raises(InputError) as err:
        read_sacct(_write(tmp_path, _job_line(**{column: value})))
    assert err.value.line == 3 and err.value.field == f"column {column}", str(err.value)
    assert why in str(err.value)


@pytest.mark.parametrize("job_id", ["4102", "4102_7", "4102_[1-9%2]", "4102+1", "4294967295", "0004102"])
def test_every_slurm_job_id_form_is_kept(tmp_path, job_id):
    state = "PENDING" if "[" in job_id else "COMPLETED"
    w = read_sacct(_write(tmp_path, _job_line(JobID=job_id).replace("1|COMPLETED\n", f"1|{state}\n")))
    kept = w.jobs if state == "COMPLETED" else w.queue
    assert kept["native_job_id"].tolist()[-1] == job_id


def test_sacct_empty_alloccpus_of_a_finished_job_is_unknown_and_counted(tmp_path):
    w = read_sacct(_write(tmp_path, _job_line(AllocCPUS="")))
    assert w.column("alloc_procs").tolist() == [8, -1] and w.column("req_procs").tolist() == [8, 8]
    assert "1 finished jobs without AllocCPUS (empty, Unknown, -1 or 0): unknown (-1)" in w.read_notes
    clean = read_sacct(_write(tmp_path, _job_line(), "clean.txt"))
    assert not any("without AllocCPUS" in n for n in clean.read_notes)


def test_sacct_missing_elapsed_and_end_of_a_job_that_ran_are_counted(tmp_path):
    w = read_sacct(_write(tmp_path, _job_line(ElapsedRaw="", End="Unknown")))
    assert w.column("runtime").tolist() == [60, -1]
    assert "1 finished jobs without ElapsedRaw (empty, Unknown or -1): runtime unknown (-1)" in w.read_notes
    assert "1 finished jobs without End (empty or Unknown)" in w.read_notes


def test_elapsed_is_never_unlimited(tmp_path):
    text = "JobID|Submit|Elapsed|NCPUS|State\n1|2024-01-01T00:00:00|UNLIMITED|1|COMPLETED\n"
    with pytest.raises(InputError, match="line 2, column Elapsed: 'UNLIMITED' is not a duration"):
        read_sacct(_write(tmp_path, text))


NREL_HEADER = "job_id,user,processors_req,submit_time,start_time,end_time,run_time,state\n"


def _nrel(**cells) -> str:
    c = dict({"job_id": "532209", "start_time": "2019-01-01 08:55:56", "end_time": "2019-01-01 12:36:08"}, **cells)
    return NREL_HEADER + ("532207,u1,10,2019-01-01 08:55:55,2019-01-01 08:55:56,2019-01-01 09:55:56,3600.0,COMPLETED\n"
                          f"{c['job_id']},u1,10,2019-01-01 08:55:55,{c['start_time']},{c['end_time']},13212.0,COMPLETED\n")


@pytest.mark.parametrize("column, value, why", [
    ("end_time", "nan", "'nan' is not a date and time"),
    ("start_time", "nan", "'nan' is not a date and time"),
    ("job_id", "-5", "'-5' is not a Slurm job ID"),
    ("job_id", "nan", "'nan' is not a Slurm job ID"),
    ("job_id", "9" * 400, "is larger than Slurm's largest job ID"),
    ("job_id", "532209.batch", "is a job step, not a job"),
])
def test_csv_forbidden_cells_are_refused_with_line_and_column(tmp_path, column, value, why):
    p = tmp_path / "jobs.csv"
    p.write_text(_nrel(**{column: value}))
    with pytest.raises(InputError) as err:
        read_job_table(p)
    assert err.value.line == 3 and err.value.field == f"column {column}" and why in str(err.value), str(err.value)


def test_csv_empty_end_time_of_a_finished_job_is_counted(tmp_path):
    p = tmp_path / "jobs.csv"
    p.write_text(_nrel(end_time=""))
    w = load_workload(p)
    assert w.column("runtime").tolist() == [3600, 13212]  # run_time is the runtime; the End is missing data
    assert "1 finished jobs without end_time (empty or Unknown)" in w.read_notes
    p.write_text(_nrel(start_time=""))
    w = read_job_table(p)
    assert w.column("wait").tolist() == [1, -1]
    assert "1 finished jobs with a runtime but no start_time: wait unknown (-1)" in w.read_notes
