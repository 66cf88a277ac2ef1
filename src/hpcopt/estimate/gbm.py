"""A learned runtime predictor: LightGBM on submit-time features, with conformalized
quantile regression (CQR) intervals.

Two faces over the same models:

- online (:class:`hpcopt.estimate.protocol.OnlineEstimator`): ``start`` / ``on_submit`` /
  ``on_complete``. Features come from :class:`~hpcopt.estimate.features.OnlineFeatures`;
  the models are (re)trained on a schedule -- every ``retrain_every`` completions and/or
  every ``retrain_interval`` seconds of trace time -- from completed jobs only. Until the
  first training the estimator answers with Tsafrir's baseline.
- offline, scikit-learn style: ``fit(workload)``, ``predict``, ``predict_interval(X,
  confidence_level=0.9)``, ``explain`` (LightGBM's own SHAP values), ``drift_check``;
  :mod:`hpcopt.estimate.model_io` saves and loads a fitted model with its metadata.

Each training fits boosters on log1p(runtime) from the completed jobs, ordered by
completion:

- the point model: a median (L1) booster, then a booster with Tsafrir's accuracy as its
  loss (1 - exp(-|log error|), smoothed at 0) that starts from Tsafrir's estimate (a
  feature) where the user has history and from the median model elsewhere. The accuracy
  min(p, a) / max(p, a) rewards being near the mode of an often bimodal distribution
  (jobs fail at once or run long), where an L2 or L1 model sits between the modes; the
  start keeps what the user's last jobs say and the trees correct it.
  ``point_loss="l2"|"l1"|"welsch"`` and ``point_init="median"`` give other variants;
- quantile boosters at alpha/2 and 1 - alpha/2 on all but the most recently completed
  ``calibration_fraction`` of the jobs. On those held-out recent jobs the CQR score
  ``max(lo - y, y - hi)`` gives the correction ``q`` (its ceil((n+1)(1-alpha))/n
  empirical quantile); the interval is ``[lo - q, hi + q]`` in log space (Romano,
  Patterson & Candès 2019). ``q`` is recomputed at every retrain; online, the level it is
  taken at also adapts after each completion (adaptive conformal inference, Gibbs &
  Candès 2021, step ``adaptive_gamma``; 0 turns it off).

The point estimate is capped at the requested time (a job is killed there); the interval
is not capped.

Online, a last stage chooses per user between the model's estimate and the two baselines
(the requested time, Tsafrir's estimate): on the user's last ``selection_window``
completed jobs, a baseline takes over only when its accuracy is better than the model's
by more than ``selection_z`` standard errors (a paired test on the per-job accuracies)
and its mean absolute error there is no worse. Some users' requests are tight, or their
jobs repeat, and a model trained on everyone misses that; the test keeps the switch from
chasing noise. ``selection_window=None`` turns it off; the offline ``predict`` is the
model alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from hpcopt.errors import ConfigError, InputError, require
from hpcopt.estimate.baselines import RequestedTime, Tsafrir
from hpcopt.estimate.features import OnlineFeatures, replay_features
from hpcopt.estimate.selection import PerUserSelection

DRIFT_THRESHOLD = 1.3  # recent error / training error above which a retrain is advised
POINT_LOSSES = ("l2", "l1", "welsch", "accuracy")
# Online estimate sources, in the order of ``GBMEstimator.source_`` codes.
SOURCES = ("model", "requested", "tsafrir")
MIN_SELECTION_JOBS = 5  # a user's completed jobs needed before the per-user test is made


class _PointModel:
    """The point model's boosters, whose raw outputs add up.

    ``boosters[0]`` alone (L2 or L1), or a median model refined by a mode-seeking one
    (``boosters[1]``) that starts from ``init_col`` -- Tsafrir's estimate among the
    features -- where it is known, and from the median model elsewhere."""

    def __init__(self, boosters: list, init_col: int | None = None) -> None:
        self.boosters = boosters
        self.init_col = init_col

    def _base_mask(self, X: np.ndarray) -> np.ndarray:
        if self.init_col is None:
            return np.zeros(len(X), dtype=bool)
        return np.isfinite(X[:, self.init_col])

    def predict(self, X: np.ndarray, pred_contrib: bool = False, num_threads: int = 1) -> np.ndarray:
        first = self.boosters[0].predict(X, pred_contrib=pred_contrib, num_threads=num_threads)
        if len(self.boosters) == 1:
            return first
        out = self.boosters[1].predict(X, pred_contrib=pred_contrib, num_threads=num_threads)
        use = self._base_mask(X)
        if not pred_contrib:
            return out + np.where(use, X[:, self.init_col] if use.any() else 0.0, first)
        base = first.copy()
        if use.any():
            base[use] = 0.0
            base[use, self.init_col] = X[use, self.init_col]
        return out + base


def _welsch(scale: float):
    """Welsch (correntropy) loss 1 - exp(-d^2 / 2s^2) on the log error d: mode-seeking,
    which suits Tsafrir's accuracy exp(-|d|) on runtimes that are often bimodal (a job
    fails at once or runs long). The Hessian is floored so that Newton steps stay finite."""
    s2 = scale * scale

    def objective(pred, data):
        d = pred - data.get_label()
        e = np.exp(-d * d / (2 * s2))
        grad = d / s2 * e
        hess = np.maximum((1 - d * d / s2) * e / s2, 1e-2 / s2)
        return grad, hess

    return objective


def _accuracy_loss(eps: float = 0.1):
    """Tsafrir's accuracy itself as a loss: 1 - exp(-|d|) on the log error d (|d| smoothed
    to sqrt(d^2 + eps^2) at 0). It is concave away from 0, so the Hessian is floored
    (a damped gradient step there)."""

    def objective(pred, data):
        d = pred - data.get_label()
        r = np.sqrt(d * d + eps * eps)
        e = np.exp(-r)
        grad = e * d / r
        hess = np.maximum(np.maximum(e * (eps * eps / r**3 - d * d / (r * r)), 0.5 * e), 0.05)
        return grad, hess

    return objective


def _lgb():
    return require("lightgbm", "estimate")


def conformal_quantile(scores: np.ndarray, confidence_level: float) -> float:
    """The split-conformal correction: the ceil((n+1) c)/n empirical quantile of the scores
    (+inf when there are too few scores for that level)."""
    scores = np.sort(np.asarray(scores, dtype=float))
    n = len(scores)
    if n == 0:
        return math.inf
    k = math.ceil((n + 1) * confidence_level)
    if k > n:
        return math.inf
    return float(scores[max(k, 1) - 1])


@dataclass
class Explanation:
    """Per-job feature contributions in log1p(seconds): ``bias + contributions.sum(1)``
    equals ``prediction_log`` (before the cap at the requested time)."""

    values: pd.DataFrame  # the features
    contributions: pd.DataFrame  # one column per feature
    bias: np.ndarray
    prediction_log: np.ndarray

    def top(self, i: int, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` largest contributions (by magnitude) for the ``i``-th job."""
        c = self.contributions.iloc[i]
        order = np.argsort(-np.abs(c.to_numpy()))[:k]
        out = []
        for j in order:
            name = self.contributions.columns[j]
            v = self.values.iloc[i][name]
            out.append({"feature": name, "value": None if pd.isna(v) else float(v),
                        "contribution": float(c.iloc[j])})
        return out


class GBMEstimator:
    """LightGBM runtime predictor with CQR intervals (online and offline).

    Parameters follow scikit-learn: ``__init__`` only stores them; learned state ends in
    ``_``. ``n_estimators``, ``learning_rate``, ``num_leaves``, ``min_child_samples`` are
    LightGBM's; ``confidence_level`` is the interval's nominal coverage;
    ``calibration_fraction`` the share of the most recent training jobs held out for the
    conformal correction; ``retrain_every`` (completions) and ``retrain_interval``
    (seconds) the online schedule (either may be None, not both; besides, early on, a
    retrain whenever the completed jobs have doubled); ``min_train_jobs`` the
    completions needed before the first training; ``max_train_jobs`` the most recent
    completed jobs a training uses; ``history`` the user's completed jobs the features
    look back on; ``categorical`` whether ids are LightGBM categories (else numbers).
    """

    name = "gbm"

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

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        import inspect

        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def set_params(self, **params: Any) -> "GBMEstimator":
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ConfigError(f"GBMEstimator has no parameter {k!r}; valid ones: {', '.join(valid)}")
            setattr(self, k, v)
        return self

    def _validate_params(self) -> None:
        def bad(name: str, what: str) -> ConfigError:
            return ConfigError(
                f"The '{name}' parameter of GBMEstimator must be {what}; got {getattr(self, name)!r} instead."
            )

        for name in ("n_estimators", "num_leaves", "min_child_samples", "min_train_jobs", "history", "n_jobs"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise bad(name, "an int >= 1")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 1):
            raise bad("learning_rate", "a float in (0, 1]")
        if not (isinstance(self.confidence_level, (int, float)) and 0 < self.confidence_level < 1):
            raise bad("confidence_level", "a float in (0, 1)")
        if not (isinstance(self.calibration_fraction, (int, float)) and 0 < self.calibration_fraction < 1):
            raise bad("calibration_fraction", "a float in (0, 1)")
        if self.retrain_every is None and self.retrain_interval is None:
            raise ConfigError("GBMEstimator needs a retraining schedule: set retrain_every and/or retrain_interval")
        if self.retrain_every is not None and (not isinstance(self.retrain_every, (int, np.integer)) or self.retrain_every < 1):
            raise bad("retrain_every", "an int >= 1 or None")
        if self.retrain_interval is not None and not (isinstance(self.retrain_interval, (int, float)) and self.retrain_interval > 0):
            raise bad("retrain_interval", "a positive number of seconds or None")
        if self.max_train_jobs is not None and (not isinstance(self.max_train_jobs, (int, np.integer)) or self.max_train_jobs < self.min_train_jobs):
            raise bad("max_train_jobs", "None or an int >= min_train_jobs")
        if self.point_loss not in POINT_LOSSES:
            raise bad("point_loss", f"one of {', '.join(POINT_LOSSES)}")
        if not (isinstance(self.adaptive_gamma, (int, float)) and 0 <= self.adaptive_gamma < 1):
            raise bad("adaptive_gamma", "a float in [0, 1)")
        if self.point_init not in ("tsafrir", "median"):
            raise bad("point_init", "'tsafrir' or 'median'")
        if not (isinstance(self.welsch_scale, (int, float)) and self.welsch_scale > 0):
            raise bad("welsch_scale", "a positive float")
        if self.selection_window is not None and (
            not isinstance(self.selection_window, (int, np.integer)) or isinstance(self.selection_window, bool)
            or self.selection_window < MIN_SELECTION_JOBS
        ):
            raise bad("selection_window", f"None or an int >= {MIN_SELECTION_JOBS}")
        if not (isinstance(self.selection_z, (int, float)) and self.selection_z >= 0):
            raise bad("selection_z", "a float >= 0")
        if self.random_state is not None and not isinstance(self.random_state, (int, np.integer)):
            raise bad("random_state", "an int or None")

    # ------------------------------------------------------------------ training core
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
        lgb = _lgb()
        cats = [self.feature_names_.index(c) for c in self.categorical_features_] if self.categorical else []
        data = lgb.Dataset(X, y, feature_name=list(self.feature_names_), categorical_feature=cats,
                           init_score=init_score, free_raw_data=True, params={"verbose": -1, "max_bin": 255})
        return lgb.train(self._lgb_params(objective, alpha), data, num_boost_round=int(self.n_estimators))

    def _point_model(self, X: np.ndarray, y: np.ndarray, n_fit: int | None = None) -> _PointModel:
        """The point model; with ``n_fit``, the correction booster learns from the first
        ``n_fit`` rows and stops early on the rest (the most recent jobs): where the trees
        cannot improve on the start value there, few rounds are kept."""
        if self.point_loss == "l2":
            return _PointModel([self._booster(X, y, "regression")])
        median = self._booster(X, y, "regression_l1")
        if self.point_loss == "l1":
            return _PointModel([median])
        col = None
        if self.point_init == "tsafrir" and "user_tsafrir" in self.feature_names_:
            col = self.feature_names_.index("user_tsafrir")
        start = _PointModel([median, None], col)
        init = median.predict(X, num_threads=1)
        if col is not None:
            init = np.where(start._base_mask(X), X[:, col], init)
        loss = _accuracy_loss() if self.point_loss == "accuracy" else _welsch(float(self.welsch_scale))
        if n_fit is None or n_fit >= len(y) or n_fit < 1:
            return _PointModel([median, self._booster(X, y, loss, init_score=init)], col)
        lgb = _lgb()
        cats = [self.feature_names_.index(c) for c in self.categorical_features_] if self.categorical else []
        train = lgb.Dataset(X[:n_fit], y[:n_fit], feature_name=list(self.feature_names_), categorical_feature=cats,
                            init_score=init[:n_fit], params={"verbose": -1})
        valid = lgb.Dataset(X[n_fit:], y[n_fit:], reference=train, init_score=init[n_fit:])

        def accuracy_loss(pred, data):
            return "accuracy_loss", float(np.mean(1.0 - np.exp(-np.abs(pred - data.get_label())))), False

        params = {**self._lgb_params(loss), "metric": "None"}
        booster = lgb.train(params, train, num_boost_round=int(self.n_estimators), valid_sets=[valid],
                            feval=accuracy_loss, callbacks=[lgb.early_stopping(20, verbose=False)])
        return _PointModel([median, booster], col)

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
        self.calibration_scores_ = np.maximum(lo - y_log[n_fit:], y_log[n_fit:] - hi)
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
        if q == -math.inf:
            q = float(self.calibration_scores_.min())
        lower = np.maximum(np.expm1(lo - q), 0.0)
        upper = np.expm1(hi + q) if math.isfinite(q) else np.full(len(hi), np.inf)
        # Traces record whole seconds, and many jobs run 0 s (cancelled, failed at once):
        # an estimate of 0.3 s for them would score 0 accuracy where 0 scores 1.
        point = np.round(np.maximum(point, 0.0))
        if self.cap_at_request:
            point = np.where(req > 0, np.minimum(point, req), point)
        return point, lower, upper

    # ------------------------------------------------------------------ online protocol
    def start(self, jobs: pd.DataFrame, header: dict[str, str]) -> None:
        self._validate_params()
        _lgb()
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
        self.data_hash_ = _hash(self.X_[rows], y)
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
        adaptive conformal inference (Gibbs & Candes 2021) after each completion: up after
        a miss, down after a hit, so that long-run coverage tracks the nominal one even
        when runtimes drift between retrains. Capped so that intervals stay finite."""
        n = len(self.calibration_scores_)
        return float(min(max(1.0 - self.alpha_t_, 0.0), n / (n + 1.0)))

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        if self.adaptive_gamma and self.trained_[row] and not math.isnan(self.submit_time_[row]):
            miss = not (self.lower_[row] <= runtime <= self.upper_[row])
            # Not clipped: the debt a burst of misses leaves below 0 is what restores the
            # long-run coverage afterwards (clipping at 0 measured 0.879 instead of 0.900 on
            # the later half of CEA-Curie).
            self.alpha_t_ += self.adaptive_gamma * ((1.0 - self.confidence_level) - float(miss))
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

    # ------------------------------------------------------------------ offline API
    def fit(self, X, y=None, progress: Callable[[int, int, str], None] | None = None) -> "GBMEstimator":
        """Learn from a :class:`~hpcopt.data.workload.Workload` (features built honestly by
        replaying its events), or from a feature DataFrame ``X`` and runtimes ``y`` (seconds)
        in completion order."""
        self._validate_params()
        _lgb()
        self._reset_learned()
        if progress:
            progress(0, 4, "features")
        if _is_workload(X):
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
            frame = _as_frame(X, None)
            run = np.asarray(y, dtype=float)
            if len(run) != len(frame):
                raise InputError(f"X has {len(frame)} rows but y has {len(run)} values")
            self.feature_names_ = list(frame.columns)
            self.categorical_features_ = [c for c in frame.columns if c in _categorical_names()]
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
        self.data_hash_ = _hash(Xa, run)
        if progress:
            progress(4, 4, "done")
        return self

    def _check_fitted(self) -> None:
        if not self.is_trained:
            raise ConfigError("this GBMEstimator is not fitted yet: call fit(...) (or replay a trace) first")

    def features(self, X, allow_missing: bool = False) -> pd.DataFrame:
        """The model's features for a Workload (honest replay) or a feature DataFrame."""
        self._check_fitted()
        if _is_workload(X):
            frame, _, _, feats = replay_features(X, history=self.history, vocab=self.vocab_, keep=self.feature_names_)
            if feats.missing and not allow_missing:
                raise InputError(
                    f"the trace lacks features the model was trained with: {', '.join(feats.missing)}",
                    source=X.source, hint="predict anyway with allow_missing=True (--allow-missing): they are left empty",
                )
            self.missing_features_ = list(feats.missing)
            return frame
        return _as_frame(X, self.feature_names_, allow_missing)

    def _req_of(self, frame: pd.DataFrame) -> np.ndarray:
        if "log_req_time" in frame:
            r = np.expm1(frame["log_req_time"].to_numpy(dtype=float))
            return np.where(np.isfinite(r), r, -1.0)
        return np.full(len(frame), -1.0)

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
            if _is_workload(X):
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
    def load(cls, path) -> "GBMEstimator":
        from hpcopt.estimate.model_io import load_model

        return load_model(path)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != type(self)().get_params()[k]}
        return f"GBMEstimator({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def _categorical_names() -> set[str]:
    from hpcopt.estimate.features import CATEGORICAL_COLUMNS, STRING_COLUMNS

    return set(CATEGORICAL_COLUMNS) | set(STRING_COLUMNS)


def _is_workload(X) -> bool:
    from hpcopt.data.workload import Workload

    return isinstance(X, Workload)


def _as_frame(X, names: list[str] | None, allow_missing: bool = False) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"X must be a 2-D feature table; got shape {arr.shape}")
        if names is not None and arr.shape[1] != len(names):
            raise InputError(f"X has {arr.shape[1]} columns; the model has {len(names)} features: {', '.join(names)}")
        frame = pd.DataFrame(arr, columns=names if names is not None else [f"f{i}" for i in range(arr.shape[1])])
    if names is not None:
        missing = [c for c in names if c not in frame.columns]
        if missing and not allow_missing:
            raise InputError(f"X lacks features the model was trained with: {', '.join(missing)}",
                             hint="predict anyway with allow_missing=True: they are left empty")
        frame = frame.reindex(columns=names)
    try:
        frame = frame.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"X must hold numbers only ({exc})") from None
    return frame


def _hash(X: np.ndarray, y: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return "sha256:" + h.hexdigest()
