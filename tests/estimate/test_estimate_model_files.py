"""Saved runtime models are untrusted data: damaged ones are one clear error, never a crash.

A corpus of 100+ damaged model directories (truncated and byte-flipped LightGBM files,
with and without recomputed checksums; metadata keys missing or of the wrong type; file
entries that escape the directory; structural damage LightGBM's parser would trust) goes
through ``hpcopt estimate predict`` in subprocesses, since a native abort or segfault
would kill the process running it: every case is exit code 2 and one line, never 134/139
or a traceback (and a mutant that is still a valid model predicts, exit 0).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from hpcopt.data import write_swf  # noqa: E402
from hpcopt.data.workload import Workload  # noqa: E402
from hpcopt.errors import ConfigError, InputError  # noqa: E402
from hpcopt.estimate.gbm import GBMEstimator  # noqa: E402
from hpcopt.estimate.model_io import (SCHEMA, check_lightgbm_text, load_model, metadata_digest,  # noqa: E402
                                      read_metadata)

SRC = Path(__file__).resolve().parents[2] / "src"


def _workload(n=500, seed=0):
    rng = np.random.default_rng(seed)
    user = rng.integers(1, 12, n)
    runtime = np.round(np.exp(3 + user * 0.5 + rng.normal(0, 0.4, n)))
    return Workload.from_arrays(submit=np.round(np.cumsum(rng.exponential(300, n))), wait=np.zeros(n),
                                runtime=runtime, req_time=np.ceil(runtime * 4 / 60) * 60,
                                req_procs=rng.integers(1, 9, n), alloc_procs=rng.integers(1, 9, n), user=user,
                                group=user % 3 + 1, header={"MaxProcs": "64"})


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    w = _workload()
    write_swf(w, d / "t.swf")
    model = GBMEstimator(n_estimators=8, min_train_jobs=100, random_state=1).fit(w)
    model.save(d / "m")
    return d / "m", d / "t.swf", w


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _meta(d: Path) -> dict:
    return json.loads((d / "metadata.json").read_text())


def _write_meta(d: Path, meta: dict, *, fix_digest: bool = True) -> None:
    if fix_digest:
        meta["digest"] = metadata_digest(meta)
    (d / "metadata.json").write_text(json.dumps(meta, indent=1))


def _set_file(d: Path, name: str, data: bytes, *, fix_checksum: bool) -> None:
    (d / name).write_bytes(data)
    if fix_checksum:
        meta = _meta(d)
        meta["sha256"][name] = hashlib.sha256(data).hexdigest()
        _write_meta(d, meta)


def _edit_text(text: str, pattern: str, repl: str, count: int = 1) -> str:
    out, n = re.subn(pattern, repl, text, count=count, flags=re.M)
    assert n, pattern
    return out


def _fix_tree_sizes(text: str) -> str:
    """Recompute the header's tree_sizes after an edit, so that the damage inside a tree
    (not a size mismatch) is what the validator has to find."""
    start = text.index("\nTree=0\n") + 1
    end = text.index("end of trees\n")
    blocks = re.split(r"(?=^Tree=\d+$)", text[start:end], flags=re.M)
    sizes = " ".join(str(len(b)) for b in blocks if b)
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", text, count=1, flags=re.M)


# structural damage that a recomputed checksum lets through to the validator
_STRUCTURAL = {
    "tree_sizes off by one": (r"^tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m.group(1)) + 1}"),
    "tree_sizes too large": (r"^tree_sizes=(\d+)", lambda m: "tree_sizes=99999999"),
    "one tree size dropped": (r"^(tree_sizes=\d+) ", lambda m: m.group(1).replace("tree_sizes=", "tree_sizes=")
                              + "\ntree_sizes_removed="),
    "num_leaves too large": (r"^num_leaves=(\d+)", lambda m: "num_leaves=4000000000"),
    "num_leaves plus one": (r"^num_leaves=(\d+)", lambda m: f"num_leaves={int(m.group(1)) + 1}"),
    "num_leaves zero": (r"^num_leaves=(\d+)", lambda m: "num_leaves=0"),
    "left_child cycle": (r"^left_child=(-?\d+)", lambda m: "left_child=0"),
    "right_child out of range": (r"^right_child=(-?\d+)", lambda m: "right_child=-99"),
    "split_feature beyond max_feature_idx": (r"^split_feature=(\d+)", lambda m: "split_feature=977"),
    "split_feature negative": (r"^split_feature=(\d+)", lambda m: "split_feature=-1"),
    "leaf_value too short": (r"^leaf_value=(\S+) ", lambda m: "leaf_value="),
    "leaf_value not a number": (r"^leaf_value=(\S+)", lambda m: "leaf_value=abc"),
    "threshold list too long": (r"^threshold=(\S+)", lambda m: f"threshold={m.group(1)} 1 2 3"),
    "decision_type categorical without num_cat": (r"^decision_type=(\d+)", lambda m: "decision_type=1"),
    "decision_type bad missing type": (r"^decision_type=(\d+)", lambda m: "decision_type=14"),
    "num_cat without boundaries": (r"^num_cat=0", lambda m: "num_cat=3"),
    "a line without '='": (r"^is_linear=0", lambda m: "is_linear0"),
    "a tree key removed": (r"^internal_count=.*\n", lambda m: ""),
    "a tree key duplicated": (r"^(shrinkage=.*)$", lambda m: m.group(1) + "\n" + m.group(1)),
    "linear tree": (r"^is_linear=0", lambda m: "is_linear=1"),
    "max_feature_idx larger": (r"^max_feature_idx=(\d+)", lambda m: f"max_feature_idx={int(m.group(1)) + 5}"),
    "max_feature_idx huge": (r"^max_feature_idx=(\d+)", lambda m: "max_feature_idx=2147483647"),
    "num_class zero": (r"^num_class=1", lambda m: "num_class=0"),
    "num_tree_per_iteration zero": (r"^num_tree_per_iteration=1", lambda m: "num_tree_per_iteration=0"),
    "version unknown": (r"^version=v4", lambda m: "version=v9"),
    "header key unknown": (r"^label_index=0", lambda m: "label_index=0\nbogus=1"),
    "feature_names short": (r"^feature_names=(\S+) ", lambda m: "feature_names="),
    "end of trees removed": (r"^end of trees\n", lambda m: ""),
    "parameters removed": (r"^parameters:\n", lambda m: ""),
    "parameter line damaged": (r"^\[boosting: gbdt\]", lambda m: "[boosting gbdt"),
    "pandas_categorical damaged": (r"^pandas_categorical:null", lambda m: "pandas_categorical:{["),
    "Tree=0 renamed": (r"^Tree=0$", lambda m: "Tree=7"),
    "carriage return": (r"^shrinkage=(.*)$", lambda m: f"shrinkage={m.group(1)}\r"),
}


def _corpus(good_dir: Path, root: Path) -> list[tuple[str, Path, bool]]:
    """(what, model directory, may_still_be_valid) for 100+ damaged copies of one model."""
    rng = np.random.default_rng(7)
    meta = _meta(good_dir)
    boosters = [*meta["files"]["point"], meta["files"]["lower"], meta["files"]["upper"]]
    out: list[tuple[str, Path, bool]] = []
    k = 0

    def new(what: str, valid_ok: bool = False) -> Path:
        nonlocal k
        k += 1
        d = _copy(good_dir, root / f"c{k:03d}")
        out.append((what, d, valid_ok))
        return d

    for i in range(16):  # truncations, checksum left as saved
        name = boosters[i % len(boosters)]
        raw = (good_dir / name).read_bytes()
        cut = int(rng.integers(0, len(raw)))
        _set_file(new(f"{name} truncated to {cut}"), name, raw[:cut], fix_checksum=False)
    for i in range(16):  # byte flips, checksum left as saved
        name = boosters[i % len(boosters)]
        raw = bytearray((good_dir / name).read_bytes())
        pos = int(rng.integers(len(raw)))
        raw[pos] ^= int(rng.integers(1, 256))
        _set_file(new(f"{name} byte {pos} flipped"), name, bytes(raw), fix_checksum=False)
    for i in range(16):  # truncations with a recomputed checksum: the structure check must catch them
        name = boosters[i % len(boosters)]
        raw = (good_dir / name).read_bytes()
        cut = int(rng.integers(0, len(raw) - 30))
        _set_file(new(f"{name} truncated to {cut}, checksum recomputed"), name, raw[:cut], fix_checksum=True)
    for i in range(20):  # flips with a recomputed checksum: an error, or a model that is still valid
        name = boosters[i % len(boosters)]
        raw = bytearray((good_dir / name).read_bytes())
        pos = int(rng.integers(len(raw)))
        raw[pos] ^= int(rng.integers(1, 256))
        _set_file(new(f"{name} byte {pos} flipped, checksum recomputed", True), name, bytes(raw),
                  fix_checksum=True)
    for what, (pattern, repl) in _STRUCTURAL.items():
        name = boosters[len(out) % len(boosters)]
        text = (good_dir / name).read_text()
        edited = _edit_text(text, pattern, repl)
        if "tree_sizes" not in what and "Tree=0" not in what and "end of trees" not in what:
            edited = _fix_tree_sizes(edited)
        _set_file(new(f"{name}: {what}, checksum recomputed"), name, edited.encode(), fix_checksum=True)
    for key in meta:  # every metadata key missing (digest recomputed, so the schema check decides)
        m = _meta(good_dir)
        del m[key]
        _write_meta(new(f"metadata without {key}"), m, fix_digest=key != "digest")
    wrong = {"params": [], "features": "user", "categorical_features": [1], "dropped_features": [],
             "vocab": {"queue": [1]}, "training_window": {"jobs": -1}, "metrics": {"x": [1]},
             "training_log_mae": "low", "n_train": 0, "n_calibration": 1.5, "conformal_q": None,
             "calibration_scores": [1.0], "data_hash": "md5:x", "versions": {"numpy": "2"},
             "point_init_column": 999, "files": {"point": []}, "sha256": {"x.txt": "00"}, "schema": "other/9"}
    for key, value in wrong.items():
        m = _meta(good_dir)
        m[key] = value
        _write_meta(new(f"metadata {key} = {value!r}"), m)
    for key, value in {"n_estimators": -3, "learning_rate": "fast", "point_loss": "magic", "categorical": 1,
                       "confidence_level": 2.0}.items():
        m = _meta(good_dir)
        m["params"][key] = value
        _write_meta(new(f"metadata params.{key} = {value!r}"), m)
    for target in ("../../etc/passwd", "/etc/passwd", "sub/x.txt", "..", ".hidden", "metadata.json", "a\\b.txt"):
        m = _meta(good_dir)
        old = m["files"]["lower"]
        m["files"]["lower"] = target
        m["sha256"][target] = m["sha256"].pop(old)
        _write_meta(new(f"files.lower = {target!r}"), m)
    d = new("lower.txt a symlink out of the directory")
    outside = root / "outside.txt"
    shutil.copy(good_dir / meta["files"]["lower"], outside)
    (d / meta["files"]["lower"]).unlink()
    os.symlink(outside, d / meta["files"]["lower"])
    d = new("upper.txt missing")
    (d / meta["files"]["upper"]).unlink()
    d = new("upper.txt a directory")
    (d / meta["files"]["upper"]).unlink()
    (d / meta["files"]["upper"]).mkdir()
    d = new("metadata.json missing")
    (d / "metadata.json").unlink()
    _set_file(new("metadata.json not JSON"), "metadata.json", b'{"schema": ', fix_checksum=False)
    _set_file(new("metadata.json a list"), "metadata.json", b"[1, 2]", fix_checksum=False)
    _set_file(new("metadata.json binary"), "metadata.json", b"\x00\xff\xfe", fix_checksum=False)
    raw = (good_dir / "metadata.json").read_bytes()
    for i in range(10):  # metadata byte flips: the digest (or JSON) refuses them, or they are whitespace
        b = bytearray(raw)
        pos = int(rng.integers(len(b)))
        b[pos] ^= int(rng.integers(1, 256))
        _set_file(new(f"metadata.json byte {pos} flipped", True), "metadata.json", bytes(b), fix_checksum=False)
    m = _meta(good_dir)
    m["schema"] = "hpcopt.estimate.gbm-model/1"
    _write_meta(new("an older schema"), m)
    text = (good_dir / "metadata.json").read_text()
    for number in ("1e999", "NaN", "-Infinity"):  # JSON numbers Python reads as non-finite floats
        bad = re.sub(r'"conformal_q": [^,\n]+', f'"conformal_q": {number}', text)
        _set_file(new(f"metadata conformal_q = {number}"), "metadata.json", bad.encode(), fix_checksum=False)
    return out


_WORKER = r"""
import contextlib, io, json, sys
from hpcopt.cli import main
trace = sys.argv[1]
for d in sys.argv[2:]:
    print(json.dumps({"start": d}), flush=True)
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            main(["estimate", "predict", "--model", d, "--trace", trace, "--limit", "1"])
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # a traceback would escape main(): record it
            import traceback
            buf.write("Traceback " + traceback.format_exc())
            code = "traceback"
    print(json.dumps({"dir": d, "code": code, "out": buf.getvalue()}), flush=True)
"""


def test_100_damaged_models_each_give_exit_2_and_one_line(good, tmp_path):
    good_dir, trace, _ = good
    corpus = _corpus(good_dir, tmp_path)
    assert len(corpus) >= 100
    results: dict[str, dict] = {}
    batches = [corpus[i::3] for i in range(3)]
    for batch in batches:
        proc = subprocess.run([sys.executable, "-c", _WORKER, str(trace), *(str(d) for _, d, _ in batch)],
                              capture_output=True, text=True, env=_env(), timeout=600)
        lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
        started = [ln["start"] for ln in lines if "start" in ln]
        assert proc.returncode == 0, (f"worker died with {proc.returncode} (134: abort, 139: segfault, negative: "
                                      f"signal) on {started[-1] if started else '?'}: {proc.stderr[-2000:]}")
        results.update({ln["dir"]: ln for ln in lines if "dir" in ln})
    still_valid = 0
    for what, d, valid_ok in corpus:
        r = results[str(d)]
        out = r["out"].strip()
        assert "Traceback" not in out, (what, out)
        if r["code"] == 0 and valid_ok:
            still_valid += 1  # a flip inside a number or whitespace: a valid model, scored normally
            assert "accuracy" in out or "mae" in out, (what, out)
            continue
        assert r["code"] == 2, (what, r["code"], out)
        assert len(out.splitlines()) == 1 and out.startswith("error:"), (what, out)
        assert str(d) in out, (what, out)
    assert still_valid <= 30  # most flips are caught by the structure check even with checksums recomputed


def test_damaged_models_through_the_real_entry_point_exit_2_with_one_line(good, tmp_path):
    """A few cases through ``python -m hpcopt`` itself, without --json: exit 2, one line."""
    good_dir, trace, _ = good
    meta = _meta(good_dir)
    name = meta["files"]["point"][0]
    text = (good_dir / name).read_text()
    cases = []
    d = _copy(good_dir, tmp_path / "cut")
    _set_file(d, name, text.encode()[: len(text) // 2], fix_checksum=True)
    cases.append(d)
    d = _copy(good_dir, tmp_path / "flip")
    _set_file(d, name, _edit_text(text, r"^right_child=(-?\d+)", "right_child=-99").encode(), fix_checksum=True)
    cases.append(d)
    d = _copy(good_dir, tmp_path / "nokey")
    m = _meta(good_dir)
    del m["n_calibration"]
    _write_meta(d, m)
    cases.append(d)
    d = _copy(good_dir, tmp_path / "escape")
    m = _meta(good_dir)
    m["files"]["upper"] = "../../etc/passwd"
    _write_meta(d, m)
    cases.append(d)
    for d in cases:
        proc = subprocess.run([sys.executable, "-m", "hpcopt", "estimate", "predict", "--model", str(d),
                               "--trace", str(trace)], capture_output=True, text=True, env=_env(), timeout=300)
        err = proc.stderr.strip()
        assert proc.returncode == 2, (d.name, proc.returncode, err[-2000:])
        assert len(err.splitlines()) == 1 and "Traceback" not in err and str(d) in err, err


_EXPECTED = {"num_leaves too large": "cut short|bad num_leaves", "num_leaves plus one": "needs",
             "left_child cycle": "reached twice|not reachable", "right_child out of range": "out of range",
             "split_feature beyond max_feature_idx": "split feature", "split_feature negative": "split feature",
             "leaf_value too short": "leaf_value", "leaf_value not a number": "not a number",
             "threshold list too long": "threshold has", "a line without '='": "not a new key=value",
             "a tree key removed": "keys differ", "a tree key duplicated": "not a new key=value",
             "decision_type categorical without num_cat": "categorical split"}


@pytest.mark.parametrize("what", sorted(_EXPECTED))
def test_structure_check_names_the_damage_inside_a_tree(good, what):
    good_dir, _, _ = good
    text = (good_dir / _meta(good_dir)["files"]["point"][0]).read_text()
    check_lightgbm_text(_fix_tree_sizes(text), source="ok", n_features=len(_meta(good_dir)["features"]))
    pattern, repl = _STRUCTURAL[what]
    with pytest.raises(InputError, match=_EXPECTED[what]):
        check_lightgbm_text(_fix_tree_sizes(_edit_text(text, pattern, repl)), source="x")


def test_unvalidated_lightgbm_would_crash_on_what_the_validator_refuses(good, tmp_path):
    """The reason for the structure check: LightGBM itself aborts or crashes on these."""
    good_dir, _, _ = good
    name = _meta(good_dir)["files"]["point"][0]
    text = (good_dir / name).read_text()
    damaged = {"tree_sizes too large": _edit_text(text, r"^tree_sizes=(\d+)", "tree_sizes=99999999"),
               "a line without '='": _edit_text(text, r"^is_linear=0\nshrinkage=\S+\n", "is_linear0")}
    crashed = 0
    for what, t in damaged.items():
        with pytest.raises(InputError, match="not a valid LightGBM model"):
            check_lightgbm_text(t, source=what)
        f = tmp_path / "m.txt"
        f.write_text(t)
        code = ("import lightgbm as lgb, sys\n"
                "try:\n    lgb.Booster(model_str=open(sys.argv[1]).read())\nexcept Exception:\n    sys.exit(2)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, timeout=120)
        crashed += proc.returncode not in (0, 2)
    assert crashed >= 1  # at least one of them takes LightGBM down (abort or segfault) when unchecked


def test_saved_metadata_records_checksums_and_a_digest_and_round_trips(good, tmp_path):
    good_dir, _, w = good
    meta = read_metadata(good_dir)
    assert meta["schema"] == SCHEMA and meta["digest"] == metadata_digest(meta)
    for name in [*meta["files"]["point"], meta["files"]["lower"], meta["files"]["upper"]]:
        assert meta["sha256"][name] == hashlib.sha256((good_dir / name).read_bytes()).hexdigest()
    model = load_model(good_dir)
    again = tmp_path / "again"
    model.save(again)
    np.testing.assert_array_equal(load_model(again).predict(w), model.predict(w))
    # the structure check accepts every booster LightGBM wrote, categorical splits included
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 12, 600), rng.normal(size=600)].astype(float)
    y = (X[:, 0] % 3) * 5 + X[:, 1]
    b = lgb.train({"objective": "l2", "verbose": -1, "min_data_in_leaf": 5, "max_cat_to_onehot": 2},
                  lgb.Dataset(X, y, categorical_feature=[0]), num_boost_round=3)
    s = b.model_to_string()
    assert "num_cat=2" in s or "num_cat=1" in s
    check_lightgbm_text(s, source="categorical", n_features=2)
    stump = lgb.train({"objective": "l2", "verbose": -1}, lgb.Dataset(X, np.ones(600)), num_boost_round=2)
    check_lightgbm_text(stump.model_to_string(), source="stump", n_features=2)
    bad_cat = _edit_text(s, r"^cat_boundaries=(.*)$", "cat_boundaries=0 5 9")
    with pytest.raises(InputError, match="cat_boundaries and cat_threshold disagree"):
        check_lightgbm_text(bad_cat, source="cat")


def test_model_directories_are_written_atomically_and_not_over_files(good, tmp_path):
    good_dir, _, _ = good
    model = load_model(good_dir)
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--force"):
        model.save(target)
    assert (target / "notes.txt").read_text() == "mine"
    model.save(target, force=True)
    assert not (target / "notes.txt").exists() and (target / "metadata.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left
