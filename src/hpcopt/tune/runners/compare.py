"""Interleaved measurement of a candidate against a baseline (B, C, B, C, ...), so that
drifts of a shared machine hit both alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpcopt.errors import InputError
from hpcopt.tune.results import Status
from hpcopt.tune.runners.base import Run
from hpcopt.tune.runners.command import _ProcessRunner


@dataclass
class Comparison:
    """Interleaved measurement of a candidate against a baseline."""

    baseline: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)

    @property
    def baseline_median(self) -> float:
        return float(np.median(self.baseline))

    @property
    def candidate_median(self) -> float:
        return float(np.median(self.candidate))

    @property
    def speedup(self) -> float:
        return self.baseline_median / self.candidate_median

    def speedup_spread(self) -> tuple[float, float]:
        """Interquartile range of the per-pair speedups (baseline_i / candidate_i)."""
        r = np.asarray(self.baseline) / np.asarray(self.candidate)
        q1, q3 = np.percentile(r, [25, 75])
        return float(q1), float(q3)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.speedup_spread()
        return {"baseline_median": self.baseline_median, "candidate_median": self.candidate_median,
                "speedup": self.speedup, "speedup_iqr": [lo, hi], "baseline_samples": self.baseline,
                "candidate_samples": self.candidate, "pairs": len(self.baseline)}


def interleaved(runner: _ProcessRunner, baseline: Mapping[str, Any] | Callable[[], Run],
                candidate: Mapping[str, Any] | Callable[[], Run], repeats: int = 9, warmup: int = 1) -> Comparison:
    """Measure baseline and candidate alternately (B, C, B, C, ...), so drifts of the machine
    hit both alike. Raises InputError if either fails (both were measured before)."""
    def once(what) -> Run:
        return what() if callable(what) else runner.run_once(what)

    comp = Comparison()
    for i in range(warmup + repeats):
        pair = []
        for what in (baseline, candidate):
            run = once(what)
            if run.status is not Status.OK:
                raise InputError(f"interleaved measurement failed: {run.message}", field="measurement")
            s = runner._sample(run)
            if isinstance(s, str):
                raise InputError(s, field="measurement")
            pair.append(s)
        if i >= warmup:
            comp.baseline.append(pair[0])
            comp.candidate.append(pair[1])
    if min(comp.baseline + comp.candidate) <= 0:
        raise InputError("a measured time is zero: the program runs too briefly for this timing", field="timing",
                         hint="use wall-clock timing, a larger input, or a time the program prints")
    return comp
