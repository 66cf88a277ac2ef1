"""Saved detectors are data: a zip of JSON + .npz, checksummed, never a pickle unless trusted.

Every detector kind round-trips to identical scores; damaged files (byte flips,
truncations, missing members, checksum mismatches, other schemas, crafted contents) are
one InputError naming the file; a crafted pickle is refused without being run.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the 'detect' extra
pytest.importorskip("pyod")
pytest.importorskip("torch")

from hpcopt.detect import DETECTORS, EnsembleDetector, load_detector, make_detector  # noqa: E402
from hpcopt.detect.detectors import MADDetector, PCADetector  # noqa: E402
from hpcopt.detect.model_file import SCHEMA, SCHEMA_VERSION  # noqa: E402
from hpcopt.errors import ConfigError, InputError  # noqa: E402

_SMALL_LSTM = {"window": 4, "hidden": 4, "code": 2, "epochs": 1, "batch_size": 64, "n_threads": 1}


def _data(seed=0, n=300, m=5):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 1))
    return np.hstack([f, f + 0.1 * rng.normal(size=(n, 1)), rng.normal(size=(n, m - 2))])


def _test():
    T = _data(seed=1, n=120)
    T[60:70, 1] += 4.0
    return T


def _kinds():
    """(id, factory) for every detector kind: every name in DETECTORS, the recentred wrapper,
    an explicit ensemble and the far threshold."""
    out = []
    for name in DETECTORS:
        params = {}
        if name in ("lstm", "lstm_max", "lstm_mean"):
            params = dict(_SMALL_LSTM)
        elif name.startswith("lstm_pca"):
            params = {"n_threads": 1}  # the pair takes no other lstm settings
        out.append((name, lambda name=name, params=params: make_detector(name, **params)))
    out.append(("recentred_mad", lambda: make_detector("mad", recenter_window=20)))
    out.append(("recentred_hbos", lambda: make_detector("hbos", recenter_window=20)))
    out.append(("pca_recentre_far", lambda: make_detector("pca", recenter_window=20, threshold="far")))
    out.append(("ensemble_members", lambda: EnsembleDetector(
        detectors=[MADDetector(change_window=10), make_detector("copod"), make_detector("lstm", **_SMALL_LSTM)],
        explain_member=0)))
    out.append(("hbos_auto_bins", lambda: make_detector("hbos", model_params={"n_bins": "auto"})))
    out.append(("loda_params", lambda: make_detector("loda", model_params={"n_bins": 7, "n_random_cuts": 30})))
    return out


KINDS = _kinds()


@pytest.mark.parametrize("factory", [f for _, f in KINDS], ids=[k for k, _ in KINDS])
def test_every_detector_kind_round_trips_to_identical_scores(tmp_path, factory):
    det = factory().fit(_data())
    T = _test()
    p = det.save(tmp_path / "det.hpd")
    assert zipfile.is_zipfile(p) and p.read_bytes()[:1] != b"\x80"
    back = load_detector(p)
    assert type(back) is type(det) and repr(back) == repr(det)
    np.testing.assert_array_equal(back.decision_function(T), det.decision_function(T))
    np.testing.assert_array_equal(back.explain(T), det.explain(T))
    np.testing.assert_array_equal(back.predict(T), det.predict(T))
    assert back.threshold_ == det.threshold_
    assert back.context_ == det.context_ and back.transductive == det.transductive
    # a loaded detector saves to the same bytes' worth of content (nothing lost on the way)
    again = load_detector(back.save(tmp_path / "again.hpd"))
    np.testing.assert_array_equal(again.decision_function(T), det.decision_function(T))


def test_loaded_detector_can_be_fitted_again(tmp_path):
    det = load_detector(make_detector("lstm_max", **_SMALL_LSTM).fit(_data()).save(tmp_path / "l.hpd"))
    det.fit(_data(seed=3))
    assert np.isfinite(det.decision_function(_test())).all()


def test_manifest_names_schema_versions_class_params_and_checksums(tmp_path):
    import hpcopt

    p = make_detector("pca", n_components=2, smoothing=3).fit(_data()).save(tmp_path / "p.hpd")
    with zipfile.ZipFile(p) as zf:
        assert sorted(zf.namelist()) == ["arrays.npz", "manifest.json", "state.json"]
        m = json.loads(zf.read("manifest.json"))
        for name in ("state.json", "arrays.npz"):
            assert m["members"][name]["sha256"] == hashlib.sha256(zf.read(name)).hexdigest()
        with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
            assert all(npz[k].dtype.kind in "biuf" for k in npz.files)
    assert m["schema"] == SCHEMA and m["schema_version"] == SCHEMA_VERSION
    assert m["hpcopt_version"] == hpcopt.__version__
    assert m["detector"]["class"] == "PCADetector"
    assert m["detector"]["params"]["n_components"] == 2 and m["detector"]["params"]["smoothing"] == 3


def _mutants(raw: bytes, rng, n_flips: int, n_cuts: int):
    for _ in range(n_flips):
        b = bytearray(raw)
        i = int(rng.integers(len(b)))
        b[i] ^= int(rng.integers(1, 256))
        yield f"flip byte {i}", bytes(b)
    for _ in range(n_cuts):
        k = int(rng.integers(0, len(raw)))
        yield f"truncated to {k}", raw[:k]


@pytest.mark.parametrize("name,n_flips,n_cuts", [("pca", 160, 40), ("ensemble", 80, 20), ("lstm", 80, 20)])
def test_damaged_files_are_an_input_error_or_score_identically(tmp_path, name, n_flips, n_cuts):
    params = dict(_SMALL_LSTM) if name == "lstm" else {}
    det = make_detector(name, **params).fit(_data())
    T = _test()
    expected = det.decision_function(T)
    raw = det.save(tmp_path / "good.hpd").read_bytes()
    rng = np.random.default_rng(len(raw))
    bad = tmp_path / "bad.hpd"
    refused = loaded = 0
    for what, data in _mutants(raw, rng, n_flips, n_cuts):
        bad.write_bytes(data)
        try:
            back = load_detector(bad)
        except InputError as exc:
            assert str(bad) in str(exc), what
            assert "\n" not in str(exc), what
            refused += 1
            continue
        np.testing.assert_array_equal(back.decision_function(T), expected, err_msg=what)
        loaded += 1
    # nearly every byte is covered by a checksum; the few that load are zip header bytes
    # (timestamps, version fields) that carry no data
    assert refused >= 0.9 * (n_flips + n_cuts), (refused, loaded)


def _rewrite(src: Path, dst: Path, *, drop=(), replace=None, add=None, fix_checksums=True, manifest_edit=None):
    """Copy a detector zip with members dropped, replaced or added; optionally recompute the
    manifest's checksums and digest (a crafted file, not a damaged one)."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    for n in drop:
        members.pop(n)
    members.update(replace or {})
    members.update(add or {})
    m = json.loads(members["manifest.json"])
    if fix_checksums:
        for n in ("state.json", "arrays.npz"):
            if n in members:
                m["members"][n] = {"sha256": hashlib.sha256(members[n]).hexdigest(), "size": len(members[n])}
    if manifest_edit:
        manifest_edit(m)
    if fix_checksums:
        m.pop("digest", None)
        canon = json.dumps(m, sort_keys=True, separators=(",", ":")).encode()
        m["digest"] = hashlib.sha256(canon).hexdigest()
    members["manifest.json"] = json.dumps(m).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return dst


def _state(p: Path) -> dict:
    with zipfile.ZipFile(p) as zf:
        return json.loads(zf.read("state.json"))


def _arrays(p: Path) -> dict:
    with zipfile.ZipFile(p) as zf, np.load(io.BytesIO(zf.read("arrays.npz"))) as npz:
        return {k: npz[k] for k in npz.files}


def _npz(arrays: dict, **kw) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    return {name: make_detector(name, **(_SMALL_LSTM if name == "lstm" else {})).fit(_data()).save(d / f"{name}.hpd")
            for name in ("pca", "iforest", "hbos", "loda", "lstm")}


def test_each_kind_of_damage_is_named(tmp_path, saved):
    p = saved["pca"]
    cases = {
        "no member state.json": _rewrite(p, tmp_path / "a", drop=["state.json"]),
        "unexpected members": _rewrite(p, tmp_path / "b", add={"extra.py": b"print(1)"}),
        "does not match its SHA-256": _rewrite(p, tmp_path / "c", replace={"state.json": b"{}"}, fix_checksums=False),
        "has schema 'other'": _rewrite(p, tmp_path / "d", manifest_edit=lambda m: m.update(schema="other")),
        "written by a newer hpcopt": _rewrite(p, tmp_path / "e", manifest_edit=lambda m: m.update(schema_version=9)),
        "does not match its own SHA-256 digest": _rewrite(
            p, tmp_path / "f", fix_checksums=False,
            manifest_edit=lambda m: m["detector"]["params"].update(smoothing=7)),
        "keys are": _rewrite(p, tmp_path / "g", manifest_edit=lambda m: m.pop("versions")),
        "not finite (1e999)": _rewrite_raw(p, tmp_path / "g2", "manifest.json", b'"schema_version": 1',
                                           b'"schema_version": 1e999'),
        "not finite (NaN)": _rewrite_raw(p, tmp_path / "g3", "manifest.json", b'"schema_version": 1',
                                         b'"schema_version": NaN'),
        "state.json is not valid JSON": _rewrite(p, tmp_path / "h", replace={"state.json": b"{not json"}),
        "not a zip archive": _write(tmp_path / "i", b"hello, I am a text file\n"),
        "not a readable zip archive": _write(tmp_path / "j", b"PK\x03\x04" + b"\0" * 40),
        "no such file": tmp_path / "missing.hpd",
    }
    for needle, path in cases.items():
        with pytest.raises(InputError) as ei:
            load_detector(path)
        assert needle in str(ei.value) and str(path) in str(ei.value), (needle, str(ei.value))


def _rewrite_raw(src: Path, dst: Path, member: str, old: bytes, new: bytes) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    assert old in members[member]
    members[member] = members[member].replace(old, new)
    with zipfile.ZipFile(dst, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return dst


def _write(p: Path, b: bytes) -> Path:
    p.write_bytes(b)
    return p


def test_crafted_contents_with_valid_checksums_are_refused(tmp_path, saved):
    """Even with recomputed checksums a file can name no Python class or callable, and
    arrays that native code would index are checked before use."""
    p = saved["pca"]
    st = _state(p)
    cases = []
    evil = json.loads(json.dumps(st))
    evil["$detector"]["class"] = "os.system"
    cases.append(("not one of hpcopt's", {"state.json": json.dumps(evil).encode()}, p))
    evil = json.loads(json.dumps(st))
    evil["$detector"]["state"]["x_"] = {"$estimator": {"class": "builtins.eval", "state": {}}}
    cases.append(("not one hpcopt wraps", {"state.json": json.dumps(evil).encode()}, p))
    evil = json.loads(json.dumps(st))
    evil["$detector"]["state"]["__class__"] = 1
    cases.append(("bad attribute name", {"state.json": json.dumps(evil).encode()}, p))
    evil = json.loads(json.dumps(st))
    evil["$detector"]["state"]["mean_"] = {"$array": "zz"}
    cases.append(("arrays.npz lacks", {"state.json": json.dumps(evil).encode()}, p))
    arrays = _arrays(p)
    cases.append(("allow_pickle=False", {"arrays.npz": _npz({**arrays, "a0": np.array(["x"], dtype=object)})}, p))
    cases.append(("numbers and booleans only", {"arrays.npz": _npz({**arrays, "a0": np.array(["x"])})}, p))
    cases.append(("arrays.npz cannot be read", {"arrays.npz": b"PK\x03\x04 not an npz"}, p))
    # PCA components of the wrong shape: scoring fails at load, not later
    a = dict(arrays)
    comp = next(k for k, v in a.items() if v.ndim == 2 and v.shape[1] == 5)  # components_
    a[comp] = a[comp][:, :3]
    cases.append(("inconsistent", {"arrays.npz": _npz(a)}, p))
    # Isolation Forest children pointing outside the tree
    pf = saved["iforest"]
    a = _arrays(pf)
    key = next(k for k, v in a.items() if v.ndim == 2 and v.shape[1] == 2 and v.dtype == np.int64)
    a[key] = a[key].copy()
    a[key][0, 0] = 10 ** 9
    cases.append(("children point outside their tree", {"arrays.npz": _npz(a)}, pf))
    # HBOS histograms that disagree with their bin edges (PyOD indexes them in compiled code)
    ph = saved["hbos"]
    a = _arrays(ph)
    key = next(k for k, v in a.items() if v.ndim == 2 and v.shape[0] == 10)  # hist_ (n_bins, metrics)
    a[key] = a[key][:4]
    cases.append(("HBOS hist_/bin_edges_", {"arrays.npz": _npz(a)}, ph))
    pl = saved["loda"]
    a = _arrays(pl)
    key = next(k for k, v in a.items() if v.ndim == 2 and v.shape == (100, 11))  # limits_
    a[key] = a[key][:, :5]
    cases.append(("LODA", {"arrays.npz": _npz(a)}, pl))
    # LSTM weights of the wrong shape
    ps = saved["lstm"]
    a = _arrays(ps)
    key = next(k for k, v in a.items() if v.dtype == np.float32 and v.ndim == 2)
    a[key] = a[key][:, :1].copy()
    cases.append(("SequenceAEDetector", {"arrays.npz": _npz(a)}, ps))
    for i, (needle, replace, src) in enumerate(cases):
        out = _rewrite(src, tmp_path / f"c{i}.hpd", replace=replace)
        with pytest.raises(InputError) as ei:
            load_detector(out)
            pytest.fail(f"loaded: {needle}")
        assert needle in str(ei.value) and str(out) in str(ei.value), (needle, str(ei.value))


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_crafted_pickle_is_refused_without_being_run(tmp_path, capsys):
    from hpcopt.cli import _register, main

    _register()
    marker = tmp_path / "pwned"
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        evil = tmp_path / f"evil{protocol}.pkl"
        evil.write_bytes(pickle.dumps({"format": "hpcopt-detector", "version": 1, "detector": _Evil(marker)},
                                      protocol=protocol))
        with pytest.raises(InputError, match="this is a pickle saved by an older hpcopt; .*re-fit it"):
            load_detector(evil)
        assert not marker.exists()
        for cmd in (["detect", "score", "--model", str(evil), "--input", str(evil)],
                    ["detect", "stream", "--model", str(evil)]):
            with pytest.raises(SystemExit) as ei:
                main(cmd)
            out = capsys.readouterr()
            assert ei.value.code == 2, out
            assert "pickle saved by an older hpcopt" in out.err + out.out and "Traceback" not in out.err
            assert not marker.exists()
    # no flag loads a pickle: the option is gone from the commands
    for cmd in ("score", "stream"):
        with pytest.raises(SystemExit) as ei:
            main(["detect", cmd, "--model", str(evil), "--trust-pickle"])
        assert ei.value.code == 64
    assert not marker.exists()


def test_fit_out_refuses_to_overwrite_without_force_and_writes_atomically(tmp_path, capsys):
    from hpcopt.cli import _register, main

    _register()
    np.savetxt(tmp_path / "train.csv", _data(), delimiter=",")
    out = tmp_path / "sub" / "m.hpd"

    def run(*extra):
        with pytest.raises(SystemExit) as ei:
            main(["detect", "fit", "--train", str(tmp_path / "train.csv"), "--out", str(out), "--detector", "mad",
                  "--threshold", "pot", "--recenter-window", "0", "--json", *extra])
        cap = capsys.readouterr()
        return ei.value.code, cap.out + cap.err

    code, _ = run()
    assert code == 0 and zipfile.is_zipfile(out)
    first = out.read_bytes()
    code, msg = run()
    assert code == 64 and "--force" in msg and out.read_bytes() == first
    code, _ = run("--force")
    assert code == 0 and zipfile.is_zipfile(out)
    with pytest.raises(SystemExit) as ei:
        main(["detect", "fit", "--train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "train.csv")])
    assert ei.value.code == 64 and "also an input" in capsys.readouterr().err
    assert list(out.parent.iterdir()) == [out]  # no temporary files left behind


def test_save_refuses_unfitted_and_unsaveable_detectors_and_keeps_the_old_file(tmp_path):
    with pytest.raises(ConfigError, match="not fitted"):
        PCADetector().save(tmp_path / "x.hpd")
    p = PCADetector().fit(_data()).save(tmp_path / "p.hpd")
    before = p.read_bytes()
    det = PCADetector().fit(_data())
    det.extra_ = object()
    with pytest.raises(ConfigError, match="cannot be saved"):
        det.save(p)
    assert p.read_bytes() == before
