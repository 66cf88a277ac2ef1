"""Tasks the service tests run (imported by the service and by its spawned workers)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hpcopt.core.tasks import task
from hpcopt.errors import InputError


@task("testing.serve_sum", inputs=("data",), outputs=("out",))
def serve_sum(data: str | Path, scale: float = 1.0, out: str | Path | None = None, seed: int = 0,
              progress=None) -> dict:
    """Sum the numbers in a file, times ``scale``; optionally write the total to ``out``."""
    numbers = [float(x) for x in Path(data).read_text().split()]
    if progress is not None:
        progress(len(numbers), len(numbers), "summed")
    total = sum(numbers) * scale
    if out is not None:
        Path(out).write_text(json.dumps({"total": total}))
    return {"total": total, "n": len(numbers)}


@task("testing.serve_slow")
def serve_slow(steps: int = 10, step_s: float = 0.2, progress=None) -> dict:
    """Sleep ``steps`` times ``step_s`` seconds, reporting progress after each step."""
    for i in range(steps):
        time.sleep(step_s)
        if progress is not None:
            progress(i + 1, steps, f"step {i + 1}")
    return {"steps": steps}


@task("testing.serve_fail", inputs=("data",))
def serve_fail(data: str | Path) -> dict:
    """Always refuses its input (an InputError naming the file)."""
    raise InputError("not a trace", source=str(data), line=1, hint="give a real trace")


@task("testing.serve_stream", outputs=("gauges_out",))
def serve_stream(gauges_out: str | Path, steps: int = 100, step_s: float = 0.05, progress=None) -> dict:
    """Keep a stream's live state (alerts per node, a score) as a Prometheus text file."""
    from hpcopt.core.files import atomic_write_text

    for i in range(steps):
        atomic_write_text(Path(gauges_out), (
            "# HELP hpcopt_detect_alerts_total alerts raised\n# TYPE hpcopt_detect_alerts_total counter\n"
            f'hpcopt_detect_alerts_total{{entity="n1"}} {i}\nhpcopt_detect_alerts_total{{entity="n2"}} {2 * i}\n'
            "# HELP hpcopt_detect_score last anomaly score\n# TYPE hpcopt_detect_score gauge\n"
            f'hpcopt_detect_score{{entity="n1"}} {0.5 + i}\n'))
        time.sleep(step_s)
        if progress is not None:
            progress(i + 1, steps, "")
    return {"steps": steps}


@task("testing.serve_fit", inputs=("data",), outputs=("model",))
def serve_fit(data: str | Path, model: str | Path, seed: int = 0) -> dict:
    """'Fit' the mean of a file's numbers into a one-file model directory."""
    numbers = [float(x) for x in Path(data).read_text().split()]
    Path(model).mkdir(parents=True, exist_ok=True)
    mean = sum(numbers) / len(numbers)
    (Path(model) / "model.json").write_text(json.dumps({"mean": mean}))
    return {"mean": mean, "model_kind": "toy-mean", "metrics": {"mean": mean}}


@task("testing.serve_use", inputs=("model",))
def serve_use(model: str | Path, x: float = 0.0) -> dict:
    """Apply a fitted toy model: ``x`` minus the mean."""
    return {"residual": x - json.loads((Path(model) / "model.json").read_text())["mean"]}
