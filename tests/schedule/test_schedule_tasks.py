"""The schedule tasks on a hand-computed trace: payloads, schemas, provenance, written outputs, errors."""

import pytest

from hpcopt.errors import ConfigError
from hpcopt.schedule.tasks import compare_trace, simulate_trace, trace_info

# P = 4. Job 1: 3 processors for 10 s from 0; job 2: the whole machine for 10 s, blocked until 10;
# job 3 (1 processor, 5 s requested) arrives at 1. Without backfilling it waits behind job 2
# (starts at 20); with EASY it fits beside job 1 and ends (6) before job 2's shadow time (10).
SWF = """; MaxProcs: 4
1 0 -1 10 3 -1 -1 3 10 -1 1 1 -1 -1 -1 -1 -1 -1
2 0 -1 10 4 -1 -1 4 10 -1 1 2 -1 -1 -1 -1 -1 -1
3 1 -1 5 1 -1 -1 1 5 -1 1 1 -1 -1 -1 -1 -1 -1
"""


@pytest.fixture
def trace(tmp_path):
    p = tmp_path / "three.swf"
    p.write_text(SWF)
    return p


def test_simulate_hand_computed_with_jobs_out_and_provenance(trace, tmp_path):
    jobs = tmp_path / "out" / "jobs.csv"
    r = simulate_trace(trace, order="fcfs", backfill="easy", jobs_out=jobs, per_user=True)
    assert r.schema_id == "hpcopt.simulation/1" and r.payload["schema"] == "hpcopt.simulation/1"
    assert r.payload["avg_wait"] == pytest.approx(10 / 3) and r.payload["jobs"] == 3 and r.payload["procs"] == 4
    # by processor-seconds: user 2 (40) before user 1 (30 + 5)
    assert [(u["user"], u["jobs"]) for u in r.payload["per_user"]] == [(2, 1), (1, 2)]
    assert r.artifacts == {"jobs_out": str(jobs)} and jobs.read_text().splitlines()[1].startswith("1,1,0.0,0.0,10.0")
    assert len(r.provenance.inputs["trace"]) == 64 and r.provenance.parameters["backfill"] == "easy"
    assert "simulation" in r.extras and "_extras" not in r.payload
    none = simulate_trace(trace, order="fcfs", backfill="none")
    assert none.payload["avg_wait"] == pytest.approx(29 / 3)
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        simulate_trace(trace, jobs_out=jobs)
    assert simulate_trace(trace, jobs_out=jobs, force=True).artifacts["jobs_out"] == str(jobs)


def test_compare_report_and_schema(trace, tmp_path):
    report = tmp_path / "r.html"
    r = compare_trace(trace, policies=["fcfs", "fcfs+easy"], report=report)
    assert r.schema_id == "hpcopt.compare/1" and r.payload["random_state"] is None
    assert [round(p["avg_wait"], 4) for p in r.payload["policies"]] == [round(29 / 3, 4), round(10 / 3, 4)]
    assert r.payload["report"] == str(report) and r.artifacts["report"] == str(report)
    assert "data:image/png;base64," in report.read_text()


def test_trace_info(trace):
    r = trace_info(trace)
    assert r.schema_id == "trace.info/1"
    assert r.payload["jobs"] == 3 and r.payload["unfinished_jobs"] == 0
    assert r.payload["cleaning_for_simulation"]["jobs_out"] == 3


@pytest.mark.parametrize("call, message", [
    (lambda t: simulate_trace(t, mode="fast"), "--mode must be default or rlscheduler"),
    (lambda t: simulate_trace(t, backfill_order="lifo"), "--backfill-order must be queue or sjbf"),
    (lambda t: simulate_trace(t, backfill="none", backfill_order="sjbf"), "sjbf applies to --backfill easy"),
    (lambda t: simulate_trace(t, mode="rlscheduler", backfill="conservative"), "no conservative backfilling"),
    (lambda t: simulate_trace(t, order="sjff"), "did you mean 'sjf'"),
    (lambda t: compare_trace(t, policies=[" "]), "--policies is empty"),
    (lambda t: compare_trace(t, report=t.with_suffix(".pdf")), "must name an .html file"),
    (lambda t: compare_trace(t, policies=["fcfs"], report=t), "must name an .html file"),
    (lambda t: trace_info(t, format="xml"), "--format must be auto, swf, sacct or csv"),
])
def test_bad_options_are_config_errors(trace, call, message):
    with pytest.raises(ConfigError, match=message):
        call(trace)


# --- a trained runtime model in the simulation (estimate.train -> schedule.compare) ---------

def test_trained_runtime_model_is_a_leak_free_online_predictor(tmp_path):
    """The frozen model passes the online estimator contract (no leakage, deterministic)."""
    pytest.importorskip("lightgbm")
    from hpcopt.estimate.gbm import GBMEstimator
    from hpcopt.estimate.registry import TrainedPredictor
    from hpcopt.testing.checks.estimator import check_estimator, conformance_trace

    model = GBMEstimator(random_state=0).fit(conformance_trace(seed=1))
    summary = check_estimator(lambda: TrainedPredictor(model), name="trained")
    assert "answers" in summary["checks"]


def test_compare_with_a_registered_runtime_model_records_its_lineage(tmp_path):
    pytest.importorskip("lightgbm")
    from hpcopt.data.samples import sample_path
    from hpcopt.store import open_store
    from hpcopt.store.runner import run_task

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    trace = str(sample_path("hpc2n"))
    train = run_task("estimate.train", store=store, register="rt", register_alias="production", trace=trace,
                     model=str(tmp_path / "m"), seed=0)
    assert train.payload["registered"]["version"] == 1
    r = run_task("schedule.compare", store=store, trace=trace, policies=["sjf+easy"],
                 runtime_model="model:rt@production")
    base = run_task("schedule.compare", store=store, trace=trace, policies=["sjf+easy"], record=False)
    assert r.payload["runtime"] == "predicted:model" and base.payload["runtime"] == "requested"
    # learned estimates change the schedule: a different average wait than with requested times
    assert r.payload["policies"][0]["avg_wait"] != base.payload["policies"][0]["avg_wait"]
    run = store.get_run(r.provenance.run_id)
    assert run.input_models == ["rt:1"] and run.inputs["runtime_model"].startswith("dir:")
    with pytest.raises(ConfigError, match="replaces the runtime source"):
        run_task("schedule.compare", record=False, trace=trace, policies=["sjf+easy"], runtime="actual",
                 runtime_model=str(tmp_path / "m"))
