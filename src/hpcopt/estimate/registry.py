"""The name -> online runtime estimator lookup (``predicted:NAME`` in a simulation).

It lives in ``estimate`` so that ``schedule`` takes a predictor object and never imports
the learned models itself. Third-party estimators register through the entry-point group
``hpcopt.plugins`` as ``online_estimator.<name>`` (a factory taking ``random_state``).
"""

from __future__ import annotations

from hpcopt.core.registry import Registry
from hpcopt.estimate.protocol import OnlineEstimator

__all__ = ["ONLINE_ESTIMATORS", "make_online", "TrainedPredictor", "load_predictor"]

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


class TrainedPredictor:
    """A trained runtime model (``estimate.train``'s directory) as an online predictor.

    The model is frozen: it never refits. At each submission it sees the job's features
    computed from what the simulation has completed so far (the user's recent runtimes as
    the simulated schedule finishes them), so a simulation with it uses no runtime of a
    job that has not ended in the simulation. The interval's upper end is the model's
    conformal bound, which the simulator uses to correct estimates that jobs outlive.
    """

    def __init__(self, model, *, allow_missing: bool = False) -> None:
        self.model = model
        self.allow_missing = allow_missing
        self.name = "model"

    @classmethod
    def load(cls, path, *, allow_missing: bool = False) -> "TrainedPredictor":
        from hpcopt.estimate.gbm import GBMEstimator

        return cls(GBMEstimator.load(path), allow_missing=allow_missing)

    def start(self, jobs, header) -> None:
        import numpy as np

        from hpcopt.errors import InputError
        from hpcopt.estimate.features import OnlineFeatures

        m = self.model
        self.features_ = OnlineFeatures(jobs, header, history=m.history, vocab=m.vocab_, keep=m.feature_names_)
        if self.features_.missing and not self.allow_missing:
            raise InputError(f"the trace lacks features the runtime model was trained with: "
                             f"{', '.join(self.features_.missing)}",
                             hint="simulate anyway with allow_missing (they are left empty), or train on this trace")
        self._req = jobs["req_time"].to_numpy(dtype=np.float64)

    def on_submit(self, row: int, now: float) -> tuple[float, float]:
        import numpy as np

        # with keep=, the features come in the model's own column order
        x = np.asarray(self.features_.at_submit(row, now), dtype=np.float64)[None, :]
        point, _lower, upper = self.model._predict_arrays(x, self._req[row:row + 1])
        return float(point[0]), float(upper[0])

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        self.features_.on_complete(row, now, runtime)


def load_predictor(path, *, allow_missing: bool = False) -> TrainedPredictor:
    """The trained runtime model in directory ``path`` as an online predictor for a simulation."""
    return TrainedPredictor.load(path, allow_missing=allow_missing)
