"""Optional dependencies, imported lazily with the install hint in one place."""

from __future__ import annotations

import importlib
from types import ModuleType

from hpcopt.errors import MissingDependencyError

__all__ = ["require", "EXTRA_OF"]

#: which extra brings which import (used when the caller does not say)
EXTRA_OF = {
    "lightgbm": "estimate", "sklearn": "estimate", "torch": "detect", "pyod": "detect", "scipy": "detect",
    "optuna": "tune", "cmaes": "tune", "sqlalchemy": "store", "alembic": "store", "psycopg": "store-pg", "dask": "tune-dist", "submitit": "tune-dist",
}


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        hint = extra or EXTRA_OF.get(root, "all")
        raise MissingDependencyError(
            f"{module} is needed for this; install with: pip install 'hpcopt[{hint}]'"
        ) from exc
