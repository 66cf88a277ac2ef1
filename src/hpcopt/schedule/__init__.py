"""Batch-scheduling simulation: an event core, pluggable queue orders and backfilling
rules, a compiled engine for the built-in ones, and RLScheduler's evaluation protocol."""

from hpcopt.schedule.jobs import Predictor, SimJobs, prepare_jobs
from hpcopt.schedule.policies import (
    BACKFILLS,
    EASY,
    F1,
    FCFS,
    ORDERS,
    SJF,
    UNICEP,
    WFP3,
    Backfill,
    ClusterView,
    Conservative,
    NoBackfill,
    Order,
    parse_policy,
)
from hpcopt.schedule.rlscheduler import simulate_rlscheduler
from hpcopt.schedule.simulate import SimulationResult, simulate
from hpcopt.schedule.compare import compare_policies

__all__ = [
    "BACKFILLS", "EASY", "F1", "FCFS", "ORDERS", "SJF", "UNICEP", "WFP3", "Backfill", "ClusterView",
    "Conservative", "NoBackfill", "Order", "Predictor", "SimJobs", "SimulationResult", "compare_policies",
    "parse_policy", "prepare_jobs", "simulate", "simulate_rlscheduler",
]
