"""The name -> online runtime estimator lookup (``predicted:NAME`` in a simulation).

It lives in ``estimate`` so that ``schedule`` takes a predictor object and never imports
the learned models itself. Third-party estimators register through the entry-point group
``hpcopt.plugins`` as ``online_estimator.<name>`` (a factory taking ``random_state``).
"""

from __future__ import annotations

from hpcopt.core.registry import Registry
from hpcopt.estimate.protocol import OnlineEstimator

__all__ = ["ONLINE_ESTIMATORS", "make_online"]

ONLINE_ESTIMATORS: Registry = Registry("online_estimator")


@ONLINE_ESTIMATORS.register("tsafrir", help="mean of the user's last two runtimes (Tsafrir et al. 2007)")
def _tsafrir(random_state: int | None = 0) -> OnlineEstimator:
    from hpcopt.estimate.baselines import Tsafrir

    return Tsafrir()


@ONLINE_ESTIMATORS.register("requested", help="the user's requested time")
def _requested(random_state: int | None = 0) -> OnlineEstimator:
    from hpcopt.estimate.baselines import RequestedTime

    return RequestedTime()


@ONLINE_ESTIMATORS.register("gbm", help="LightGBM quantile model refitted on jobs finished so far")
def _gbm(random_state: int | None = 0) -> OnlineEstimator:
    from hpcopt.core.optional import require

    require("lightgbm", "estimate")
    from hpcopt.estimate.gbm import GBMEstimator

    return GBMEstimator(random_state=random_state)


def make_online(name: str, random_state: int | None = 0) -> OnlineEstimator:
    """A fresh online estimator by name ("did you mean" on a typo)."""
    return ONLINE_ESTIMATORS.create(name, random_state=random_state)
