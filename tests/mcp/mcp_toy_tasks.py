"""Small real tasks the MCP tests serve (imported by the tests and by the server subprocesses).

They read and write real files, so recording, artifacts, model registration and lineage
go through the same runner as the capabilities' tasks.
"""

from __future__ import annotations

import gzip
import html
import json
import threading
import time
from pathlib import Path
from typing import Literal, TypedDict

from hpcopt.core.progress import ProgressFn, report
from hpcopt.core.tasks import task
from hpcopt.errors import ConfigError, InputError

TOY_TASKS = ("testing.mcp_echo", "testing.mcp_count", "testing.mcp_fit", "testing.mcp_predict",
             "testing.mcp_report", "testing.mcp_typed", "testing.mcp_lines")


def _numbers(path: str | Path) -> list[float]:
    out = []
    for i, tok in enumerate(Path(path).read_text().split(), 1):
        try:
            out.append(float(tok))
        except ValueError:
            raise InputError(f"'{tok}' is not a number", source=str(path), field=f"value {i}",
                             hint="the file holds numbers separated by white space") from None
    return out


@task("testing.mcp_echo", seed=None)
def echo(text: str = "ping") -> dict:
    """Return the text unchanged (a trivial task, for overhead measurements)."""
    return {"text": text}


@task("testing.mcp_count", seed=None)
def count(n: int = 5, delay_s: float = 0.0, in_thread: bool = False, progress: ProgressFn | None = None) -> dict:
    """Count to n, reporting progress after each step.

    n: how many steps, 1 to 1000.
    delay_s: seconds to wait at each step.
    in_thread: count (and report) in a thread of the task's own, as a parallel library would.
    """
    if not 1 <= n <= 1000:
        raise ConfigError(f"The 'n' parameter of testing.mcp_count must be an int in the range [1, 1000]; got {n} "
                          "instead.")

    def steps():
        for i in range(1, n + 1):
            time.sleep(delay_s)
            report(progress, i, n, f"step {i}")

    if in_thread:
        th = threading.Thread(target=steps)
        th.start()
        th.join()
    else:
        steps()
    return {"n": n, "sum": n * (n + 1) // 2}


@task("testing.mcp_fit", inputs=("data",), outputs=("model",))
def fit(data: str | Path, model: str | Path, seed: int = 0) -> dict:
    """Fit the mean of the numbers in a file and write it as a one-file model directory."""
    xs = _numbers(data)
    mean = sum(xs) / len(xs)
    Path(model).mkdir(parents=True, exist_ok=True)
    (Path(model) / "model.json").write_text(json.dumps({"mean": mean}))
    return {"mean": mean, "n": len(xs), "model_kind": "toy-mean", "metrics": {"mean": mean}}


@task("testing.mcp_predict", inputs=("model", "data"), seed=None)
def predict(model: str | Path, data: str | Path) -> dict:
    """Predict every number by the model's mean; the mean absolute error."""
    mean = json.loads((Path(model) / "model.json").read_text())["mean"]
    xs = _numbers(data)
    return {"mean": mean, "mae": sum(abs(x - mean) for x in xs) / len(xs)}


@task("testing.mcp_report", inputs=("data",), outputs=("report",), seed=None)
def write_report(data: str | Path, report: str | Path, title: str = "numbers") -> dict:
    """Write an HTML page with the sum of the numbers in a file."""
    total = sum(_numbers(data))
    Path(report).write_text(f"<html><head><title>{html.escape(title)}</title></head>"
                            f"<body><p>sum = {total:g}</p></body></html>")
    return {"sum": total}


class Stats(TypedDict):
    low: float
    high: float
    kind: Literal["range", "span"]


class Helper:  # an in-process object: no JSON form, so not settable over MCP
    pass


@task("testing.mcp_typed", seed=None)
def typed(values: list[float], kind: Literal["range", "span"] = "range", helper: Helper | None = None) -> Stats:
    """The low and high ends of some values.

    values: the numbers, at least one.
    kind: what to call the result.
    """
    if not values:
        raise ConfigError("The 'values' parameter of testing.mcp_typed must be a non-empty list; got [] instead.")
    return {"low": min(values), "high": max(values), "kind": kind}


@task("testing.mcp_lines", inputs=("trace",), seed=None)
def lines(trace: str | Path) -> dict:
    """Count the job lines (not comments) of a gzipped SWF trace."""
    with gzip.open(trace, "rt") as fh:
        n = sum(1 for line in fh if line.strip() and not line.lstrip().startswith(";"))
    return {"jobs": n}
