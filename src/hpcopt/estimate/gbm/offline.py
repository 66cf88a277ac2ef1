"""GBMEstimator's offline face, scikit-learn style: ``fit(workload)``, ``predict``,
``predict_interval(X, confidence_level=0.9)``, ``explain`` (LightGBM's own SHAP values),
``drift_check``, ``save`` and ``load`` (:mod:`hpcopt.estimate.model_io`)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from hpcopt.errors import ConfigError, InputError
from hpcopt.estimate.features import replay_features
from hpcopt.estimate.gbm.boosters import (Explanation, as_frame, categorical_names, data_hash, is_workload,
                                          load_lightgbm)

DRIFT_THRESHOLD = 1.3  # recent error / training error above which a retrain is advised


class OfflineGBM:
    """fit / predict / predict_interval / explain / drift_check / save / load over
    :class:`~hpcopt.estimate.gbm.core.GBMBase`."""

    def fit(self, X, y=None, progress: Callable[[int, int, str], None] | None = None) -> "OfflineGBM":
        """Learn from a :class:`~hpcopt.data.workload.Workload` (features built honestly by
        replaying its events), or from a feature DataFrame ``X`` and runtimes ``y`` (seconds)
        in completion order."""
        self._validate_params()
        load_lightgbm()
        self._reset_learned()
        if progress:
            progress(0, 4, "features")
        if is_workload(X):
            frame, run, end, feats = replay_features(X, history=self.history)
            self._set_schema(feats)
            order = np.argsort(end, kind="stable")
            frame, run = frame.iloc[order], run[order]
            sub = X.column("submit")[frame.index.to_numpy()]
            self.train_window_ = {"jobs": int(len(run)), "first_submit": float(sub.min()),
                                  "last_submit": float(sub.max()), "source": X.source}
        else:
            if y is None:
                raise InputError("fit(X, y) needs the runtimes y when X is a feature table",
                                 hint="pass a Workload, or X and y")
            frame = as_frame(X, None)
            run = np.asarray(y, dtype=float)
            if len(run) != len(frame):
                raise InputError(f"X has {len(frame)} rows but y has {len(run)} values")
            self.feature_names_ = list(frame.columns)
            self.categorical_features_ = [c for c in frame.columns if c in categorical_names()]
            self.dropped_features_ = {}
            self.vocab_ = {}
            self.train_window_ = {"jobs": int(len(run))}
        if len(run) < self.min_train_jobs:
            raise InputError(f"only {len(run)} jobs with a runtime to learn from; at least {self.min_train_jobs} are needed",
                             hint="use a longer trace or lower min_train_jobs")
        if not np.isfinite(run).all() or (run < 0).any():
            raise InputError("runtimes must be finite and >= 0")
        Xa = frame.to_numpy(dtype=np.float64)
        y_log = np.log1p(run)
        n_cal = max(int(round(self.calibration_fraction * len(y_log))), 1)
        # Held-out error of a point model that did not see the calibration jobs: the
        # reference for the drift check.
        if progress:
            progress(1, 4, "held-out error")
        probe = self._point_model(Xa[:-n_cal], y_log[:-n_cal],
                                  int((len(y_log) - n_cal) * (1 - self.calibration_fraction)) if self.early_stopping else None)
        ref = float(np.mean(np.abs(probe.predict(Xa[-n_cal:], num_threads=1) - y_log[-n_cal:])))
        if progress:
            progress(2, 4, "training")
        self._train(Xa, y_log, ref)
        req = np.expm1(frame["log_req_time"].to_numpy()) if "log_req_time" in frame else np.full(len(frame), -1.0)
        req = np.where(np.isfinite(req), req, -1.0)
        _, lo, hi = self._predict_arrays(Xa[-n_cal:], req[-n_cal:])
        point = self._predict_arrays(Xa, req)[0]
        self.training_metrics_ = {
            "calibration_jobs": int(n_cal),
            "calibration_log_mae": ref,
            "calibration_coverage": float(np.mean((run[-n_cal:] >= lo) & (run[-n_cal:] <= hi))),
            "in_sample_mae_s": float(np.mean(np.abs(point - run))),
            "conformal_q": float(self.q_),
        }
        self.data_hash_ = data_hash(Xa, run)
        if progress:
            progress(4, 4, "done")
        return self

    def features(self, X, allow_missing: bool = False) -> pd.DataFrame:
        """The model's features for a Workload (honest replay) or a feature DataFrame."""
        self._check_fitted()
        if is_workload(X):
            frame, _, _, feats = replay_features(X, history=self.history, vocab=self.vocab_, keep=self.feature_names_)
            if feats.missing and not allow_missing:
                raise InputError(
                    f"the trace lacks features the model was trained with: {', '.join(feats.missing)}",
                    source=X.source, hint="predict anyway with allow_missing=True (--allow-missing): they are left empty",
                )
            self.missing_features_ = list(feats.missing)
            return frame
        return as_frame(X, self.feature_names_, allow_missing)

    def predict(self, X, allow_missing: bool = False) -> np.ndarray:
        """Point estimates in seconds (capped at the requested time)."""
        frame = self.features(X, allow_missing)
        return self._predict_arrays(frame.to_numpy(dtype=np.float64), self._req_of(frame))[0]

    def predict_interval(self, X, confidence_level: float | None = None, allow_missing: bool = False):
        """(estimates, intervals) with intervals of shape (n, 2) in seconds.

        At another ``confidence_level`` than the fitted one the same quantile models are
        used with the correction recomputed from the stored calibration scores (still a
        valid split-conformal interval, if wider than one fitted for that level)."""
        if confidence_level is not None and not (0 < confidence_level < 1):
            raise ConfigError(f"confidence_level must be in (0, 1); got {confidence_level!r}")
        frame = self.features(X, allow_missing)
        point, lo, hi = self._predict_arrays(frame.to_numpy(dtype=np.float64), self._req_of(frame), confidence_level)
        return point, np.column_stack([lo, hi])

    def explain(self, X, allow_missing: bool = False) -> Explanation:
        """LightGBM's TreeSHAP contributions of each feature to the point model (log space)."""
        frame = self.features(X, allow_missing)
        Xa = frame.to_numpy(dtype=np.float64)
        contrib = self.point_.predict(Xa, pred_contrib=True, num_threads=1)
        raw = self.point_.predict(Xa, num_threads=1)
        return Explanation(frame, pd.DataFrame(contrib[:, :-1], columns=frame.columns, index=frame.index),
                           contrib[:, -1], raw)

    def drift_check(self, X=None, y=None, window: int = 1000, threshold: float = DRIFT_THRESHOLD) -> dict[str, Any]:
        """Recent log error vs the error measured at training; advises a retrain above
        ``threshold`` times. Without X: the latest ``window`` jobs estimated online."""
        self._check_fitted()
        ref = getattr(self, "training_error_", None)
        if X is None:
            rows = np.asarray(self.completed_rows_[-window:], dtype=int)
            rows = rows[self.trained_[rows]] if len(rows) else rows
            if len(rows) == 0:
                raise ConfigError("no job estimated by a trained model has completed yet")
            err = np.abs(np.log1p(self.model_estimate_[rows]) - np.log1p(self.runtime_seen_[rows]))
        else:
            if is_workload(X):
                frame = self.features(X)
                run = X.column("runtime")[frame.index.to_numpy()].astype(float)
            else:
                frame = self.features(X)
                if y is None:
                    raise InputError("drift_check(X, y) needs the runtimes y with a feature table")
                run = np.asarray(y, dtype=float)
            pred = self._predict_arrays(frame.to_numpy(dtype=np.float64), self._req_of(frame))[0]
            err = np.abs(np.log1p(pred) - np.log1p(run))[-window:]
        recent = float(np.mean(err))
        ratio = recent / ref if ref else math.inf
        retrain = bool(ratio > threshold)
        advice = (f"retrain: recent error {recent:.3f} is {ratio:.2f}x the training error {ref:.3f}"
                  if retrain else f"no retrain needed: recent error {recent:.3f} vs training error {ref:.3f} ({ratio:.2f}x)")
        return {"recent_log_mae": recent, "training_log_mae": ref, "ratio": ratio, "threshold": threshold,
                "jobs": int(len(err)), "retrain": retrain, "advice": advice}

    def save(self, path, *, force: bool = False) -> Any:
        """Write the fitted model and its metadata to a directory, atomically; a non-empty
        existing directory is replaced only with ``force`` (see model_io)."""
        from hpcopt.estimate.model_io import save_model

        return save_model(self, path, force=force)

    @classmethod
    def load(cls, path) -> "OfflineGBM":
        from hpcopt.estimate.model_io import load_model

        return load_model(path)
