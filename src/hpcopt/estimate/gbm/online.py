"""GBMEstimator's online face (:class:`hpcopt.estimate.protocol.OnlineEstimator`).

Features come from :class:`~hpcopt.estimate.features.OnlineFeatures`; the models are
(re)trained on a schedule from completed jobs only; until the first training the answer
is Tsafrir's. A last stage chooses per user between the model and the two baselines
(:class:`~hpcopt.estimate.selection.PerUserSelection`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hpcopt.estimate.baselines import RequestedTime, Tsafrir
from hpcopt.estimate.conformal import aci_level, aci_update
from hpcopt.estimate.features import OnlineFeatures
from hpcopt.estimate.gbm.boosters import data_hash, load_lightgbm
from hpcopt.estimate.gbm.core import MIN_SELECTION_JOBS
from hpcopt.estimate.selection import PerUserSelection

# Online estimate sources, in the order of ``source_`` codes.
SOURCES = ("model", "requested", "tsafrir")


class OnlineGBM:
    """start / on_submit / on_complete over :class:`~hpcopt.estimate.gbm.core.GBMBase`."""

    SOURCES = SOURCES

    def start(self, jobs: pd.DataFrame, header: dict[str, str]) -> None:
        self._validate_params()
        load_lightgbm()
        self._reset_learned()
        self.features_ = OnlineFeatures(jobs, header, history=self.history)
        self._set_schema(self.features_)
        n = len(jobs)
        self.X_ = np.full((n, len(self.feature_names_)), np.nan)
        self.req_ = jobs["req_time"].to_numpy(dtype=np.float64)
        self.estimate_ = np.full(n, np.nan)  # the estimate answered (after the per-user choice)
        self.model_estimate_ = np.full(n, np.nan)  # the model's own (Tsafrir's before the first training)
        self.candidates_ = np.full((n, len(SOURCES)), np.nan)
        self.source_ = np.zeros(n, dtype=np.int8)  # index into SOURCES
        self.user_ = jobs["user"].to_numpy() if "user" in jobs else np.full(n, -1)
        self.requested_baseline_ = RequestedTime()
        self.requested_baseline_.start(jobs, header)
        self.selection_ = (PerUserSelection(len(SOURCES), self.selection_window, self.selection_z, MIN_SELECTION_JOBS)
                           if self.selection_window is not None else None)
        self.lower_ = np.full(n, np.nan)
        self.upper_ = np.full(n, np.nan)
        self.trained_ = np.zeros(n, dtype=bool)  # estimate made by a trained model
        self.completed_rows_: list[int] = []
        self.completed_runtime_: list[float] = []
        self.completed_end_: list[float] = []
        self.submit_time_ = np.full(n, np.nan)
        self.runtime_seen_ = np.full(n, np.nan)
        self._since_train = 0
        self._last_train_time = -math.inf
        self.fallback_ = Tsafrir()
        self.fallback_.start(jobs, header)
        self.alpha_t_ = 1.0 - self.confidence_level
        self.train_log_: list[dict[str, Any]] = []

    def _due(self, now: float) -> bool:
        done = len(self.completed_rows_)
        if done < self.min_train_jobs or self._since_train == 0:
            return False
        if not self.is_trained:
            return True
        # Early on, retrain whenever the completed jobs have doubled since the last
        # training (200, 400, 800, ...): small traces get a model that keeps up.
        if self._since_train >= getattr(self, "n_train_", 0) and self._since_train >= self.min_train_jobs:
            return True
        if self.retrain_every is not None and self._since_train >= self.retrain_every:
            return True
        if self.retrain_interval is not None and now - self._last_train_time >= self.retrain_interval:
            return True
        return False

    def _online_train(self, now: float) -> None:
        rows = np.asarray(self.completed_rows_)
        y = np.log1p(np.asarray(self.completed_runtime_))
        if self.max_train_jobs is not None and len(rows) > self.max_train_jobs:
            rows, y = rows[-self.max_train_jobs:], y[-self.max_train_jobs:]
        # Reference error for the drift check: the online (out-of-sample) log error of the
        # most recent jobs that trained models had estimated.
        trained = self.trained_[rows]
        ref = None
        if trained.any():
            r = rows[trained][-max(self.min_train_jobs, 1):]
            ref = float(np.mean(np.abs(np.log1p(self.model_estimate_[r]) - np.log1p(np.asarray(self._runtime_of(r))))))
        self._train(self.X_[rows], y, ref)
        self.data_hash_ = data_hash(self.X_[rows], y)
        self.train_window_ = {
            "jobs": int(len(rows)),
            "first_submit": float(np.nanmin(self.submit_time_[rows])),
            "last_submit": float(np.nanmax(self.submit_time_[rows])),
            "trained_at": float(now),
        }
        self.train_log_.append({**self.train_window_, "q": self.q_})
        self._since_train = 0
        self._last_train_time = now

    def _runtime_of(self, rows: np.ndarray) -> np.ndarray:
        return self.runtime_seen_[rows]

    def on_submit(self, row: int, now: float) -> tuple[float, float]:
        if self._due(now):
            self._online_train(now)
        x = self.features_.at_submit(row, now)
        self.X_[row] = x
        self.submit_time_[row] = now
        if self.is_trained:
            point, lower, upper = self._predict_arrays(x[None, :], self.req_[row:row + 1], self._online_level())
            est, lo, hi = float(point[0]), float(lower[0]), float(upper[0])
            self.trained_[row] = True
        else:
            est, hi = self.fallback_.on_submit(row, now)
            lo = 0.0
            if not math.isfinite(hi) or hi <= 0:
                hi = math.inf
        self.model_estimate_[row], self.lower_[row], self.upper_[row] = est, lo, hi
        est = self._choose(row, now, est)
        self.estimate_[row] = est
        return est, hi

    def _choose(self, row: int, now: float, model_est: float) -> float:
        """The per-user choice between the model and the baselines (see the module doc)."""
        cand = self.candidates_[row]
        cand[0] = model_est
        cand[1] = self.requested_baseline_.on_submit(row, now)[0]
        cand[2] = self.fallback_.on_submit(row, now)[0]
        user = int(self.user_[row])
        if self.selection_ is None or user < 0:
            return model_est
        src = self.selection_.choose(user)
        self.source_[row] = src
        return float(cand[src])

    def _online_level(self) -> float:
        """The level the conformal correction is taken at: the nominal one, moved by
        adaptive conformal inference after each completion (up after a miss, down after a
        hit), so that long-run coverage tracks the nominal one even when runtimes drift
        between retrains."""
        return aci_level(self.alpha_t_, len(self.calibration_scores_))

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        if self.adaptive_gamma and self.trained_[row] and not math.isnan(self.submit_time_[row]):
            miss = not (self.lower_[row] <= runtime <= self.upper_[row])
            self.alpha_t_ = aci_update(self.alpha_t_, self.adaptive_gamma, self.confidence_level, miss)
        self.features_.on_complete(row, now, runtime)
        self.fallback_.on_complete(row, now, runtime)
        self.requested_baseline_.on_complete(row, now, runtime)
        self.runtime_seen_[row] = runtime
        if math.isnan(self.submit_time_[row]):
            return  # completion of a job never submitted to us: no feature vector to learn from
        if self.selection_ is not None and self.user_[row] >= 0:
            self.selection_.update(int(self.user_[row]), self.candidates_[row], runtime)
        self.completed_rows_.append(row)
        self.completed_runtime_.append(runtime)
        self.completed_end_.append(now)
        self._since_train += 1
