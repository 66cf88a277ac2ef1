"""The tour of hpcopt on bundled real data: ``hpcopt demo``.

Three steps, each beside its baselines, each recorded in the run store:

1. **Scheduling** on 3,170 real HPC2N jobs: FCFS, the classic heuristics with EASY
   backfilling, SJF+EASY with the online runtime predictions (Tsafrir's, and the learned
   LightGBM model that learns only from jobs finished in the simulation), and the oracle
   (actual runtimes) as the bound no predictor can pass.
2. **Anomaly detection** on one day of SMD machine-1-6: a detector fitted on the training
   day, a threshold from training scores only (no labels), alerts and culprit metrics
   scored against the labelled segments, beside a random detector with the same
   threshold rule.
3. **Autotuning replay** of a real Kernel Tuner cache (pnpoly on an RTX 3090): Bayesian
   optimisation against random search at the methodology's cutoff budget (one run each).

The result (schema ``demo/1``) holds every table; one HTML report shows them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hpcopt.core.progress import ProgressFn, report
from hpcopt.core.results import Provenance, Result

DEMO_DETECTOR = "mad"
SCHEDULE_POLICIES = ("fcfs", "fcfs+easy", "sjf+easy", "wfp3+easy", "f1+easy")
PREDICTED = (("predicted:tsafrir", "sjf+easy"), ("predicted:gbm", "sjf+easy"), ("actual", "sjf+easy"))


def _schedule_step(seed: int, run) -> tuple[dict[str, Any], dict[str, Any]]:
    from hpcopt.data.samples import sample_path

    trace = str(sample_path("hpc2n"))
    r = run("schedule.compare", trace=trace, policies=list(SCHEDULE_POLICIES), runtime="requested")
    rows = [{**row, "runtimes": "requested"} for row in r.payload["policies"]]
    sims = r.extras["simulations"]
    shown = {f"{p} (requested)": sims[p] for p in ("fcfs+easy", "sjf+easy")}
    for runtime, policy in PREDICTED:
        r = run("schedule.compare", trace=trace, policies=[policy], runtime=runtime)
        label = {"actual": "actual (oracle)"}.get(runtime, runtime)
        rows.extend({**row, "runtimes": label} for row in r.payload["policies"])
        shown[f"{policy} ({label})"] = r.extras["simulations"][policy]
    return {"trace": "bundled:hpc2n", "jobs": int(r.payload["cleaning"]["jobs_in"]), "policies": rows}, shown


def _detect_step(seed: int, run) -> dict[str, Any]:
    from hpcopt.data.samples import sample_path
    from hpcopt.data.telemetry import load_labelled_series

    d = sample_path("smd-machine-1-6-day")
    part = {sub: str(next((d / sub).iterdir())) for sub in ("train", "test", "test_label", "interpretation_label")}
    # one SMD day is shorter than the default recentring window: recentring off, as for NAB and HPAS
    r = run("detect.evaluate", train=part["train"], test=part["test"], labels=part["test_label"],
            interpretation=part["interpretation_label"], detector=DEMO_DETECTOR, threshold="pot",
            recenter_window=0, seed=seed)
    p = r.payload
    keys = ("f1", "precision", "recall", "auprc", "event_recall", "false_alarms_per_day", "hitrate_150")
    base = p["random_baseline"]
    culprits = [{"rows": f"{a['start']}-{a['end'] - 1}", "top_metrics_1based": [c["metric"] for c in a["culprits"]]}
                for a in p["alerts"][:3]]
    s = load_labelled_series(d, "machine-1-6")  # the labelled segments, shown beside the culprits
    labelled = [{"rows": f"{g.start}-{g.end}", "metrics_1based": [m + 1 for m in g.metrics]} for g in s.interpretation]
    return {"series": "bundled:smd-machine-1-6-day", "detector": DEMO_DETECTOR, "rows": int(p["n_test"]),
            "labelled_anomalous_rows": int(s.labels.sum()),
            "metrics": {k: p.get(k) for k in keys}, "random_baseline": {k: base.get(k) for k in keys},
            "first_alerts": culprits, "labelled_segments": labelled}


def _tune_step(seed: int, run) -> dict[str, Any]:
    from hpcopt.data.samples import sample_path

    cache = str(sample_path("kt-pnpoly-rtx3090"))
    # one run per strategy at the methodology's cutoff budget keeps the tour near a minute;
    # the score's spread over 10 runs is on the tuning results page
    r = run("tune.compare_strategies", caches=[cache], strategies=["random", "bo"], repeats=1, seed=seed)
    space = r.extras["comparison"]["spaces"][0]
    return {"cache": "bundled:kt-pnpoly-rtx3090", "configurations": int(space.get("points") or space.get("size") or 0),
            "optimum_ms": space.get("optimum"), "budget": space.get("budget"),
            "scores": dict(r.payload.get("scores") or {}),
            "note": "score 0 = random search's expected best-so-far, 1 = the optimum at every step "
                    "(the methodology of the tune issue note)", "_space": space}


def run_demo(report_path: str | Path | None = None, *, seed: int = 0, record: bool = True, store=None,
             progress: ProgressFn | None = None) -> Result:
    """Run the three steps through their tasks (each run recorded in the store), write the report; ``demo/1``."""
    from hpcopt.store.runner import run_task

    prov = Provenance.start(parameters={"seed": seed}, seed=seed, libraries=("lightgbm", "sklearn", "optuna"))
    if record and store is None:
        from hpcopt.store import open_store

        store = open_store()
    runs: dict[str, list[str]] = {}
    steps: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    plan = (("schedule", _schedule_step), ("detect", _detect_step), ("tune", _tune_step))
    for k, (name, fn) in enumerate(plan):
        report(progress, k, len(plan), name)
        t0 = time.perf_counter()

        def run(task_name: str, _step=name, **params: Any) -> Result:
            r = run_task(task_name, record=record, store=store, **params)
            if r.provenance.run_id:
                runs.setdefault(_step, []).append(r.provenance.run_id)
            return r

        out = fn(seed, run)
        if isinstance(out, tuple):
            out, shown = out
        out["seconds"] = round(time.perf_counter() - t0, 2)
        steps[name] = out
    report(progress, len(plan), len(plan), "report")
    payload = {"steps": {n: {k: v for k, v in s.items() if not k.startswith("_")} for n, s in steps.items()},
               "runs": runs}
    if report_path is not None:
        from hpcopt.report.demo import write_demo_report

        payload["report"] = str(write_demo_report(report_path, steps, shown))
    return Result("demo", 1, payload, prov.finish())
