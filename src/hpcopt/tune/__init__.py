"""Autotuning: search spaces, strategies, runners, studies, replay and methodology.

The pieces follow Optuna's split -- a space, a strategy that proposes, a runner that
measures, a storage that remembers -- and Kernel Tuner's habits: failed configurations
are values, strategies are looked up by name, and any strategy can be replayed offline
against a cache of measured results.

    from hpcopt.tune import SearchSpace, PowerOfTwo, Study, CKernelRunner
"""

from hpcopt.tune.methodology import compare_strategies, cutoff_budget, replay_run
from hpcopt.tune.replay import ReplayCache, load_cache
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners import CKernelRunner, CommandRunner, OutputCheck, PythonRunner, interleaved
from hpcopt.tune.space import (
    Categorical,
    Integer,
    Ordinal,
    PowerOfTwo,
    Real,
    SearchSpace,
)
from hpcopt.tune.spec import load_spec
from hpcopt.tune.executors import get_executor
from hpcopt.tune.observers import observer_status
from hpcopt.tune.storage import JournalStorage, SQLAlchemyStorage, SQLiteStorage, Storage
from hpcopt.tune.strategies import DEFAULT_STRATEGY, STRATEGIES, get_strategy
from hpcopt.tune.study import Study

__all__ = [
    "SearchSpace", "Integer", "Real", "Categorical", "Ordinal", "PowerOfTwo",
    "Result", "Status", "PythonRunner", "CommandRunner", "CKernelRunner", "OutputCheck", "interleaved",
    "Study", "Storage", "SQLiteStorage", "JournalStorage", "SQLAlchemyStorage", "get_executor",
    "observer_status", "get_strategy", "STRATEGIES", "DEFAULT_STRATEGY",
    "load_cache", "ReplayCache", "replay_run", "compare_strategies", "cutoff_budget", "load_spec",
]
