"""The ``hpcopt detect`` commands end to end on small files, and their error handling."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the 'detect' extra; CI installs it
from typer.testing import CliRunner

from hpcopt.cli import _register, app, main

runner = CliRunner()
_register()


def _main(args, capsys):
    """Run the real entry point (which turns hpcopt errors into one line and exit 2)."""
    with pytest.raises(SystemExit) as ei:
        main(args)
    cap = capsys.readouterr()
    return ei.value.code, cap.out + cap.err

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry"


def _files(tmp_path: Path):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(1500, 1))
    X = np.hstack([f, f, f, rng.normal(size=(1500, 1))]) + 0.05 * rng.normal(size=(1500, 4))
    g = rng.normal(size=(500, 1))
    T = np.hstack([g, g, g, rng.normal(size=(500, 1))]) + 0.05 * rng.normal(size=(500, 4))
    T[300:330, 1] += 5.0
    y = np.zeros(500, dtype=int)
    y[300:330] = 1
    np.savetxt(tmp_path / "train.txt", X, delimiter=",", fmt="%.6f")
    with gzip.open(tmp_path / "test.txt.gz", "wt") as fh:
        np.savetxt(fh, T, delimiter=",", fmt="%.6f")
    np.savetxt(tmp_path / "labels.txt", y, fmt="%d")
    (tmp_path / "interp.txt").write_text("300-330:2\n")
    return tmp_path / "train.txt", tmp_path / "test.txt.gz", tmp_path / "labels.txt", tmp_path / "interp.txt"


def test_evaluate_json_scores_out_and_report(tmp_path):
    tr, te, lab, interp = _files(tmp_path)
    out = tmp_path / "scores.csv"
    rep = tmp_path / "r.html"
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                            "--interpretation", str(interp), "--detector", "pca", "--scores-out", str(out),
                            "--report", str(rep), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    for k in ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "pa_f1", "hitrate_100", "hitrate_150"):
        assert k in res
    assert res["auroc"] > 0.95 and res["event_recall"] == 1.0 and res["hitrate_100"] > 0.9
    assert res["random_baseline"]["auroc"] < 0.7 and res["random_state"] == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "index,score,alert,label" and len(lines) == 501
    assert "data:image/png;base64," in rep.read_text()


def test_evaluate_label_length_mismatch_exits_2(tmp_path, capsys):
    tr, te, lab, _ = _files(tmp_path)
    lab.write_text("0\n" * 499)
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab)], capsys)
    assert code == 2
    assert "499 labels for 500 test rows" in out


def test_evaluate_non_numeric_cell_exits_2(tmp_path, capsys):
    tr, te, lab, _ = _files(tmp_path)
    text = tr.read_text().splitlines()
    text[9] = "0.1,oops,0.3,0.4"
    tr.write_text("\n".join(text) + "\n")
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab)], capsys)
    assert code == 2 and "line 10" in out and "'oops'" in out


def test_unknown_detector_exits_2(tmp_path, capsys):
    tr, te, lab, _ = _files(tmp_path)
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                       "--detector", "magic"], capsys)
    assert code == 2 and "unknown detector" in out


def test_fit_score_stream(tmp_path, capsys):
    tr, te, _, _ = _files(tmp_path)
    model = tmp_path / "m.pkl"
    r = runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(tmp_path / "rc.pkl"), "--detector",
                            "mad", "--recenter-window", "50", "--json"])
    assert r.exit_code == 0, r.output
    from hpcopt.detect import RecentredDetector, load_detector

    assert isinstance(load_detector(tmp_path / "rc.pkl"), RecentredDetector)
    r = runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), "--detector", "mad", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["threshold"]["method"] == "pot"
    r = runner.invoke(app, ["detect", "score", "--model", str(model), "--input", str(te), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert any(a["start"] <= 305 < a["end"] and a["culprits"][0]["metric"] == 2 for a in res["alerts"])
    with gzip.open(te, "rt") as fh:
        rows = [ln.strip().split(",") for ln in fh]
    stdin = "\n".join(json.dumps({"timestamp": i, "values": [float(v) for v in row]}) for i, row in enumerate(rows))
    gauges = tmp_path / "g.prom"
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--gauges-out", str(gauges)], input=stdin)
    assert r.exit_code == 0, r.output
    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert any(e["event"] == "alert" and 300 <= e["index"] <= 306 and e["culprits"][0]["metric"] == "m2"
               for e in events)
    assert "hpcopt_detect_score" in gauges.read_text()
    r = runner.invoke(app, ["detect", "stream", "--model", str(model)], input='{"values": [1, 2]}\n')
    assert r.exit_code == 0 and "the detector expects 4" in r.stderr  # reported and skipped, not fatal
    # two nodes interleaved in one stream: each is scored apart, its events carry its name
    two = "\n".join(json.dumps({"entity": n, "timestamp": i, "values": [float(v) for v in row]})
                    for i, row in enumerate(rows) for n in ("n1", "n2"))
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--per-entity", "--gauges-out",
                            str(gauges), "--force"], input=two)
    assert r.exit_code == 0, r.output
    ev2 = [json.loads(ln) for ln in r.stdout.splitlines()]
    for n in ("n1", "n2"):
        mine = [{k: v for k, v in e.items() if k != "entity"} for e in ev2 if e["entity"] == n]
        assert mine == [{k: v for k, v in e.items() if k != "entity"} for e in events]
    assert 'entity="n2"' in gauges.read_text()
    r = runner.invoke(app, ["detect", "stream", "--model", str(model)], input=two)
    assert r.exit_code == 0 and "this stream scores one entity" in r.stderr  # n2's lines reported, n1 scored
    # one named entity: events carry the lines' entity; a different --entity is refused
    one = "\n".join(json.dumps({"entity": "n7", "timestamp": i, "values": [float(v) for v in row]})
                    for i, row in enumerate(rows))
    r = runner.invoke(app, ["detect", "stream", "--model", str(model)], input=one)
    assert r.exit_code == 0 and {json.loads(ln)["entity"] for ln in r.stdout.splitlines()} == {"n7"}
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--entity", "x"], input=one)
    assert r.exit_code == 1 and "--entity 'x' but the lines name 'n7'" in str(r.exception)
    # a bad line of one node: the error names the node and the line
    bad = two + "\n" + json.dumps({"entity": "n2", "values": [0.0, 0.0, 0.0]})
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--per-entity"], input=bad)
    ev = json.loads(r.stderr.splitlines()[0])
    assert r.exit_code == 0 and ev["entity"] == "n2" and ev["line"] == 2 * len(rows) + 1
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--per-entity", "--max-entities", "1"],
                      input=two)
    assert r.exit_code == 0 and "at most 1 are kept" in r.stderr and r.stdout.count('"n1"') > 0
    # prometheus scrape files
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\nd\n")
    scrape = tmp_path / "s1.prom"
    scrape.write_text("a 0.1\nb 0.1\nc 0.1\nd 0.0\n")
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--format", "prometheus", "--metrics",
                            str(names), "--scrape", str(scrape), "--scrape", str(scrape)])
    assert r.exit_code == 0, r.output


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_evaluate_on_real_smd_machine():
    d = SHARED / "smd"
    m = "machine-3-4"
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(d / "train" / f"{m}.txt.gz"),
                            "--test", str(d / "test" / f"{m}.txt.gz"), "--labels", str(d / "test_label" / f"{m}.txt.gz"),
                            "--interpretation", str(d / "interpretation_label" / f"{m}.txt.gz"),
                            "--detector", "pca", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    # measured: auroc 0.97, auprc 0.90 with the default PCA; the random baseline sits at 0.5 / ratio
    assert res["auroc"] > 0.9 and res["auprc"] > 0.8
    assert res["random_baseline"]["auprc"] < 0.06
    assert res["hitrate_150"] > res["hitrate_150_random"]


@pytest.mark.parametrize("threshold", ["spot", "dspot"])
def test_evaluate_with_a_streaming_threshold(tmp_path, threshold):
    tr, te, lab, _ = _files(tmp_path)
    out = tmp_path / "scores.csv"
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                            "--detector", "mad", "--threshold", threshold,
                            *(["--depth", "20"] if threshold == "dspot" else []),
                            "--scores-out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["threshold"]["method"] == threshold and "updated causally" in res["protocol"]
    assert res["event_recall"] == 1.0 and res["random_baseline"]["f1"] < 0.2
    lines = out.read_text().splitlines()
    assert lines[0] == "index,score,alert,label,threshold" and len(lines) == 501


def test_bad_threshold_and_adapt_exit_2(tmp_path, capsys):
    tr, te, lab, _ = _files(tmp_path)
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                       "--threshold", "adaptive"], capsys)
    assert code == 2 and "--threshold must be pot, far, spot or dspot" in out
    model = tmp_path / "m.pkl"
    assert runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), "--detector", "mad"]).exit_code == 0
    code, out = _main(["detect", "stream", "--model", str(model), "--threshold", "sometimes"], capsys)
    assert code == 64 and "--threshold must be fixed, spot or dspot" in out
    # options that would have no effect are refused, not ignored
    for extra, message in ((["--threshold", "spot", "--depth", "20"], "use it with dspot only"),
                           (["--threshold", "pot", "--max-peaks", "50"], "--max-peaks applies to the streaming"),
                           (["--threshold", "far", "--censored"], "--censored applies to the streaming")):
        code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                           "--detector", "mad", *extra], capsys)
        assert code == 2 and message in " ".join(out.split()), out


def test_stream_with_dspot_threshold(tmp_path):
    tr, te, _, _ = _files(tmp_path)
    model = tmp_path / "m.pkl"
    assert runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), "--detector", "mad"]).exit_code == 0
    with gzip.open(te, "rt") as fh:
        rows = [ln.strip().split(",") for ln in fh]
    stdin = "\n".join(json.dumps({"timestamp": i, "values": [float(v) for v in row]}) for i, row in enumerate(rows))
    gauges = tmp_path / "g.prom"
    r = runner.invoke(app, ["detect", "stream", "--model", str(model), "--threshold", "dspot", "--depth", "20",
                            "--max-peaks", "500", "--gauges-out", str(gauges)], input=stdin)
    paper = runner.invoke(app, ["detect", "stream", "--model", str(model), "--threshold", "dspot", "--depth", "20",
                                "--paper"], input=stdin)
    assert paper.exit_code == 0, paper.output
    assert r.exit_code == 0, r.output
    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert any(e["event"] == "alert" and 300 <= e["index"] <= 306 for e in events)
    assert "hpcopt_detect_threshold" in gauges.read_text()


@pytest.mark.parametrize("detector", ["pca_max", "mad_mean"])
def test_evaluate_metric_normalised_detectors(tmp_path, detector):
    tr, te, lab, interp = _files(tmp_path)
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                            "--interpretation", str(interp), "--detector", detector, "--recenter-window", "50",
                            "--threshold", "dspot", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["detector"] == "RecentredDetector" and "MetricNormDetector" in res["params"]["detector"]
    assert res["auroc"] > 0.9 and res["event_recall"] == 1.0 and res["hitrate_100"] > 0.9
