"""Save and load a fitted :class:`~hpcopt.estimate.gbm.GBMEstimator` with its metadata.

A model directory holds ``metadata.json`` (schema version, parameters, features and
categorical ones, dropped features, string vocabularies, training window and metrics, the
conformal correction and calibration scores, library versions, a SHA-256 of the training
data, the SHA-256 of every model file, and a ``digest`` of the metadata itself) and one
LightGBM text file per booster. The directory is written atomically (a temporary
directory renamed into place).

Loading treats the directory as untrusted data, in this order: every metadata key is
checked for presence, type and range; the model files named there must be plain file
names inside the directory (no separators, no ``..``, no symlink leading out); each file
must match its SHA-256; and each LightGBM text is checked for the structure LightGBM's
parser assumes (header keys, tree blocks and their recorded sizes, array lengths agreeing
with ``num_leaves``, children forming a tree, split features within ``max_feature_idx``,
categorical splits within their bitsets) *before* ``lgb.Booster`` sees it, because that
parser trusts its input and can abort or crash the process on a damaged one. Every
problem is one :class:`~hpcopt.errors.InputError` naming the directory, the file or key,
and what is wrong. A different LightGBM major version is refused and both are named.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError, require
from hpcopt.estimate.gbm import GBMEstimator, PointModel

SCHEMA = "hpcopt.estimate.gbm-model/2"
_OLD_SCHEMAS = ("hpcopt.estimate.gbm-model/1",)
_RETRAIN = "retrain it with: hpcopt estimate train --trace FILE --out DIR"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_LEAVES = 1 << 17
_MAX_META_BYTES = 64 << 20


def _versions() -> dict[str, str]:
    from hpcopt.core.provenance import version_record

    return version_record("lightgbm")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metadata_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of the metadata's canonical JSON without its ``digest`` key."""
    body = {k: v for k, v in meta.items() if k != "digest"}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8"))


def _finite(v: Any) -> Any:
    """JSON-ready: numpy numbers as Python ones; non-finite floats are refused by the schema."""
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def save_model(model: GBMEstimator, path: str | Path, *, force: bool = False) -> Path:
    """Write a fitted model to directory ``path`` atomically (an existing non-empty
    directory is replaced only with ``force``)."""
    from hpcopt.core.files import atomic_directory

    if not model.is_trained:
        raise ConfigError("this GBMEstimator is not fitted yet: nothing to save")
    texts: dict[str, str] = {}
    files: dict[str, Any] = {"point": [], "lower": "lower.txt", "upper": "upper.txt"}
    for i, b in enumerate(model.point_.boosters):
        name = f"point_{i}.txt"
        texts[name] = b.model_to_string()
        files["point"].append(name)
    texts["lower.txt"] = model.lower_model_.model_to_string()
    texts["upper.txt"] = model.upper_model_.model_to_string()
    blobs = {name: t.encode("utf-8") for name, t in texts.items()}
    meta: dict[str, Any] = _finite({
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
        "sha256": {name: _sha256(b) for name, b in blobs.items()},
    })
    meta["digest"] = metadata_digest(meta)
    out = Path(path)
    with atomic_directory(out, force=force) as tmp:
        for name, b in blobs.items():
            (tmp / name).write_bytes(b)
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, allow_nan=False))
    return out


# ---------------------------------------------------------------- metadata schema

class _Meta:
    """Checks one metadata document; every failure names the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def bad(self, key: str, what: str) -> InputError:
        return InputError(f"metadata.json: {what}", source=self.source, field=key, hint=_RETRAIN)

    def num(self, v: Any, key: str, *, lo: float | None = None, integer: bool = False, none: bool = False):
        if v is None and none:
            return None
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or (isinstance(v, float) and not math.isfinite(v)):
            raise self.bad(key, f"{key} must be {'an integer' if integer else 'a finite number'}"
                                f"{' or null' if none else ''}; got {v!r}")
        if lo is not None and v < lo:
            raise self.bad(key, f"{key} must be >= {lo}; got {v!r}")
        return v

    def strs(self, v: Any, key: str, *, unique: bool = True) -> list[str]:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.bad(key, f"{key} must be a list of strings")
        if unique and len(set(v)) != len(v):
            raise self.bad(key, f"{key} lists a name twice")
        return v

    def mapping(self, v: Any, key: str, *, none: bool = False) -> dict | None:
        if v is None and none:
            return None
        if not isinstance(v, dict):
            raise self.bad(key, f"{key} must be an object{' or null' if none else ''}")
        return v

    def scalars(self, v: Any, key: str) -> None:
        for k, x in v.items():
            if not (x is None or isinstance(x, (str, bool))
                    or (isinstance(x, (int, float)) and math.isfinite(x))):
                raise self.bad(f"{key}.{k}", f"{key}.{k} must be a string, a finite number or null; got {x!r}")


_KEYS = ("schema", "params", "features", "categorical_features", "dropped_features", "vocab", "training_window",
         "metrics", "training_log_mae", "n_train", "n_calibration", "conformal_q", "calibration_scores",
         "data_hash", "versions", "point_init_column", "files", "sha256", "digest")


def check_metadata(meta: Any, source: str) -> dict[str, Any]:
    """Validate every key of a model's metadata (presence, type, range, consistency)."""
    m = _Meta(source)
    if not isinstance(meta, dict):
        raise m.bad("metadata", "metadata.json must hold a JSON object")
    schema = meta.get("schema")
    if schema in _OLD_SCHEMAS:
        raise InputError(f"saved by an older hpcopt (schema {schema!r}, without file checksums)", source=source,
                         hint=_RETRAIN)
    if schema != SCHEMA:
        raise m.bad("schema", f"unknown model schema {schema!r}; expected {SCHEMA!r}")
    missing = [k for k in _KEYS if k not in meta]
    if missing:
        raise m.bad(missing[0], f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    extra = sorted(set(meta) - set(_KEYS))
    if extra:
        raise m.bad(extra[0], f"unexpected key{'s' if len(extra) > 1 else ''} {', '.join(extra)}")
    if not isinstance(meta["digest"], str) or meta["digest"] != metadata_digest(meta):
        raise InputError("metadata.json does not match its SHA-256 digest (it was damaged or edited)",
                         source=source, field="digest", hint=_RETRAIN)
    # parameters: exactly GBMEstimator's, each valid for it
    params = m.mapping(meta["params"], "params")
    known = GBMEstimator().get_params()
    if set(params) != set(known):
        diff = sorted(set(params) ^ set(known))
        raise m.bad(f"params.{diff[0]}", f"params must be GBMEstimator's parameters; differs in {', '.join(diff)}")
    for k, default in known.items():
        v = params[k]
        if v is None or default is None:
            continue
        if isinstance(default, bool) != isinstance(v, bool) or (isinstance(default, str) != isinstance(v, str)):
            raise m.bad(f"params.{k}", f"params.{k} has the wrong type ({type(v).__name__})")
        if isinstance(v, float) and not math.isfinite(v):
            raise m.bad(f"params.{k}", f"params.{k} must be finite")
    try:
        GBMEstimator(**params)._validate_params()
    except ConfigError as exc:
        raise m.bad("params", f"params: {exc}") from None
    feats = m.strs(meta["features"], "features")
    if not feats:
        raise m.bad("features", "features must not be empty")
    cats = m.strs(meta["categorical_features"], "categorical_features")
    if not set(cats) <= set(feats):
        raise m.bad("categorical_features", "categorical_features must be among the features")
    dropped = m.mapping(meta["dropped_features"], "dropped_features")
    if not all(isinstance(v, str) for v in dropped.values()):
        raise m.bad("dropped_features", "dropped_features must map names to reasons (strings)")
    vocab = m.mapping(meta["vocab"], "vocab")
    for k, v in vocab.items():
        if not isinstance(v, dict) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                                              for c in v.values()):
            raise m.bad(f"vocab.{k}", f"vocab.{k} must map strings to codes >= 0")
    for key in ("training_window", "metrics"):
        d = m.mapping(meta[key], key, none=True)
        if d is not None:
            m.scalars(d, key)
    if meta["training_window"] is not None:
        m.num(meta["training_window"].get("jobs"), "training_window.jobs", lo=1, integer=True)
    m.num(meta["training_log_mae"], "training_log_mae", lo=0, none=True)
    m.num(meta["n_train"], "n_train", lo=1, integer=True)
    n_cal = m.num(meta["n_calibration"], "n_calibration", lo=1, integer=True)
    m.num(meta["conformal_q"], "conformal_q")
    scores = meta["calibration_scores"]
    if not isinstance(scores, list) or len(scores) != n_cal:
        raise m.bad("calibration_scores", f"calibration_scores must be a list of n_calibration ({n_cal}) numbers")
    for i, v in enumerate(scores):
        m.num(v, f"calibration_scores[{i}]")
    dh = meta["data_hash"]
    if dh is not None and not (isinstance(dh, str) and dh.startswith("sha256:") and _HEX.fullmatch(dh[7:])):
        raise m.bad("data_hash", "data_hash must be 'sha256:' and 64 hex digits, or null")
    versions = m.mapping(meta["versions"], "versions")
    if not all(isinstance(v, str) for v in versions.values()) or "lightgbm" not in versions:
        raise m.bad("versions", "versions must map library names to version strings, lightgbm included")
    col = m.num(meta["point_init_column"], "point_init_column", lo=0, integer=True, none=True)
    if col is not None and col >= len(feats):
        raise m.bad("point_init_column", f"point_init_column {col} is not a feature index (0..{len(feats) - 1})")
    files = m.mapping(meta["files"], "files")
    if set(files) != {"point", "lower", "upper"}:
        raise m.bad("files", "files must hold exactly 'point', 'lower' and 'upper'")
    point = m.strs(files["point"], "files.point")
    if not 1 <= len(point) <= 2:
        raise m.bad("files.point", "files.point must name one or two boosters")
    names = [*point, files["lower"], files["upper"]]
    for i, name in enumerate(names):
        key = "files.point" if i < len(point) else ("files.lower" if i == len(point) else "files.upper")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name or name == "metadata.json":
            raise m.bad(key, f"{key}: {name!r} is not a plain file name inside the model directory")
    if len(set(names)) != len(names):
        raise m.bad("files", "files names one file twice")
    sums = m.mapping(meta["sha256"], "sha256")
    if set(sums) != set(names) or not all(isinstance(v, str) and _HEX.fullmatch(v) for v in sums.values()):
        raise m.bad("sha256", "sha256 must give the 64-hex-digit SHA-256 of exactly the files listed in 'files'")
    return meta


class _NonFinite(Exception):
    pass


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):  # 1e999 parses as inf
        raise _NonFinite(text)
    return v


def _no_constant(text: str):
    raise _NonFinite(text)  # NaN, Infinity, -Infinity


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The model directory's metadata, schema-checked (see :func:`check_metadata`)."""
    from hpcopt.core.files import read_text

    p = Path(path)
    meta_file = p / "metadata.json"
    if not p.is_dir() or not meta_file.is_file():
        raise InputError("is not a saved model (no metadata.json)", source=str(p),
                         hint="train one with: hpcopt estimate train --trace FILE --out DIR")
    if meta_file.stat().st_size > _MAX_META_BYTES:
        raise InputError(f"metadata.json is larger than {_MAX_META_BYTES:,} bytes", source=str(p))
    text = read_text(meta_file)
    try:
        meta = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"metadata.json is not valid JSON ({exc})", source=str(p), hint=_RETRAIN) from None
    except _NonFinite as exc:
        raise InputError(f"metadata.json holds a number that is not finite ({exc})", source=str(p),
                         hint=_RETRAIN) from None
    return check_metadata(meta, str(p))


# ---------------------------------------------------------------- model files

def _model_file(p: Path, name: str) -> Path:
    """``p / name``, refused unless it resolves to a plain file directly inside ``p``."""
    f = p / name
    try:
        real = f.resolve(strict=True)
        inside = real.parent == p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"model file {name} is missing", source=str(p), hint=_RETRAIN) from None
    if not inside:
        raise InputError(f"model file {name} leads outside the model directory (a symlink to {real})",
                         source=str(p), hint="copy the model directory with its files, not links")
    if not real.is_file():
        raise InputError(f"model file {name} is not a regular file", source=str(p))
    return real


def _read_checked(p: Path, name: str, sha256: str) -> str:
    from hpcopt.core.files import max_input_bytes

    f = _model_file(p, name)
    limit = max_input_bytes()
    try:
        with open(f, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"model file {name} cannot be read ({exc.strerror})", source=str(p)) from None
    if len(raw) > limit:
        raise InputError(f"model file {name} is larger than {limit:,} bytes", source=str(p))
    if _sha256(raw) != sha256:
        raise InputError(f"model file {name} does not match its SHA-256 in metadata.json (it is damaged or was "
                         "replaced)", source=str(p), hint=_RETRAIN)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"model file {name} is not LightGBM model text (non-ASCII bytes)", source=str(p)) from None
    return text


_INT = re.compile(r"-?\d{1,10}")
_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?inf|nan")
_TREE_INTERNAL = ("split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child",
                  "internal_value", "internal_weight", "internal_count")
_TREE_KEYS = ("num_leaves", "num_cat", *_TREE_INTERNAL[:6], "leaf_value", "leaf_weight", "leaf_count",
              *_TREE_INTERNAL[6:], "is_linear", "shrinkage")
_HEADER_REQUIRED = ("version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
                    "feature_names", "feature_infos", "tree_sizes")
_HEADER_OPTIONAL = ("objective", "monotone_constraints")


class _TextError(Exception):
    pass


def _ints(text: str, what: str) -> list[int]:
    toks = text.split(" ") if text else []
    if not all(_INT.fullmatch(t) for t in toks):
        raise _TextError(f"{what} holds a value that is not an integer")
    return [int(t) for t in toks]


def _floats(text: str, what: str) -> list[float]:
    toks = text.split(" ") if text else []
    if not all(_FLOAT.fullmatch(t) for t in toks):
        raise _TextError(f"{what} holds a value that is not a number")
    return [float(t) for t in toks]


def _check_tree(block: str, index: int, n_features: int) -> None:
    lines = block.split("\n")
    if lines[0] != f"Tree={index}":
        raise _TextError(f"tree {index} does not start with 'Tree={index}'")
    body = lines[1:]
    while body and body[-1] == "":
        body.pop()
    kv: dict[str, str] = {}
    for ln in body:
        key, eq, val = ln.partition("=")
        if not eq or key in kv:
            raise _TextError(f"tree {index}: line {ln[:40]!r} is not a new key=value")
        kv[key] = val
    num_leaves = _ints(kv.get("num_leaves", ""), f"tree {index} num_leaves")
    num_cat = _ints(kv.get("num_cat", ""), f"tree {index} num_cat")
    if len(num_leaves) != 1 or not 1 <= num_leaves[0] <= _MAX_LEAVES or len(num_cat) != 1 or num_cat[0] < 0:
        raise _TextError(f"tree {index}: bad num_leaves or num_cat")
    L, C = num_leaves[0], num_cat[0]
    want = set(_TREE_KEYS) | ({"cat_boundaries", "cat_threshold"} if C else set())
    if set(kv) != want:
        diff = sorted(set(kv) ^ want)
        raise _TextError(f"tree {index}: keys differ from LightGBM's in {', '.join(diff)}")
    if kv["is_linear"] != "0":
        raise _TextError(f"tree {index}: linear trees are not supported")
    _floats(kv["shrinkage"], f"tree {index} shrinkage")
    n_inner = L - 1
    arrays = {}
    for key in _TREE_INTERNAL:
        conv = _ints if key in ("split_feature", "decision_type", "left_child", "right_child",
                                "internal_count") else _floats
        arrays[key] = conv(kv[key], f"tree {index} {key}")
        if len(arrays[key]) != n_inner:
            raise _TextError(f"tree {index}: {key} has {len(arrays[key])} values; num_leaves={L} needs {n_inner}")
    leaf_value = _floats(kv["leaf_value"], f"tree {index} leaf_value")
    if len(leaf_value) != L or not all(math.isfinite(v) for v in leaf_value):
        raise _TextError(f"tree {index}: leaf_value must hold {L} finite numbers")
    for key in ("leaf_weight", "leaf_count"):
        vals = _floats(kv[key], f"tree {index} {key}")
        if len(vals) != L and not (L == 1 and not vals):
            raise _TextError(f"tree {index}: {key} has {len(vals)} values; num_leaves={L} needs {L}")
    if L == 1:
        return
    left, right = arrays["left_child"], arrays["right_child"]
    # children: an inner node i >= 0 or a leaf ~k (k = -child - 1); all reachable once from the root
    seen_inner = [False] * n_inner
    seen_leaf = [False] * L
    stack = [0]
    seen_inner[0] = True
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if 0 <= child < n_inner:
                if seen_inner[child]:
                    raise _TextError(f"tree {index}: node {child} is reached twice (not a tree)")
                seen_inner[child] = True
                stack.append(child)
            elif -L <= child < 0:
                if seen_leaf[-child - 1]:
                    raise _TextError(f"tree {index}: leaf {-child - 1} is reached twice (not a tree)")
                seen_leaf[-child - 1] = True
            else:
                raise _TextError(f"tree {index}: child {child} of node {node} is out of range")
    if not (all(seen_inner) and all(seen_leaf)):
        raise _TextError(f"tree {index}: some nodes are not reachable from the root")
    if any(not 0 <= f < n_features for f in arrays["split_feature"]):
        raise _TextError(f"tree {index}: a split feature lies outside 0..max_feature_idx ({n_features - 1})")
    thresholds = arrays["threshold"]
    n_cat_nodes = 0
    for dt, thr in zip(arrays["decision_type"], thresholds):
        if not 0 <= dt <= 15 or (dt >> 2) & 3 == 3:
            raise _TextError(f"tree {index}: bad decision_type {dt}")
        if dt & 1:
            n_cat_nodes += 1
            if not (thr == int(thr) and 0 <= thr < C):
                raise _TextError(f"tree {index}: categorical split {thr!r} outside 0..num_cat-1 ({C - 1})")
        elif math.isnan(thr):
            raise _TextError(f"tree {index}: a numerical split threshold is NaN")
    if C:
        bounds = _ints(kv["cat_boundaries"], f"tree {index} cat_boundaries")
        bits = _ints(kv["cat_threshold"], f"tree {index} cat_threshold")
        if len(bounds) != C + 1 or bounds[0] != 0 or any(b > a for a, b in zip(bounds[1:], bounds)) \
                or bounds[-1] != len(bits) or any(not 0 <= b < 2 ** 32 for b in bits):
            raise _TextError(f"tree {index}: cat_boundaries and cat_threshold disagree")
    if n_cat_nodes > C:
        raise _TextError(f"tree {index}: {n_cat_nodes} categorical splits but num_cat={C}")


def check_lightgbm_text(text: str, *, source: str, n_features: int | None = None) -> None:
    """Refuse LightGBM model text whose structure LightGBM's parser would trust blindly."""
    try:
        _check_text(text, n_features)
    except _TextError as exc:
        raise InputError(f"not a valid LightGBM model: {exc}", source=source, hint=_RETRAIN) from None


def _check_text(text: str, n_features: int | None) -> None:
    if "\r" in text or "\0" in text:
        raise _TextError("carriage returns or NUL bytes")
    start = text.find("\nTree=0\n")
    if not text.startswith("tree\n") or start < 0:
        raise _TextError("no 'tree' header or no Tree=0 block")
    header: dict[str, str] = {}
    for ln in text[len("tree\n"):start].split("\n"):
        if not ln or ln == "average_output":
            continue
        key, eq, val = ln.partition("=")
        if not eq or key in header or key not in _HEADER_REQUIRED + _HEADER_OPTIONAL:
            raise _TextError(f"header line {ln[:40]!r} is not one LightGBM writes")
        header[key] = val
    missing = [k for k in _HEADER_REQUIRED if k not in header]
    if missing:
        raise _TextError(f"header lacks {', '.join(missing)}")
    if header["version"] not in ("v2", "v3", "v4"):
        raise _TextError(f"unknown model version {header['version']!r}")
    one = {k: _ints(header[k], k) for k in ("num_class", "num_tree_per_iteration", "label_index", "max_feature_idx")}
    if any(len(v) != 1 for v in one.values()):
        raise _TextError("num_class, num_tree_per_iteration, label_index and max_feature_idx need one value each")
    num_class, per_iter, label, max_idx = (v[0] for v in one.values())
    if not (1 <= num_class <= 1000 and 1 <= per_iter <= 1000 and label >= 0 and 0 <= max_idx < 1_000_000):
        raise _TextError("num_class, num_tree_per_iteration, label_index or max_feature_idx out of range")
    n = max_idx + 1
    if n_features is not None and n != n_features:
        raise _TextError(f"max_feature_idx={max_idx} but the model has {n_features} features")
    if len(header["feature_names"].split(" ")) != n or len(header["feature_infos"].split(" ")) != n:
        raise _TextError(f"feature_names and feature_infos must list {n} features")
    if "monotone_constraints" in header and len(_ints(header["monotone_constraints"], "monotone_constraints")) != n:
        raise _TextError(f"monotone_constraints must list {n} values")
    sizes = _ints(header["tree_sizes"], "tree_sizes")
    if not sizes or len(sizes) % per_iter or any(s < 1 for s in sizes):
        raise _TextError("tree_sizes must give a positive size per tree, whole iterations")
    # LightGBM jumps to each tree at the offsets the sizes give: they must be exact
    pos = start + 1
    for i, size in enumerate(sizes):
        block = text[pos:pos + size]
        if len(block) != size or not block.endswith("\n"):
            raise _TextError(f"tree {i} is cut short (tree_sizes says {size} characters)")
        _check_tree(block, i, n)
        pos += size
    rest = text[pos:]
    if not rest.startswith("end of trees\n"):
        raise _TextError("the trees do not end where tree_sizes says ('end of trees' missing)")
    tail = rest.split("\n")
    p_start = tail.index("parameters:") if "parameters:" in tail else -1
    p_end = tail.index("end of parameters") if "end of parameters" in tail else -1
    if not 0 < p_start < p_end:
        raise _TextError("the parameters section is missing or damaged")
    for ln in tail[p_start + 1:p_end]:
        if ln and not re.fullmatch(r"\[[a-z_0-9]+: [^\[\]]*\]", ln):
            raise _TextError(f"parameter line {ln[:40]!r} is damaged")
    last = [ln for ln in tail[p_end + 1:] if ln]
    if len(last) != 1 or not last[0].startswith("pandas_categorical:"):
        raise _TextError("the final pandas_categorical line is missing or damaged")
    try:
        json.loads(last[0][len("pandas_categorical:"):])
    except json.JSONDecodeError:
        raise _TextError("the final pandas_categorical line is not JSON") from None


def load_model(path: str | Path) -> GBMEstimator:
    """Load a model saved by :func:`save_model`; any damage is one InputError (see the
    module docstring); a different LightGBM major version is an error naming both."""
    lgb = require("lightgbm", "estimate")
    p = Path(path)
    meta = read_metadata(p)
    saved = meta["versions"]["lightgbm"]
    if saved.split(".")[0] != lgb.__version__.split(".")[0]:
        raise InputError(
            f"the model was saved with LightGBM {saved}; this is LightGBM {lgb.__version__} (another major version)",
            source=str(p), hint=f"install lightgbm=={saved} or retrain the model",
        )
    n_features = len(meta["features"])

    def booster(name: str):
        text = _read_checked(p, name, meta["sha256"][name])
        check_lightgbm_text(text, source=f"{p}/{name}", n_features=n_features)
        try:
            b = lgb.Booster(model_str=text)
        except Exception as exc:  # LightGBMError, or a Python-side parse error
            raise InputError(f"model file {name} is damaged ({type(exc).__name__}: {exc})", source=str(p),
                             hint=_RETRAIN) from None
        if b.num_feature() != n_features:
            raise InputError(f"model file {name} has {b.num_feature()} features; metadata.json lists {n_features}",
                             source=str(p), hint=_RETRAIN)
        return b

    files = meta["files"]
    model = GBMEstimator(**meta["params"])
    model.point_ = PointModel([booster(f) for f in files["point"]], meta["point_init_column"])
    model.lower_model_ = booster(files["lower"])
    model.upper_model_ = booster(files["upper"])
    model.feature_names_ = list(meta["features"])
    model.categorical_features_ = list(meta["categorical_features"])
    model.dropped_features_ = dict(meta["dropped_features"])
    model.vocab_ = {k: dict(v) for k, v in meta["vocab"].items()}
    model.train_window_ = meta["training_window"]
    model.training_metrics_ = meta["metrics"]
    if meta["training_log_mae"] is not None:
        model.training_error_ = float(meta["training_log_mae"])
    model.n_train_ = meta["n_train"]
    model.n_calibration_ = meta["n_calibration"]
    model.q_ = float(meta["conformal_q"])
    model.calibration_scores_ = np.asarray(meta["calibration_scores"], dtype=float)
    model.data_hash_ = meta["data_hash"]
    model.metadata_ = meta
    return model
