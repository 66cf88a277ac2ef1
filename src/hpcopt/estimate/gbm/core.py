"""GBMEstimator's parameters and training core, shared by its online and offline faces.

``__init__`` only stores parameters (:class:`~hpcopt.core.params.ParamsMixin` gives
``get_params``/``set_params``/``clone``/``repr``); ``_validate_params`` checks them against
``_parameter_constraints`` when training starts. ``_train`` fits the point and quantile
boosters and calibrates the conformal correction; ``_predict_arrays`` turns feature rows
into estimates and intervals in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hpcopt.core.params import Interval, Options, ParamsMixin, Predicate, validate_params
from hpcopt.errors import ConfigError
from hpcopt.estimate.conformal import conformal_quantile, cqr_interval, cqr_scores
from hpcopt.estimate.features import OnlineFeatures
from hpcopt.estimate.gbm.boosters import PointModel, accuracy_loss, load_lightgbm, welsch_loss

POINT_LOSSES = ("l2", "l1", "welsch", "accuracy")
MIN_SELECTION_JOBS = 5  # a user's completed jobs needed before the per-user test is made


def _int_at_least(k: int) -> Predicate:
    # np.integer counts; bool does not
    return Predicate(lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= k,
                     f"an int >= {k}")


_POSITIVE_INT = [_int_at_least(1)]
_FRACTION = [Interval(float, 0, 1, closed="neither")]


class GBMBase(ParamsMixin):
    """Parameters and training core (see :class:`hpcopt.estimate.gbm.GBMEstimator`)."""

    _parameter_constraints = {
        "n_estimators": _POSITIVE_INT,
        "learning_rate": [Interval(float, 0, 1, closed="right")],
        "num_leaves": _POSITIVE_INT,
        "min_child_samples": _POSITIVE_INT,
        "confidence_level": _FRACTION,
        "calibration_fraction": _FRACTION,
        "retrain_every": [None, _int_at_least(1)],
        "retrain_interval": [None, Interval(float, 0, None, closed="neither")],
        "min_train_jobs": _POSITIVE_INT,
        "max_train_jobs": [None, _int_at_least(1)],
        "history": _POSITIVE_INT,
        "categorical": [bool],
        "cap_at_request": [bool],
        "point_loss": [Options(*POINT_LOSSES)],
        "point_init": [Options("tsafrir", "median")],
        "adaptive_gamma": [Interval(float, 0, 1, closed="left")],
        "early_stopping": [bool],
        "welsch_scale": [Interval(float, 0, None, closed="neither")],
        "selection_window": [None, _int_at_least(MIN_SELECTION_JOBS)],
        "selection_z": [Interval(float, 0, None)],
        "random_state": [None, int],
        "n_jobs": _POSITIVE_INT,
    }

    def __init__(
        self,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        confidence_level: float = 0.9,
        calibration_fraction: float = 0.2,
        retrain_every: int | None = 1000,
        retrain_interval: float | None = None,
        min_train_jobs: int = 200,
        max_train_jobs: int | None = 20000,
        history: int = 5,
        categorical: bool = True,
        cap_at_request: bool = True,
        point_loss: str = "accuracy",
        point_init: str = "tsafrir",
        adaptive_gamma: float = 0.005,
        early_stopping: bool = False,
        welsch_scale: float = 0.5,
        selection_window: int | None = 20,
        selection_z: float = 2.0,
        random_state: int | None = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.confidence_level = confidence_level
        self.calibration_fraction = calibration_fraction
        self.retrain_every = retrain_every
        self.retrain_interval = retrain_interval
        self.min_train_jobs = min_train_jobs
        self.max_train_jobs = max_train_jobs
        self.history = history
        self.categorical = categorical
        self.cap_at_request = cap_at_request
        self.point_loss = point_loss
        self.point_init = point_init
        self.adaptive_gamma = adaptive_gamma
        self.early_stopping = early_stopping
        self.welsch_scale = welsch_scale
        self.selection_window = selection_window
        self.selection_z = selection_z
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        validate_params(self)
        if self.retrain_every is None and self.retrain_interval is None:
            raise ConfigError("GBMEstimator needs a retraining schedule: set retrain_every and/or retrain_interval")
        if self.max_train_jobs is not None and self.max_train_jobs < self.min_train_jobs:
            raise ConfigError(f"The 'max_train_jobs' parameter of GBMEstimator must be None or an int >= "
                              f"min_train_jobs ({self.min_train_jobs}); got {self.max_train_jobs!r} instead.")

    def _lgb_params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        p = {
            "objective": objective,
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_child_samples),
            "num_threads": int(self.n_jobs),
            "seed": 0 if self.random_state is None else int(self.random_state),
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
            "cat_smooth": 50.0,
            "max_cat_to_onehot": 8,
        }
        if alpha is not None:
            p["alpha"] = alpha
        return p

    def _booster(self, X: np.ndarray, y: np.ndarray, objective, alpha: float | None = None, init_score=None):
        lgb = load_lightgbm()
        cats = [self.feature_names_.index(c) for c in self.categorical_features_] if self.categorical else []
        data = lgb.Dataset(X, y, feature_name=list(self.feature_names_), categorical_feature=cats,
                           init_score=init_score, free_raw_data=True, params={"verbose": -1, "max_bin": 255})
        return lgb.train(self._lgb_params(objective, alpha), data, num_boost_round=int(self.n_estimators))

    def _point_model(self, X: np.ndarray, y: np.ndarray, n_fit: int | None = None) -> PointModel:
        """The point model; with ``n_fit``, the correction booster learns from the first
        ``n_fit`` rows and stops early on the rest (the most recent jobs): where the trees
        cannot improve on the start value there, few rounds are kept."""
        if self.point_loss == "l2":
            return PointModel([self._booster(X, y, "regression")])
        median = self._booster(X, y, "regression_l1")
        if self.point_loss == "l1":
            return PointModel([median])
        col = None
        if self.point_init == "tsafrir" and "user_tsafrir" in self.feature_names_:
            col = self.feature_names_.index("user_tsafrir")
        start = PointModel([median, None], col)
        init = median.predict(X, num_threads=1)
        if col is not None:
            init = np.where(start._base_mask(X), X[:, col], init)
        loss = accuracy_loss() if self.point_loss == "accuracy" else welsch_loss(float(self.welsch_scale))
        if n_fit is None or n_fit >= len(y) or n_fit < 1:
            return PointModel([median, self._booster(X, y, loss, init_score=init)], col)
        lgb = load_lightgbm()
        cats = [self.feature_names_.index(c) for c in self.categorical_features_] if self.categorical else []
        train = lgb.Dataset(X[:n_fit], y[:n_fit], feature_name=list(self.feature_names_), categorical_feature=cats,
                            init_score=init[:n_fit], params={"verbose": -1})
        valid = lgb.Dataset(X[n_fit:], y[n_fit:], reference=train, init_score=init[n_fit:])

        def accuracy_metric(pred, data):
            return "accuracy_loss", float(np.mean(1.0 - np.exp(-np.abs(pred - data.get_label())))), False

        params = {**self._lgb_params(loss), "metric": "None"}
        booster = lgb.train(params, train, num_boost_round=int(self.n_estimators), valid_sets=[valid],
                            feval=accuracy_metric, callbacks=[lgb.early_stopping(20, verbose=False)])
        return PointModel([median, booster], col)

    def _train(self, X: np.ndarray, y_log: np.ndarray, reference_error: float | None = None) -> None:
        """Fit the three boosters on rows ordered by completion; recalibrate."""
        n = len(y_log)
        n_cal = max(int(round(self.calibration_fraction * n)), 1)
        n_fit = n - n_cal
        a = 1.0 - self.confidence_level
        self.point_ = self._point_model(X, y_log, n_fit if self.early_stopping else None)
        self.lower_model_ = self._booster(X[:n_fit], y_log[:n_fit], "quantile", a / 2)
        self.upper_model_ = self._booster(X[:n_fit], y_log[:n_fit], "quantile", 1 - a / 2)
        lo, hi = self._raw_quantiles(X[n_fit:])
        self.calibration_scores_ = cqr_scores(lo, hi, y_log[n_fit:])
        self.q_ = conformal_quantile(self.calibration_scores_, self.confidence_level)
        self.n_train_ = n
        self.n_calibration_ = n_cal
        if reference_error is not None:
            self.training_error_ = float(reference_error)
        self.trainings_ = getattr(self, "trainings_", 0) + 1

    def _raw_quantiles(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = self.lower_model_.predict(X, num_threads=1)
        hi = self.upper_model_.predict(X, num_threads=1)
        return np.minimum(lo, hi), np.maximum(lo, hi)

    def _predict_arrays(self, X: np.ndarray, req: np.ndarray, confidence_level: float | None = None):
        """Point estimate and interval in seconds for feature rows X."""
        point = np.expm1(self.point_.predict(X, num_threads=1))
        lo, hi = self._raw_quantiles(X)
        q = self.q_ if confidence_level is None or confidence_level == self.confidence_level else \
            conformal_quantile(self.calibration_scores_, confidence_level)
        lower, upper = cqr_interval(lo, hi, q, self.calibration_scores_)
        # Traces record whole seconds, and many jobs run 0 s (cancelled, failed at once):
        # an estimate of 0.3 s for them would score 0 accuracy where 0 scores 1.
        point = np.round(np.maximum(point, 0.0))
        if self.cap_at_request:
            point = np.where(req > 0, np.minimum(point, req), point)
        return point, lower, upper


    def _reset_learned(self) -> None:
        for k in ("point_", "lower_model_", "upper_model_", "q_", "trainings_", "training_error_", "n_train_",
                  "n_calibration_", "calibration_scores_", "training_metrics_", "data_hash_", "train_window_"):
            if hasattr(self, k):
                delattr(self, k)

    def _set_schema(self, feats: OnlineFeatures) -> None:
        self.feature_names_ = list(feats.names)
        self.categorical_features_ = list(feats.categorical)
        self.dropped_features_ = dict(feats.dropped)
        self.vocab_ = feats.vocab

    @property
    def is_trained(self) -> bool:
        return hasattr(self, "point_")

    def _check_fitted(self) -> None:
        if not self.is_trained:
            raise ConfigError("this GBMEstimator is not fitted yet: call fit(...) (or replay a trace) first")

    @staticmethod
    def _req_of(frame: pd.DataFrame) -> np.ndarray:
        """The requested time (s) of each feature row; -1 where unknown."""
        if "log_req_time" in frame:
            r = np.expm1(frame["log_req_time"].to_numpy(dtype=float))
            return np.where(np.isfinite(r), r, -1.0)
        return np.full(len(frame), -1.0)
