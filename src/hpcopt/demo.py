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


def _schedule_step(seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    from hpcopt.data import load_workload
    from hpcopt.data.samples import sample_path
    from hpcopt.schedule.compare import compare_policies

    w = load_workload(sample_path("hpc2n"))
    table, results = compare_policies(w, list(SCHEDULE_POLICIES), runtime="requested")
    rows = [{**r, "runtimes": "requested"} for r in table.to_dict(orient="records")]
    shown = {f"{p} (requested)": results[p] for p in ("fcfs+easy", "sjf+easy")}
    for runtime, policy in PREDICTED:
        t, res = compare_policies(w, [policy], runtime=runtime)
        label = {"actual": "actual (oracle)"}.get(runtime, runtime)
        rows.extend({**r, "runtimes": label} for r in t.to_dict(orient="records"))
        shown[f"{policy} ({label})"] = res[policy]
    return {"trace": "bundled:hpc2n", "jobs": int(len(w.jobs)), "policies": rows}, shown


def _detect_step(seed: int) -> dict[str, Any]:
    from hpcopt.data.samples import sample_path
    from hpcopt.data.telemetry import load_labelled_series
    from hpcopt.detect import make_detector
    from hpcopt.detect.evaluate import evaluate_series

    s = load_labelled_series(sample_path("smd-machine-1-6-day"), "machine-1-6")
    res = evaluate_series(make_detector(DEMO_DETECTOR, random_state=seed), s)
    base = evaluate_series(make_detector("random", random_state=seed), s, with_culprits=False)
    keys = ("f1", "precision", "recall", "auprc", "event_recall", "false_alarms_per_day", "hitrate_150")
    arrays = res.get("_arrays", {})
    alerts = arrays.get("alerts")
    det = arrays.get("detector")
    culprits = []
    if alerts is not None and det is not None and alerts.any():
        import numpy as np

        first = [int(i) for i in np.flatnonzero(alerts)[:3]]
        contrib = det.explain(s.test[first]) if hasattr(det, "explain") else None
        for k, row in enumerate(first):
            top = [] if contrib is None else [int(j) + 1 for j in np.argsort(-contrib[k])[:3]]
            culprits.append({"row": row, "top_metrics_1based": top})
    labelled = [{"rows": f"{g.start}-{g.end}", "metrics_1based": [m + 1 for m in g.metrics]} for g in s.interpretation]
    return {"series": "bundled:smd-machine-1-6-day", "detector": DEMO_DETECTOR, "rows": int(len(s.test)),
            "labelled_anomalous_rows": int(s.labels.sum()),
            "metrics": {k: res.get(k) for k in keys}, "random_baseline": {k: base.get(k) for k in keys},
            "first_alerts": culprits, "labelled_segments": labelled}


def _tune_step(seed: int) -> dict[str, Any]:
    from hpcopt.data.samples import sample_path
    from hpcopt.tune import compare_strategies, load_cache

    cache = load_cache(sample_path("kt-pnpoly-rtx3090"))
    # one run per strategy at the methodology's cutoff budget keeps the tour near a minute;
    # the score's spread over 10 runs is on the tuning results page
    out = compare_strategies([cache], ["random", "bo"], repeats=1, random_state=seed)
    space = out["spaces"][0] if "spaces" in out else {}
    scores = {name: s for name, s in (out.get("scores") or {}).items()}
    return {"cache": "bundled:kt-pnpoly-rtx3090", "configurations": int(cache.summary()["points"]),
            "optimum_ms": float(cache.optimum), "budget": space.get("budget"), "scores": scores,
            "note": "score 0 = random search's expected best-so-far, 1 = the optimum at every step "
                    "(the methodology of the tune issue note)", "_space": space}


def run_demo(report_path: str | Path | None = None, *, seed: int = 0, record: bool = True, store=None,
             progress: ProgressFn | None = None) -> Result:
    """Run the three steps, record each in the store, write the report; returns ``demo/1``."""
    prov = Provenance.start(parameters={"seed": seed}, seed=seed, libraries=("lightgbm", "sklearn", "optuna"))
    if record and store is None:
        from hpcopt.store import open_store

        store = open_store()
    steps: dict[str, Any] = {}
    runs: dict[str, str] = {}
    shown: dict[str, Any] = {}
    plan = (("schedule", _schedule_step), ("detect", _detect_step), ("tune", _tune_step))
    for k, (name, fn) in enumerate(plan):
        report(progress, k, len(plan), name)
        t0 = time.perf_counter()
        if record:
            with store.record(f"demo.{name}", parameters={"seed": seed}, seed=seed) as run:
                out = fn(seed)
                payload = out[0] if isinstance(out, tuple) else out
                run.set_result({k2: v for k2, v in payload.items() if not k2.startswith("_")})
            runs[name] = run.id
        else:
            out = fn(seed)
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
