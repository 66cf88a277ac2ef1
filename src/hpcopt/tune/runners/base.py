"""What every runner shares: the record of one execution (:class:`Run`), the output
check against a reference (:class:`OutputCheck`) and the shaping of samples into a
:class:`~hpcopt.tune.results.Result` (median, objectives)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpcopt.tune.observers import aggregate
from hpcopt.tune.results import Result, Status


_TIMINGS = ("wall", "user", "output")


@dataclass
class Run:
    """One execution: its time(s), output and status."""

    status: Status
    wall: float = math.nan
    user: float = math.nan
    output: str = ""
    message: str = ""
    max_rss: float = math.nan   # MiB, peak resident set of the child
    energy: float = math.nan    # J, RAPL packages, when observed


_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.IGNORECASE)


@dataclass
class OutputCheck:
    """Compares program output with a reference.

    ``pattern``: a regex; all its matches' groups (or whole matches) are compared. With
    ``rtol``/``atol`` both ``None`` the comparison is exact (as text); otherwise the values
    are read as numbers and must agree within the tolerance.
    """

    pattern: str | None = None
    rtol: float | None = None
    atol: float | None = None
    reference: str | None = None

    def extract(self, output: str) -> list[str]:
        if self.pattern is None:
            return [output.strip()]
        out = []
        for m in re.finditer(self.pattern, output, flags=re.MULTILINE):
            out.extend(m.groups() if m.groups() else [m.group(0)])
        return out

    def compare(self, output: str) -> str | None:
        """None when the output matches the reference, else the reason."""
        if self.reference is None:
            return None
        got, want = self.extract(output), self.extract(self.reference)
        if len(got) != len(want):
            return f"expected {len(want)} checked values, got {len(got)}"
        if self.rtol is None and self.atol is None:
            for g, w in zip(got, want):
                if g != w:
                    return f"output {g!r} differs from the reference {w!r}"
            return None
        for g, w in zip(got, want):
            gn, wn = _NUM.findall(g), _NUM.findall(w)
            if len(gn) != len(wn):
                return f"output {g!r} does not have the reference's numbers {w!r}"
            a, b = np.array(gn, dtype=float), np.array(wn, dtype=float)
            if not np.allclose(a, b, rtol=self.rtol or 0.0, atol=self.atol or 0.0, equal_nan=False):
                return f"output {g!r} differs from the reference {w!r} beyond rtol={self.rtol}, atol={self.atol}"
        return None


def _summarise(samples: list[float], extra: dict[str, Any] | None = None) -> Result:
    return Result.success(float(np.median(samples)), samples, extra=extra)


def _with_objectives(objectives: Sequence[str], time_samples: list[float], rss: list[float],
                     energy: list[float], extra: dict[str, Any]) -> Result:
    """A Result whose values are the objectives, in order (time as the median of the samples)."""
    per = {"time": time_samples, "max_rss": rss, "energy": energy}
    if any(not math.isnan(v) for v in rss):
        extra["max_rss_mib"] = aggregate("max_rss", rss)
    if any(not math.isnan(v) for v in energy):
        extra["energy_j"] = aggregate("energy", energy)
    vals = [aggregate(o, per[o]) for o in objectives]
    missing = [o for o, v in zip(objectives, vals) if math.isnan(v)]
    if missing:
        return Result.failure(Status.RUNTIME_ERROR, f"objective(s) {', '.join(missing)} could not be observed",
                              extra=extra)
    if list(objectives) == ["time"]:
        return Result.success(vals[0], time_samples, extra=extra)
    return Result.success(vals[0], per[objectives[0]], values=vals, extra={**extra, "objectives": list(objectives)})
