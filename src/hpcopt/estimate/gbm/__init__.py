"""A learned runtime predictor: LightGBM on submit-time features, with conformalized
quantile regression (CQR) intervals.

Two faces over the same models (one module each; the shared core is
:mod:`hpcopt.estimate.gbm.core`, the conformal arithmetic :mod:`hpcopt.estimate.conformal`):

- online (:mod:`~hpcopt.estimate.gbm.online`; the
  :class:`~hpcopt.estimate.protocol.OnlineEstimator` protocol): ``start`` / ``on_submit`` /
  ``on_complete``. Features come from :class:`~hpcopt.estimate.features.OnlineFeatures`;
  the models are (re)trained on a schedule -- every ``retrain_every`` completions and/or
  every ``retrain_interval`` seconds of trace time -- from completed jobs only. Until the
  first training the estimator answers with Tsafrir's baseline.
- offline (:mod:`~hpcopt.estimate.gbm.offline`), scikit-learn style: ``fit(workload)``,
  ``predict``, ``predict_interval(X, confidence_level=0.9)``, ``explain`` (LightGBM's own SHAP values), ``drift_check``;
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

from hpcopt.estimate.conformal import conformal_quantile
from hpcopt.estimate.gbm.boosters import Explanation, PointModel
from hpcopt.estimate.gbm.core import MIN_SELECTION_JOBS, POINT_LOSSES, GBMBase
from hpcopt.estimate.gbm.offline import DRIFT_THRESHOLD, OfflineGBM
from hpcopt.estimate.gbm.online import SOURCES, OnlineGBM

__all__ = ["GBMEstimator", "Explanation", "PointModel", "SOURCES", "POINT_LOSSES", "DRIFT_THRESHOLD",
           "MIN_SELECTION_JOBS", "conformal_quantile"]


class GBMEstimator(OnlineGBM, OfflineGBM, GBMBase):
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
