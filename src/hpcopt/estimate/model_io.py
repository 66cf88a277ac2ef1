"""Save and load a fitted :class:`~hpcopt.estimate.gbm.GBMEstimator` with its metadata.

A model directory holds ``metadata.json`` (schema version, parameters, features and
categorical ones, dropped features, string vocabularies, training window and metrics, the
conformal correction and calibration scores, library versions, a SHA-256 of the training
data) and one LightGBM text file per booster. Loading checks the LightGBM major version
and names both versions when they differ.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError, require
from hpcopt.estimate.gbm import GBMEstimator, _PointModel

SCHEMA = "hpcopt.estimate.gbm-model/1"


def _versions() -> dict[str, str]:
    import lightgbm
    import pandas

    import hpcopt

    return {"lightgbm": lightgbm.__version__, "numpy": np.__version__, "pandas": pandas.__version__,
            "python": platform.python_version(), "hpcopt": hpcopt.__version__}


def save_model(model: GBMEstimator, path: str | Path) -> Path:
    """Write a fitted model to directory ``path`` (created if needed)."""
    if not model.is_trained:
        raise ConfigError("this GBMEstimator is not fitted yet: nothing to save")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    files = {"point": [], "lower": "lower.txt", "upper": "upper.txt"}
    for i, b in enumerate(model.point_.boosters):
        name = f"point_{i}.txt"
        (out / name).write_text(b.model_to_string())
        files["point"].append(name)
    (out / "lower.txt").write_text(model.lower_model_.model_to_string())
    (out / "upper.txt").write_text(model.upper_model_.model_to_string())
    meta: dict[str, Any] = {
        "schema": SCHEMA,
        "params": model.get_params(),
        "features": model.feature_names_,
        "categorical_features": model.categorical_features_,
        "dropped_features": model.dropped_features_,
        "vocab": model.vocab_,
        "training_window": getattr(model, "train_window_", None),
        "metrics": getattr(model, "training_metrics_", None),
        "training_log_mae": getattr(model, "training_error_", None),
        "n_train": int(model.n_train_),
        "n_calibration": int(model.n_calibration_),
        "conformal_q": float(model.q_),
        "calibration_scores": [float(v) for v in model.calibration_scores_],
        "data_hash": getattr(model, "data_hash_", None),
        "versions": _versions(),
        "point_init_column": model.point_.init_col,
        "files": files,
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=2, default=float))
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    meta_file = p / "metadata.json"
    if not meta_file.is_file():
        raise InputError("is not a saved model (no metadata.json)", source=str(p),
                         hint="train one with: hpcopt estimate train --trace FILE --out DIR")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"metadata.json is not valid JSON ({exc})", source=str(p)) from None
    if meta.get("schema") != SCHEMA:
        raise InputError(f"unknown model schema {meta.get('schema')!r}; expected {SCHEMA!r}", source=str(p))
    return meta


def load_model(path: str | Path) -> GBMEstimator:
    """Load a model saved by :func:`save_model`; a different LightGBM major version is an
    error that names both versions."""
    lgb = require("lightgbm", "estimate")
    p = Path(path)
    meta = read_metadata(p)
    saved = str(meta.get("versions", {}).get("lightgbm", "?"))
    if saved.split(".")[0] != lgb.__version__.split(".")[0]:
        raise InputError(
            f"the model was saved with LightGBM {saved}; this is LightGBM {lgb.__version__} (another major version)",
            source=str(p), hint=f"install lightgbm=={saved} or retrain the model",
        )
    model = GBMEstimator(**meta["params"])
    try:
        model.point_ = _PointModel([lgb.Booster(model_str=(p / f).read_text()) for f in meta["files"]["point"]],
                                   meta.get("point_init_column"))
        model.lower_model_ = lgb.Booster(model_str=(p / meta["files"]["lower"]).read_text())
        model.upper_model_ = lgb.Booster(model_str=(p / meta["files"]["upper"]).read_text())
    except (OSError, lgb.basic.LightGBMError) as exc:
        raise InputError(f"a model file is missing or damaged ({exc})", source=str(p)) from None
    model.feature_names_ = list(meta["features"])
    model.categorical_features_ = list(meta["categorical_features"])
    model.dropped_features_ = dict(meta["dropped_features"])
    model.vocab_ = {k: dict(v) for k, v in meta["vocab"].items()}
    model.train_window_ = meta["training_window"]
    model.training_metrics_ = meta["metrics"]
    if meta.get("training_log_mae") is not None:
        model.training_error_ = float(meta["training_log_mae"])
    model.n_train_ = meta["n_train"]
    model.n_calibration_ = meta["n_calibration"]
    model.q_ = float(meta["conformal_q"])
    model.calibration_scores_ = np.asarray(meta["calibration_scores"], dtype=float)
    model.data_hash_ = meta.get("data_hash")
    model.metadata_ = meta
    return model
