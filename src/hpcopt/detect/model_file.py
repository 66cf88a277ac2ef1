"""Saved detectors are data, not code: one zip of JSON and a numpy ``.npz``.

A detector file is a zip archive with exactly three members:

* ``manifest.json`` -- schema id and version, the hpcopt and library versions, the detector
  class and its parameters, the SHA-256 and size of the two other members, and a SHA-256
  of the manifest itself (``digest``, over its canonical JSON without that key);
* ``state.json`` -- the detector's attributes (parameters and learned state) as tagged
  JSON; arrays are named references into ``arrays.npz``, nested detectors (ensemble
  members, wrapped detectors) are nested objects whose class must be one of hpcopt's;
* ``arrays.npz`` -- every learned array, read with ``np.load(..., allow_pickle=False)``
  (numeric and boolean dtypes only).

Nothing in a file can name a Python callable: classes are looked up in a fixed list of
hpcopt detectors and of the PyOD estimators they wrap (whose fitted attributes are plain
arrays and numbers, stored by us -- no skops needed). The torch LSTM's weights are its
state dict as arrays; scikit-learn's Isolation Forest is stored as its trees' node arrays
(see :class:`~hpcopt.detect.detectors.IForestDetector`). Every member is checked against its
SHA-256 before it is parsed, so a damaged file is refused and never silently scores
differently; the loaded detector then scores a few rows once, so an inconsistent one is
an error at load time, not later.

Files written by hpcopt before this format were pickles; they are always refused, because
loading a pickle runs whatever code it names (re-fit the detector instead).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError, MissingDependencyError, require

__all__ = ["SCHEMA", "SCHEMA_VERSION", "save_detector", "detector_bytes", "load_detector", "detector_classes"]

SCHEMA = "hpcopt.detect.detector"
SCHEMA_VERSION = 1
_MEMBERS = ("state.json", "arrays.npz")
_MAX_DEPTH = 12  # nesting of detectors, lists and dicts in state.json
_MAX_CONTEXT = 1_000_000  # rows a detector may ask for before its first score
_PICKLE_HINT = "re-fit it with this hpcopt (hpcopt detect fit), which saves data, not code"
_NP_SCALARS = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64"}
# PyOD estimators a PyODDetector may hold: their fitted state is numbers, strings and arrays
_ESTIMATORS = {"pyod.models.hbos.HBOS", "pyod.models.loda.LODA", "pyod.models.ecod.ECOD",
               "pyod.models.copod.COPOD"}


class _Bad(Exception):
    """A problem with a file's content; turned into one InputError naming the file."""


def _json(blob: bytes, member: str) -> Any:
    """A member's JSON; non-finite numbers (NaN, Infinity, 1e999) are never written, so refused."""
    def finite(text: str) -> float:
        v = float(text)
        if not math.isfinite(v):
            raise _Bad(f"{member} holds a number that is not finite ({text})")
        return v

    def constant(text: str):
        raise _Bad(f"{member} holds a number that is not finite ({text})")

    try:
        return json.loads(blob.decode("utf-8"), parse_float=finite, parse_constant=constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _Bad(f"{member} is not valid JSON ({exc})") from None


def detector_classes() -> dict[str, type]:
    """The detector classes a file may name (hpcopt's own; optional ones when importable)."""
    from hpcopt.detect import detectors

    out: dict[str, type] = {c.__name__: c for c in (
        detectors.RandomDetector, detectors.MADDetector, detectors.PCADetector, detectors.IForestDetector,
        detectors.EnsembleDetector, detectors.RecentredDetector, detectors.MetricNormDetector)}
    from hpcopt.detect.pyod_detectors import PyODDetector  # imports pyod lazily itself
    from hpcopt.detect.sequence import SequenceAEDetector  # imports torch lazily itself

    out["PyODDetector"] = PyODDetector
    out["SequenceAEDetector"] = SequenceAEDetector
    return out


# ---------------------------------------------------------------- encoding

class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: np.ndarray) -> dict:
        if a.dtype.kind not in "biuf" or a.dtype.fields is not None:
            raise TypeError(f"cannot save an array of dtype {a.dtype} (numbers and booleans only)")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(a)
        return {"$array": key}

    def value(self, v: Any) -> Any:
        from hpcopt.detect.base import BaseDetector
        from hpcopt.detect.thresholds import Threshold

        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, np.generic):
            name = v.dtype.name
            if name not in _NP_SCALARS:
                raise TypeError(f"cannot save a numpy scalar of type {name}")
            py = v.item()
            if isinstance(py, float) and not math.isfinite(py):
                py = {"$float": repr(py)}
            return {"$np": [name, py]}
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, tuple):
            return {"$tuple": [self.value(x) for x in v]}
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise TypeError("cannot save a dict with keys that are not strings")
            return {"$dict": {k: self.value(x) for k, x in v.items()}}
        if isinstance(v, Threshold):
            return {"$threshold": {k: self.value(x) for k, x in v.as_dict().items()}}
        if isinstance(v, BaseDetector):
            return {"$detector": {"class": type(v).__name__,
                                  "state": {k: self.value(x) for k, x in v._saved_state().items()}}}
        qual = f"{type(v).__module__}.{type(v).__qualname__}"
        if qual in _ESTIMATORS:
            return {"$estimator": {"class": qual, "state": {k: self.value(x) for k, x in vars(v).items()}}}
        raise TypeError(f"cannot save a value of type {qual}")


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    import sys

    import hpcopt

    out = {"hpcopt": hpcopt.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    for mod in ("sklearn", "pyod", "torch"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = str(getattr(m, "__version__", "?"))
    return out


def detector_bytes(det) -> bytes:
    """The bytes of a detector file for a fitted detector (see the module docstring)."""
    enc = _Encoder()
    try:
        state = enc.value(det)
        params = {k: enc.value(v) for k, v in det.get_params().items()}
    except TypeError as exc:
        raise ConfigError(f"{type(det).__name__} cannot be saved: {exc}") from None
    # params again, encoded on their own: arrays in them (none today) would get new keys
    state_bytes = _canonical(state)
    buf = io.BytesIO()
    np.savez(buf, **enc.arrays)
    arrays_bytes = buf.getvalue()
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "hpcopt_version": _versions()["hpcopt"],
        "versions": _versions(),
        "detector": {"class": type(det).__name__, "params": params},
        "members": {"state.json": {"sha256": _sha256(state_bytes), "size": len(state_bytes)},
                    "arrays.npz": {"sha256": _sha256(arrays_bytes), "size": len(arrays_bytes)}},
    }
    manifest["digest"] = _sha256(_canonical(manifest))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False))
        zf.writestr("state.json", state_bytes)
        zf.writestr("arrays.npz", arrays_bytes)
    return out.getvalue()


def save_detector(det, path: str | Path) -> Path:
    """Write ``det`` (fitted) to ``path`` atomically: the old file or the new one, never half."""
    from hpcopt.core.files import atomic_write_bytes

    return atomic_write_bytes(path, detector_bytes(det))


# ---------------------------------------------------------------- decoding

def _is_pickle(raw: bytes) -> bool:
    # protocol 2+ starts with PROTO (0x80) and its number; protocols 0/1 with an opcode such
    # as '(' (MARK), '}' (EMPTY_DICT) or 'c' (GLOBAL), and every pickle ends with STOP ('.')
    if len(raw) >= 2 and raw[0] == 0x80 and 2 <= raw[1] <= 5:
        return True
    return raw[:1] in (b"(", b"}", b"]", b"c", b"I", b"S", b"V") and raw.rstrip()[-1:] == b"."


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray], classes: dict[str, type]) -> None:
        self.arrays = arrays
        self.used: set[str] = set()
        self.classes = classes

    def value(self, v: Any, where: str, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise _Bad(f"state.json nests deeper than {_MAX_DEPTH} levels at {where}")
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
        if not isinstance(v, dict) or len(v) != 1:
            raise _Bad(f"state.json: unexpected value at {where}")
        (tag, body), = v.items()
        if tag == "$array":
            if not isinstance(body, str) or body not in self.arrays:
                raise _Bad(f"state.json refers to array {body!r} at {where}, which arrays.npz lacks")
            self.used.add(body)
            return self.arrays[body]
        if tag == "$float":
            if body not in ("nan", "inf", "-inf"):
                raise _Bad(f"state.json: bad non-finite float {body!r} at {where}")
            return float(body)
        if tag == "$np":
            if (not isinstance(body, list) or len(body) != 2 or body[0] not in _NP_SCALARS
                    or not isinstance(body[1], (bool, int, float, dict))):
                raise _Bad(f"state.json: bad numpy scalar at {where}")
            val = self.value(body[1], where, depth + 1)
            if not isinstance(val, (bool, int, float)):
                raise _Bad(f"state.json: bad numpy scalar at {where}")
            try:
                return np.dtype(body[0]).type(val)
            except (OverflowError, ValueError, TypeError):
                raise _Bad(f"state.json: numpy scalar out of range at {where}") from None
        if tag == "$tuple":
            if not isinstance(body, list):
                raise _Bad(f"state.json: bad tuple at {where}")
            return tuple(self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(body))
        if tag == "$dict":
            if not isinstance(body, dict):
                raise _Bad(f"state.json: bad dict at {where}")
            return {k: self.value(x, f"{where}.{k}", depth + 1) for k, x in body.items()}
        if tag == "$threshold":
            return self.threshold(body, where, depth)
        if tag == "$detector":
            return self.detector(body, where, depth)
        if tag == "$estimator":
            return self.estimator(body, where, depth)
        raise _Bad(f"state.json: unknown tag {tag!r} at {where}")

    def _attrs(self, body: Any, where: str, depth: int) -> tuple[str, dict]:
        if not isinstance(body, dict) or set(body) != {"class", "state"} or not isinstance(body["class"], str) \
                or not isinstance(body["state"], dict):
            raise _Bad(f"state.json: bad object at {where}")
        state = {}
        for k, x in body["state"].items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) or k.startswith("__"):
                raise _Bad(f"state.json: bad attribute name {k!r} at {where}")
            state[k] = self.value(x, f"{where}.{k}", depth + 1)
        return body["class"], state

    def threshold(self, body: Any, where: str, depth: int):
        from dataclasses import fields

        from hpcopt.detect.thresholds import Threshold

        names = {f.name for f in fields(Threshold)}
        if not isinstance(body, dict) or set(body) != names:
            raise _Bad(f"state.json: bad threshold at {where}")
        t = {k: self.value(x, f"{where}.{k}", depth + 1) for k, x in body.items()}
        if not isinstance(t["value"], float) or not isinstance(t["method"], str) \
                or not isinstance(t["params"], dict) or not isinstance(t["details"], dict) \
                or not isinstance(t["n_calibration"], int):
            raise _Bad(f"state.json: bad threshold at {where}")
        return Threshold(**t)

    def detector(self, body: Any, where: str, depth: int):
        name, state = self._attrs(body, where, depth)
        cls = self.classes.get(name)
        if cls is None:
            raise _Bad(f"state.json names detector class {name!r}, which is not one of hpcopt's "
                       f"({', '.join(sorted(self.classes))})")
        obj = cls.__new__(cls)
        try:
            obj._restore_state(state)
        except (_Bad, MissingDependencyError):
            raise
        except Exception as exc:
            raise _Bad(f"the saved {name} at {where} is inconsistent ({type(exc).__name__}: {exc})") from None
        return obj

    def estimator(self, body: Any, where: str, depth: int):
        name, state = self._attrs(body, where, depth)
        if name not in _ESTIMATORS:
            raise _Bad(f"state.json names estimator {name!r}, which is not one hpcopt wraps")
        module, cls_name = name.rsplit(".", 1)
        cls = getattr(require(module, "detect"), cls_name)
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        return obj


def _read_archive(p: Path, raw: bytes) -> tuple[dict, dict[str, bytes]]:
    from hpcopt.core.files import max_input_bytes

    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise _Bad(f"is not a readable zip archive ({exc})") from None
    with zf:
        names = zf.namelist()
        expected = {"manifest.json", *_MEMBERS}
        if len(names) != len(set(names)) or set(names) != expected:
            missing = sorted(expected - set(names))
            extra = sorted(set(names) - expected)
            raise _Bad("holds " + "; ".join(
                ([f"no member {', '.join(missing)}"] if missing else [])
                + ([f"unexpected members {', '.join(extra)}"] if extra else [])
                + (["duplicate members"] if len(names) != len(set(names)) else [])))
        limit = max_input_bytes()
        data = {}
        for info in zf.infolist():
            if info.file_size > limit:
                raise _Bad(f"member {info.filename} would be {info.file_size:,} bytes (limit {limit:,})")
            try:
                with zf.open(info) as fh:
                    blob = fh.read(limit + 1)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise _Bad(f"member {info.filename} is damaged ({exc})") from None
            except Exception as exc:  # zlib.error and kin from a damaged deflate stream
                raise _Bad(f"member {info.filename} is damaged ({type(exc).__name__}: {exc})") from None
            if len(blob) != info.file_size:
                raise _Bad(f"member {info.filename} is damaged (size {len(blob)}, the index says {info.file_size})")
            data[info.filename] = blob
    manifest = _json(data["manifest.json"], "manifest.json")
    _check_manifest(manifest)
    for name in _MEMBERS:
        want = manifest["members"][name]
        if len(data[name]) != want["size"] or _sha256(data[name]) != want["sha256"]:
            raise _Bad(f"member {name} does not match its SHA-256 in the manifest (the file is damaged)")
    return manifest, data


def _check_manifest(m: Any) -> None:
    if not isinstance(m, dict):
        raise _Bad("manifest.json is not a JSON object")
    if m.get("schema") != SCHEMA:
        raise _Bad(f"manifest.json has schema {m.get('schema')!r}; expected {SCHEMA!r}")
    v = m.get("schema_version")
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Bad(f"manifest.json: schema_version {v!r} is not an integer")
    if v != SCHEMA_VERSION:
        newer = v > SCHEMA_VERSION
        raise _Bad(f"saved with detector schema version {v}; this hpcopt reads version {SCHEMA_VERSION}"
                   + (" (it was written by a newer hpcopt: upgrade)" if newer else " (re-fit it)"))
    keys = {"schema", "schema_version", "hpcopt_version", "versions", "detector", "members", "digest"}
    if set(m) != keys:
        raise _Bad(f"manifest.json keys are {sorted(m)}; expected {sorted(keys)}")
    if not isinstance(m["digest"], str) or _sha256(_canonical({k: x for k, x in m.items() if k != "digest"})) \
            != m["digest"]:
        raise _Bad("manifest.json does not match its own SHA-256 digest (the file is damaged)")
    if not isinstance(m["hpcopt_version"], str) or not isinstance(m["versions"], dict):
        raise _Bad("manifest.json: bad hpcopt_version or versions")
    d = m["detector"]
    if not isinstance(d, dict) or set(d) != {"class", "params"} or not isinstance(d["class"], str) \
            or not isinstance(d["params"], dict):
        raise _Bad("manifest.json: 'detector' must hold 'class' (a string) and 'params' (an object)")
    mem = m["members"]
    if not isinstance(mem, dict) or set(mem) != set(_MEMBERS):
        raise _Bad(f"manifest.json: 'members' must list exactly {', '.join(_MEMBERS)}")
    for name, info in mem.items():
        if not isinstance(info, dict) or set(info) != {"sha256", "size"} \
                or not (isinstance(info["sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", info["sha256"])) \
                or not isinstance(info["size"], int) or info["size"] < 0:
            raise _Bad(f"manifest.json: bad entry for member {name}")


def _load_arrays(blob: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # ValueError (object arrays refused), BadZipFile, ...: all damage
        raise _Bad(f"arrays.npz cannot be read ({type(exc).__name__}: {exc})") from None
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf" or a.dtype.fields is not None:
            raise _Bad(f"arrays.npz: array {k} has dtype {a.dtype} (numbers and booleans only)")
    return arrays


def _check_loaded(det) -> None:
    """Score a few rows once so that an inconsistent detector fails here, with the file named."""
    from hpcopt.detect.base import BaseDetector
    from hpcopt.detect.thresholds import Threshold

    if not isinstance(det, BaseDetector):
        raise _Bad("does not hold a detector")
    n = getattr(det, "n_features_in_", None)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise _Bad("the detector has no valid number of metrics (n_features_in_)")
    med = getattr(det, "median_", None)
    if not isinstance(med, np.ndarray) or med.shape != (n,) or not np.isfinite(med).all():
        raise _Bad("the detector's training medians (median_) do not match its number of metrics")
    thr = getattr(det, "threshold_", None)
    if not isinstance(thr, Threshold) or not math.isfinite(thr.value):
        raise _Bad("the detector has no valid threshold (threshold_)")
    try:
        ctx = int(det.context_)
        smoothing = int(det.smoothing)
    except Exception as exc:
        raise _Bad(f"the detector's parameters are inconsistent ({exc})") from None
    if not 0 <= ctx <= _MAX_CONTEXT or not 1 <= smoothing <= _MAX_CONTEXT:
        raise _Bad(f"the detector's look-back ({ctx}) or smoothing ({smoothing}) is out of range")
    X = np.tile(med, (ctx + 3, 1)) + np.linspace(-1.0, 1.0, ctx + 3)[:, None]
    try:
        s = det.decision_function(X)
        c = det.explain(X[-2:])
    except Exception as exc:
        raise _Bad(f"the saved detector is inconsistent: scoring fails ({type(exc).__name__}: {exc})") from None
    if s.shape != (X.shape[0],) or c.shape != (2, n) or not np.isfinite(s).all():
        raise _Bad("the saved detector is inconsistent: it gives no finite scores")


def _model_file_in(p: Path) -> Path:
    """A registered model version is a directory holding the one saved file: that file."""
    if not p.is_dir():
        return p
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    if len(files) != 1:
        raise InputError(f"a detector model directory holds exactly one saved detector; found {len(files)} files",
                         source=str(p), hint="pass the saved file itself")
    return files[0]


def load_detector(path: str | Path):
    """Load a detector written by :meth:`~hpcopt.detect.base.BaseDetector.save`.

    ``path`` may also be a directory holding one such file (a registered model version).
    Any damage (truncation, a flipped byte, a missing member, a checksum mismatch, another
    schema) is one :class:`~hpcopt.errors.InputError` naming the file and the problem. A
    pickle from an older hpcopt is always refused: loading a pickle runs the code it names.
    """
    from hpcopt.core.files import read_bytes

    p = _model_file_in(Path(path))
    raw = read_bytes(p)  # missing file, size bound: InputError already
    if raw[:4] != b"PK\x03\x04":
        if _is_pickle(raw):
            raise InputError("this is a pickle saved by an older hpcopt; loading it would run any code it "
                             "holds", source=str(p), hint=_PICKLE_HINT)
        raise InputError("not a saved hpcopt detector (not a zip archive)", source=str(p),
                         hint="save one with: hpcopt detect fit --train FILE --out FILE")
    try:
        manifest, data = _read_archive(p, raw)
        state = _json(data["state.json"], "state.json")
        arrays = _load_arrays(data["arrays.npz"])
        dec = _Decoder(arrays, detector_classes())
        if not isinstance(state, dict) or "$detector" not in state:
            raise _Bad("state.json does not hold a detector")
        det = dec.value(state, "detector")
        if type(det).__name__ != manifest["detector"]["class"]:
            raise _Bad(f"manifest.json says {manifest['detector']['class']}, state.json holds {type(det).__name__}")
        if set(dec.arrays) - dec.used:
            raise _Bad(f"arrays.npz holds arrays state.json does not use: {sorted(set(dec.arrays) - dec.used)[:5]}")
        _check_loaded(det)
    except _Bad as exc:
        raise InputError(str(exc), source=str(p), hint="re-fit and save the detector again") from None
    except RecursionError:
        raise InputError("state.json nests too deeply", source=str(p)) from None
    return det


