"""Runtime estimation: an online protocol, baselines, learned models, conformal intervals."""

from hpcopt.estimate.baselines import RequestedTime, Tsafrir
from hpcopt.estimate.metrics import accuracy_metrics, grouped_metrics, tsafrir_accuracy
from hpcopt.estimate.protocol import OnlineEstimator, submit_view
from hpcopt.estimate.replay import Replay, replay_trace

__all__ = [
    "OnlineEstimator", "Replay", "RequestedTime", "Tsafrir", "accuracy_metrics", "grouped_metrics",
    "replay_trace", "submit_view", "tsafrir_accuracy",
]
