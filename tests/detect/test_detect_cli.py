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


def _payload(stdout: str) -> dict:
    """--json prints the task's whole result; the command's figures are its payload."""
    return json.loads(stdout)["payload"]


def _main(args, capsys):
    """Run the real entry point (which turns hpcopt errors into one line and exit 2)."""
    with pytest.raises(SystemExit) as ei:
        main(args)
    cap = capsys.readouterr()
    return ei.value.code, cap.out + cap.err

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry"
# a quick detector for tests about the commands, not the default (which is pinned below)
_FAST = ["--detector", "mad", "--recenter-window", "0"]


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
                            "--interpretation", str(interp), "--detector", "pca", "--recenter-window", "0",
                            "--threshold", "pot", "--scores-out", str(out), "--report", str(rep), "--json"])
    assert r.exit_code == 0, r.output
    res = _payload(r.stdout)
    for k in ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "pa_f1", "hitrate_100", "hitrate_150"):
        assert k in res
    assert res["auroc"] > 0.95 and res["event_recall"] == 1.0 and res["hitrate_100"] > 0.9
    assert res["random_baseline"]["auroc"] < 0.7 and res["random_state"] == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "index,score,alert,label" and len(lines) == 501
    assert "data:image/png;base64," in rep.read_text()
    whole = json.loads(r.stdout)  # the old schema id is the task's, the run is recorded with its inputs
    assert whole["schema"] == "hpcopt.detect.evaluation/1" and whole["provenance"]["seed"] == 0
    assert set(whole["provenance"]["inputs"]) == {"train", "test", "labels", "interpretation"}
    assert whole["provenance"]["run_id"] and whole["artifacts"] == {"scores_out": str(out), "report": str(rep)}


def test_fit_registers_and_score_resolves_a_model_reference(tmp_path):
    from hpcopt.store import open_store

    tr, te, _, _ = _files(tmp_path)
    r = runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(tmp_path / "m.hpd"), *_FAST,
                            "--threshold", "pot", "--register", "node-mad", "--alias", "production", "--json"])
    assert r.exit_code == 0, r.output
    fitted = _payload(r.stdout)
    assert fitted["registered"]["version"] == 1 and fitted["model_kind"] == "detector"
    rec = open_store().models.get("node-mad", alias="production")
    assert rec.kind == "detector" and rec.meta["threshold_method"] == "pot" and rec.metrics["n_train"] == 1500
    direct = _payload(runner.invoke(app, ["detect", "score", "--model", str(tmp_path / "m.hpd"), "--input", str(te),
                                          "--threshold", "fixed", "--json", "--no-record"]).stdout)
    r = runner.invoke(app, ["detect", "score", "--model", "model:node-mad@production", "--input", str(te),
                            "--threshold", "fixed", "--json"])
    assert r.exit_code == 0, r.output
    assert _payload(r.stdout)["alerts"] == direct["alerts"] and direct["alerts"]
    run = open_store().get_run(json.loads(r.stdout)["provenance"]["run_id"])
    assert run.input_models == ["node-mad:1"]
    events = runner.invoke(app, ["detect", "stream", "--model", "model:node-mad@production"],
                           input="\n".join(json.dumps({"values": [0.0, 0.0, 0.0, 9.0]}) for _ in range(3)))
    assert events.exit_code == 0 and '"event": "end"' in events.stderr
    r = runner.invoke(app, ["detect", "score", "--model", "model:node-mad@staging", "--input", str(te)])
    assert r.exit_code != 0


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
    assert code == 64 and "unknown detector" in out  # a usage error


def test_fit_score_stream(tmp_path, capsys):
    tr, te, _, _ = _files(tmp_path)
    model = tmp_path / "m.hpd"
    r = runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(tmp_path / "rc.hpd"), "--detector",
                            "mad", "--recenter-window", "50", "--json"])
    assert r.exit_code == 0, r.output
    from hpcopt.detect import RecentredDetector, load_detector

    assert isinstance(load_detector(tmp_path / "rc.hpd"), RecentredDetector)
    r = runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), *_FAST, "--json"])
    assert r.exit_code == 0, r.output
    assert _payload(r.stdout)["threshold"]["method"] == "pot"
    for threshold in ("fixed", "dspot"):
        r = runner.invoke(app, ["detect", "score", "--model", str(model), "--input", str(te), "--threshold",
                                threshold, "--json"])
        assert r.exit_code == 0, r.output
        res = _payload(r.stdout)
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
                            "--detector", "pca", "--recenter-window", "0", "--threshold", "pot", "--json"])
    assert r.exit_code == 0, r.output
    res = _payload(r.stdout)
    # measured: auroc 0.97, auprc 0.90 with the default PCA; the random baseline sits at 0.5 / ratio
    assert res["auroc"] > 0.9 and res["auprc"] > 0.8
    assert res["random_baseline"]["auprc"] < 0.06
    assert res["hitrate_150"] > res["hitrate_150_random"]


@pytest.mark.parametrize("threshold", ["spot", "dspot"])
def test_evaluate_with_a_streaming_threshold(tmp_path, threshold):
    tr, te, lab, _ = _files(tmp_path)
    out = tmp_path / "scores.csv"
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                            *_FAST, "--threshold", threshold,
                            *(["--depth", "20"] if threshold == "dspot" else []),
                            "--scores-out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = _payload(r.stdout)
    assert res["threshold"]["method"] == threshold and "updated causally" in res["protocol"]
    assert res["event_recall"] == 1.0 and res["random_baseline"]["f1"] < 0.2
    lines = out.read_text().splitlines()
    assert lines[0] == "index,score,alert,label,threshold" and len(lines) == 501


def test_bad_threshold_and_adapt_exit_2(tmp_path, capsys):
    tr, te, lab, _ = _files(tmp_path)
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                       "--threshold", "adaptive"], capsys)
    assert code == 64 and "--threshold must be pot, far, spot or dspot" in out
    model = tmp_path / "m.hpd"
    assert runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), *_FAST]).exit_code == 0
    code, out = _main(["detect", "stream", "--model", str(model), "--threshold", "sometimes"], capsys)
    assert code == 64 and "--threshold must be fixed, spot or dspot" in out
    # options that would have no effect are refused, not ignored
    for extra, message in ((["--threshold", "spot", "--depth", "20"], "use it with dspot only"),
                           (["--threshold", "pot", "--max-peaks", "50"], "--max-peaks applies to the streaming"),
                           (["--threshold", "far", "--censored"], "--censored applies to the streaming")):
        code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                           "--detector", "mad", *extra], capsys)
        assert code == 64 and message in " ".join(out.split()), out


def test_stream_with_dspot_threshold(tmp_path):
    tr, te, _, _ = _files(tmp_path)
    model = tmp_path / "m.hpd"
    assert runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), *_FAST]).exit_code == 0
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
    res = _payload(r.stdout)
    assert res["detector"] == "RecentredDetector" and "MetricNormDetector" in res["params"]["detector"]
    assert res["auroc"] > 0.9 and res["event_recall"] == 1.0 and res["hitrate_100"] > 0.9


# --------------------------------------------------------------------------- defaults, outputs, formats



def _command_defaults(name: str) -> dict:
    """The defaults of one ``hpcopt detect`` command, as its option parser holds them."""
    import typer.main

    group = typer.main.get_command(app).commands["detect"]
    return {p.name: p.default for p in group.commands[name].params}


@pytest.mark.parametrize("command", ["evaluate", "fit", "score", "hpas", "nab"])
def test_every_detect_command_defaults_to_the_one_library_config(command):
    from hpcopt.detect import DEFAULT_CONFIG
    from hpcopt.detect.evaluate import DSPOT_DEPTH

    d = _command_defaults(command)
    option_of = {"detector": "detector", "threshold": "threshold", "recenter_window": "recenter_window",
                 "smoothing": "smoothing", "risk": "risk", "level": "level", "rate": "rate", "seed": "seed",
                 "censored": "censored"}
    from hpcopt.detect.defaults import SHORT_SERIES_RECENTER_WINDOW

    expected = dict(DEFAULT_CONFIG)
    if command in ("hpas", "nab"):  # training parts shorter than the window: recentring off, stated in --help
        expected["recenter_window"] = SHORT_SERIES_RECENTER_WINDOW
    checked = 0
    for key, option in option_of.items():
        if option in d and not (command == "nab" and key == "level"):  # NAB: 0.90, stated in its help
            assert d[option] == expected[key], (command, key, d[option])
            checked += 1
    assert checked >= (1 if command == "score" else 4)
    assert DEFAULT_CONFIG["depth"] == DSPOT_DEPTH
    # the configuration of the README's best label-free SMD row (0.425): lstm, 3-day recentring, DSPOT
    assert (DEFAULT_CONFIG["detector"], DEFAULT_CONFIG["recenter_window"], DEFAULT_CONFIG["threshold"],
            DEFAULT_CONFIG["smoothing"], DEFAULT_CONFIG["censored"]) == ("lstm", 4320, "dspot", 5, False)


def test_help_states_the_default_config():
    r = runner.invoke(app, ["detect", "evaluate", "--help"], env={"COLUMNS": "400"})
    text = " ".join(r.output.split())
    assert "Default: lstm" in text and "0.425" in text and "4320" in text


def test_evaluate_with_the_defaults_runs_the_default_config(tmp_path, capsys):
    pytest.importorskip("torch")
    tr, te, lab, _ = _files(tmp_path)
    # 1500 training rows are too few for the default 4320-row recentring: said before fitting, with the way out
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab)], capsys)
    assert code == 2 and "--recenter-window 4320 needs at least 4337" in out and "--recenter-window 0" in out
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                            "--recenter-window", "200", "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    res = _payload(r.stdout)
    assert res["config"] == {"detector": "lstm", "threshold": "dspot", "recenter_window": 200, "smoothing": 5,
                             "risk": 0.01, "level": 0.95, "seed": 0}
    assert res["detector"] == "RecentredDetector" and "SequenceAEDetector" in res["params"]["detector"]
    assert res["event_recall"] == 1.0


def test_fit_and_score_refuse_to_overwrite_their_inputs(tmp_path, capsys):
    tr, te, _, _ = _files(tmp_path)
    before = tr.read_bytes()
    code, out = _main(["detect", "fit", "--train", str(tr), "--out", str(tr), *_FAST], capsys)
    assert code == 64 and "also an input" in out and tr.read_bytes() == before
    model = tmp_path / "m.hpd"
    assert runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), *_FAST]).exit_code == 0
    code, out = _main(["detect", "fit", "--train", str(tr), "--out", str(model), *_FAST], capsys)
    assert code == 64 and "--force" in out  # an existing model is kept unless --force
    assert runner.invoke(app, ["detect", "fit", "--train", str(tr), "--out", str(model), "--force",
                               *_FAST]).exit_code == 0
    te_before = te.read_bytes()
    code, out = _main(["detect", "score", "--model", str(model), "--input", str(te), "--scores-out", str(te)], capsys)
    assert code == 64 and "--scores-out" in out and te.read_bytes() == te_before
    code, out = _main(["detect", "score", "--model", str(model), "--input", str(te), "--scores-out", str(model)],
                      capsys)
    assert code == 64 and "also an input" in out
    nested = tmp_path / "new" / "dir" / "s.csv"  # a missing directory is made
    r = runner.invoke(app, ["detect", "score", "--model", str(model), "--input", str(te), "--scores-out", str(nested)])
    assert r.exit_code == 0, r.output
    assert nested.read_text().splitlines()[0] == "index,score,alert,threshold"
    code, out = _main(["detect", "score", "--model", str(model), "--input", str(te), "--scores-out", str(nested)],
                      capsys)
    assert code == 64 and "already exists" in out
    code, _ = _main(["detect", "score", "--model", str(model), "--input", str(te), "--scores-out", str(nested),
                     "--force"], capsys)
    assert code == 0


def test_evaluate_refuses_report_over_an_input(tmp_path, capsys):
    tr, te, lab, _ = _files(tmp_path)
    before = lab.read_bytes()
    code, out = _main(["detect", "evaluate", "--train", str(tr), "--test", str(te), "--labels", str(lab),
                       "--report", str(lab), *_FAST], capsys)
    assert code == 64 and "--report" in out and lab.read_bytes() == before


def _as_table(path: Path, out: Path, names: list[str], kind: str) -> Path:
    import pandas as pd

    from hpcopt.data.telemetry import read_matrix

    X = read_matrix(path)
    df = pd.DataFrame(X, columns=names)
    df.insert(0, "timestamp", 1_700_000_000 + 60 * np.arange(len(df)))
    df.insert(1, "node_id", "n1")
    if kind == "csv":
        df.to_csv(out, index=False)
    elif kind == "parquet":
        df.to_parquet(out)
    elif kind == "jsonl":
        out.write_text("".join(json.dumps({"timestamp": int(t), "metrics": dict(zip(names, map(float, row)))}) + "\n"
                               for t, row in zip(df["timestamp"], X)))
    elif kind == "ldms":
        head = "#Time,Time_usec,ProducerName,component_id,job_id,app_id," + ",".join(names) + "\n"
        out.write_text(head + "".join(f"{t}.0,0,n1,1,0,0," + ",".join(f"{v:.6f}" for v in row) + "\n"
                                      for t, row in zip(df["timestamp"], X)))
    return out


@pytest.mark.parametrize("kind,suffix", [("csv", ".csv"), ("parquet", ".parquet"), ("jsonl", ".jsonl"),
                                         ("ldms", ".csv")])
def test_fit_and_score_read_every_format_and_name_the_culprits(tmp_path, kind, suffix):
    tr, te, _, _ = _files(tmp_path)
    names = ["cpu", "mem", "net", "disk"]
    trf = _as_table(tr, tmp_path / f"train{suffix}", names, kind)
    tef = _as_table(te, tmp_path / f"test{suffix}", names, kind)
    model = tmp_path / "m.hpd"
    r = runner.invoke(app, ["detect", "fit", "--train", str(trf), "--out", str(model), *_FAST, "--json"])
    assert r.exit_code == 0, r.output
    fitted = _payload(r.stdout)
    assert fitted["format"] == kind and fitted["metric_names"] == names and fitted["n_train"] == 1500
    r = runner.invoke(app, ["detect", "score", "--model", str(model), "--input", str(tef), "--json"])
    assert r.exit_code == 0, r.output
    res = _payload(r.stdout)
    assert res["format"] == kind
    # the injected fault is in the second metric: named, not numbered
    assert any(a["start"] <= 305 < a["end"] and a["culprits"][0]["metric"] == "mem" for a in res["alerts"])


def test_evaluate_reads_csv_tables_and_checks_their_names(tmp_path, capsys):
    tr, te, lab, interp = _files(tmp_path)
    names = ["cpu", "mem", "net", "disk"]
    trf = _as_table(tr, tmp_path / "train.csv", names, "csv")
    tef = _as_table(te, tmp_path / "test.csv", names, "csv")
    r = runner.invoke(app, ["detect", "evaluate", "--train", str(trf), "--test", str(tef), "--labels", str(lab),
                            "--interpretation", str(interp), *_FAST, "--json"])
    assert r.exit_code == 0, r.output
    res = _payload(r.stdout)
    assert res["metric_names"] == names and res["format"] == {"train": "csv", "test": "csv"}
    assert res["event_recall"] == 1.0
    swapped = _as_table(te, tmp_path / "test2.csv", ["cpu", "net", "mem", "disk"], "csv")
    code, out = _main(["detect", "evaluate", "--train", str(trf), "--test", str(swapped), "--labels", str(lab),
                       *_FAST], capsys)
    assert code == 2 and "metric 2 is 'net'" in out
    # a header read as a header-less matrix: the cell is named
    code, out = _main(["detect", "evaluate", "--train", str(trf), "--test", str(tef), "--labels", str(lab),
                       "--format", "matrix", *_FAST], capsys)
    assert code == 2 and "line 1" in out and "'timestamp' is not a number" in out
    code, out = _main(["detect", "fit", "--train", str(trf), "--out", str(tmp_path / "x.hpd"), "--format", "xml"],
                      capsys)
    assert code == 64 and "--format must be one of" in out
