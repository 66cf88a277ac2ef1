"""Per-user choice between estimators, on evidence from the user's completed jobs.

Source 0 is the default (a learned model); the others are alternatives (baselines). For
each user the accuracy and absolute error of every source on the user's last ``window``
completed jobs are kept; an alternative is chosen only when

- its accuracy is higher than the default's by more than ``z`` standard errors of the
  per-job paired difference (a one-sided paired test), and
- its mean absolute error on those jobs is no higher than the default's,

and among such alternatives the one with the largest test statistic wins. Everything is
built from completions only, so it fits the online protocol.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from hpcopt.estimate.metrics import tsafrir_accuracy


class PerUserSelection:
    def __init__(self, n_sources: int, window: int = 20, z: float = 2.0, min_jobs: int = 5) -> None:
        if n_sources < 1:
            raise ValueError("PerUserSelection needs at least one source")
        if window < min_jobs or min_jobs < 2:
            raise ValueError(f"window ({window}) must be >= min_jobs ({min_jobs}) >= 2")
        self.n_sources = n_sources
        self.window = window
        self.z = z
        self.min_jobs = min_jobs
        self._acc: dict[int, deque] = {}
        self._err: dict[int, deque] = {}

    def choose(self, user: int) -> int:
        """The source to use for the user's next job (0 without enough evidence)."""
        acc = self._acc.get(user)
        if acc is None or len(acc) < self.min_jobs or self.n_sources == 1:
            return 0
        a = np.asarray(acc)
        e = np.asarray(self._err[user])
        diff = a[:, 1:] - a[:, :1]
        mean = diff.mean(axis=0)
        se = diff.std(axis=0, ddof=1) / np.sqrt(len(a))
        # A zero spread with a positive mean is overwhelming evidence; with a zero mean, none.
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se > 0, mean / np.where(se > 0, se, 1.0), np.where(mean > 0, np.inf, -np.inf))
        t = np.where(e[:, 1:].mean(axis=0) <= e[:, 0].mean(), t, -np.inf)
        best = int(np.argmax(t))
        return best + 1 if t[best] > self.z else 0

    def update(self, user: int, estimates: np.ndarray, runtime: float) -> None:
        """The user's job ran ``runtime`` seconds; ``estimates`` are the sources' estimates
        made for it at submission."""
        est = np.asarray(estimates, dtype=np.float64)
        if user not in self._acc:
            self._acc[user] = deque(maxlen=self.window)
            self._err[user] = deque(maxlen=self.window)
        self._acc[user].append(tsafrir_accuracy(est, np.full(len(est), runtime)))
        self._err[user].append(np.abs(est - runtime))
