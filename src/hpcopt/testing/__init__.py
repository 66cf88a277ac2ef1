"""Shipped test helpers for hpcopt and for plugin authors.

Conformance checks (as scikit-learn's ``check_estimator`` and Optuna's storage tests): each
runs the real library on small data and raises :class:`AssertionError` naming the part of
the contract an implementation breaks. The suite runs them on every built-in; a plugin
author runs them on theirs::

    from hpcopt.testing import check_detector
    check_detector(MyDetector)

- :func:`check_policy` (queue orders and backfilling rules), :func:`check_estimator`
  (online runtime estimators), :func:`check_detector` (anomaly detectors),
  :func:`check_strategy` (tuning strategies), :func:`check_storage` (tuning storages).

The input fuzzer is :mod:`hpcopt.testing.fuzz` (formats and targets in
:mod:`hpcopt.testing.fuzz_targets`). The checks import their capability only when called.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["check_policy", "check_estimator", "check_detector", "check_strategy", "check_storage"]

# the modules are named by kind (hpcopt.testing.checks.policy, ...): a submodule named like
# the function would replace the function on this package once imported
_HOME = {name: f"hpcopt.testing.checks.{name.removeprefix('check_')}" for name in __all__}


def __getattr__(name: str) -> Any:  # lazy: checking a detector must not import the tuner
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'hpcopt.testing' has no attribute {name!r}")
