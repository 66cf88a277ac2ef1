"""Baseline runtime estimators (online, see :mod:`hpcopt.estimate.protocol`)."""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np
import pandas as pd

# Used when a job has neither a request nor any history to go on.
DEFAULT_FALLBACK = 3600.0


class _Fallback:
    """Median runtime of the jobs completed so far (a fixed value before any)."""

    def __init__(self) -> None:
        self._runtimes: list[float] = []
        self._median = DEFAULT_FALLBACK
        self._dirty = False

    def add(self, runtime: float) -> None:
        self._runtimes.append(runtime)
        self._dirty = True

    def value(self) -> float:
        if self._dirty:
            self._median = float(np.median(self._runtimes))
            self._dirty = False
        return self._median


class RequestedTime:
    """The user's requested time (the wall-clock limit); the median completed runtime
    when a job has no request."""

    name = "requested"

    def start(self, jobs: pd.DataFrame, header: dict[str, str]) -> None:
        self.req_ = jobs["req_time"].to_numpy(dtype=np.float64)
        self.fallback_ = _Fallback()

    def on_submit(self, row: int, now: float) -> tuple[float, float]:
        r = self.req_[row]
        est = r if r > 0 else self.fallback_.value()
        return est, est

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        self.fallback_.add(runtime)


class Tsafrir:
    """Tsafrir, Etsion & Feitelson (2007): the mean runtime of the same user's last two
    completed jobs, capped at the requested time; the requested time without history
    (the median completed runtime when there is no request either)."""

    name = "tsafrir"

    def __init__(self, history: int = 2) -> None:
        self.history = history

    def start(self, jobs: pd.DataFrame, header: dict[str, str]) -> None:
        self.req_ = jobs["req_time"].to_numpy(dtype=np.float64)
        self.user_ = jobs["user"].to_numpy()
        self.last_: dict[int, deque] = defaultdict(lambda: deque(maxlen=self.history))
        self.fallback_ = _Fallback()

    def on_submit(self, row: int, now: float) -> tuple[float, float]:
        req = self.req_[row]
        hist = self.last_.get(int(self.user_[row])) if self.user_[row] >= 0 else None
        if hist:
            est = float(np.mean(hist))
            if req > 0:
                est = min(est, req)
        else:
            est = req if req > 0 else self.fallback_.value()
        return est, (req if req > 0 else est)

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        if self.user_[row] >= 0:
            self.last_[int(self.user_[row])].append(runtime)
        self.fallback_.add(runtime)
