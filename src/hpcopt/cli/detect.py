"""``hpcopt detect``: fit, score, evaluate and stream anomaly detectors on node telemetry."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json, progress_bar
from hpcopt.detect.defaults import DEFAULT_CONFIG as _DC
from hpcopt.detect.defaults import DEFAULT_SUMMARY, SHORT_SERIES_RECENTER_WINDOW

sub = typer.Typer(help="Detect anomalies in node telemetry, name the culprit metrics, stream alerts.",
                  no_args_is_help=True)
app.add_typer(sub, name="detect")

_DETECTOR_HELP = ("Detector: random, mad, pca, iforest, ensemble, lstm; PyOD-backed hbos, loda, ecod, copod "
                  "(causal: each row against the training ECDFs), ecod_batch, copod_batch (PyOD's transductive "
                  "batch scores; not for streams); "
                  "lstm_max, lstm_mean, pca_max, pca_mean, mad_max, mad_mean (per-metric residuals on their "
                  "training scales, reduced by max or mean); lstm_pca, lstm_pca_max (train-normalised mean of the two).")
_ADAPTIVE = ("spot", "dspot")


def _split_threshold(threshold: str) -> tuple[str, Optional[str]]:
    """'spot'/'dspot' -> ('pot', adapt): POT on training scores, then updated on the stream."""
    from hpcopt.errors import ConfigError

    if threshold in _ADAPTIVE:
        return "pot", threshold
    if threshold in ("pot", "far"):
        return threshold, None
    raise ConfigError(f"--threshold must be pot, far, spot or dspot; got {threshold!r}")


def _adapt_params(adapt: Optional[str], depth: Optional[int], max_peaks: Optional[int],
                  censored: bool = False) -> dict:
    """SPOT/DSPOT options; options that would have no effect are refused, not ignored."""
    from hpcopt.errors import ConfigError

    if depth is not None and adapt != "dspot":
        raise ConfigError("--depth is DSPOT's moving-average depth: use it with dspot only")
    if adapt is None:
        if max_peaks is not None:
            raise ConfigError("--max-peaks applies to the streaming thresholds (spot, dspot) only")
        if censored:
            raise ConfigError("--censored applies to the streaming thresholds (spot, dspot) only")
        return {}
    out: dict = {"censored": bool(censored)}
    if depth is not None:
        out["depth"] = depth
    if max_peaks is not None:
        out["max_peaks"] = max_peaks
    return out


def _detector(name: str, threshold: str, risk: float, level: float, rate: float, smoothing: int, seed: int,
              n_threads: Optional[int] = None, recenter_window: int = 0):
    from hpcopt.detect import make_detector

    params = dict(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing, random_state=seed)
    if name == "lstm" and n_threads is not None:
        params["n_threads"] = n_threads
    if recenter_window:
        params["recenter_window"] = recenter_window
    return make_detector(name, **params)


_FORMAT_HELP = ("Input format: auto (by the name: .parquet, .jsonl/.ndjson; otherwise by the first line: '#Time' "
                "ldms, '{' jsonl, only numbers matrix, anything else csv), matrix (CSV without header), csv (a "
                "header; a timestamp/time column is the index, id columns such as node_id are set aside), parquet, "
                "ldms (store_csv), jsonl ({'values': [...]} or {'metrics': {...}} lines), prometheus (exposition text "
                "or OpenMetrics with timestamped samples of one instance; counters as rates). .gz ok.")
_DEFAULT_HELP = f"Default: {_DC['detector']} ({DEFAULT_SUMMARY})."
_FORCE_HELP = "Overwrite existing output files (an input of the command is never overwritten)."


def _load(path: Path, fmt: str, fill_missing: bool, repairs=None):
    """One telemetry input through the data layer's readers (--format)."""
    from hpcopt.data.telemetry import read_telemetry

    return read_telemetry(path, format=fmt, missing="ffill" if fill_missing else "error", repairs=repairs)


def _outputs(force: bool, inputs: list, **outs) -> None:
    """Check every output path before any work (parents made, inputs and existing files kept)."""
    from hpcopt.core.files import prepare_output

    for option, path in outs.items():
        if path is not None:
            prepare_output(path, inputs=inputs, force=force, option="--" + option.replace("_", "-"))


def _check_training_rows(det, n_rows: int, recenter_window: int, source: str) -> None:
    """A recentred detector needs more rows than its window: say so before fitting, with the way out."""
    from hpcopt.errors import InputError

    needed = max(10, int(det.context_) + 2)
    if recenter_window and n_rows < needed:
        raise InputError(f"{n_rows} training rows, but --recenter-window {recenter_window} needs at least {needed} "
                         "(the window plus the detector's look-back)", source=source,
                         hint=f"pass --recenter-window 0 (off) or a window of at most {max(1, n_rows - needed + recenter_window)}")


@contextmanager
def _naming(source: str):
    """A detector's complaint about the data it was given names that file."""
    from hpcopt.errors import InputError

    try:
        yield
    except InputError as exc:
        if exc.source is not None:
            raise
        raise InputError(exc.reason, source=source, line=exc.line, field=exc.field, hint=exc.hint) from None


def _write_csv(path: Path, frame) -> None:
    from hpcopt.core.files import atomic_write_text

    atomic_write_text(path, frame.to_csv(index=False))


@sub.command("evaluate")
def evaluate(
    train: Path = typer.Option(..., "--train", help="Training telemetry (see --format)."),
    test: Path = typer.Option(..., "--test", help="Test telemetry, same metrics in the same order."),
    labels: Path = typer.Option(..., "--labels", help="One 0/1 per test row."),
    interpretation: Optional[Path] = typer.Option(None, "--interpretation", help="start-end:d1,d2 lines (1-based metrics)."),
    fmt: str = typer.Option("auto", "--format", help=_FORMAT_HELP),
    detector: str = typer.Option(_DC["detector"], "--detector", help=_DETECTOR_HELP + " " + _DEFAULT_HELP),
    threshold: str = typer.Option(_DC["threshold"], "--threshold",
                                  help="Label-free threshold: pot or far (fixed, from training scores), spot or "
                                       "dspot (POT on training scores, then updated causally on the unlabelled test "
                                       f"scores). Default {_DC['threshold']}."),
    depth: Optional[int] = typer.Option(None, "--depth", help=f"DSPOT: moving-average depth (default {_DC['depth']})."),
    max_peaks: Optional[int] = typer.Option(None, "--max-peaks", help="SPOT/DSPOT: keep only the last N peaks."),
    censored: bool = typer.Option(_DC["censored"], "--censored", help="SPOT/DSPOT: count alarms as censored excesses "
                                  "(the alarm rate stays at the risk on long stationary streams; alarms then raise the "
                                  "threshold). Default: the paper's rule (alarms dropped)."),
    risk: float = typer.Option(_DC["risk"], "--risk", help="POT: exceedance probability of the threshold."),
    level: float = typer.Option(_DC["level"], "--level", help="POT: quantile of the initial threshold."),
    rate: float = typer.Option(_DC["rate"], "--rate", help="far: target false-alarm rate on training scores."),
    smoothing: int = typer.Option(_DC["smoothing"], "--smoothing", help="Causal moving average of scores over N steps."),
    interval_s: float = typer.Option(60.0, "--interval-s", help="Seconds per row (for false alarms per day)."),
    seed: int = typer.Option(_DC["seed"], "--seed", help="random_state of the detector."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads for the lstm detector."),
    recenter_window: int = typer.Option(_DC["recenter_window"], "--recenter-window",
                                        help="Adapt to lasting level shifts over N rows (0: off). Default "
                                             f"{_DC['recenter_window']}: 3 days of 60 s rows (864 for 300 s rows)."),
    fill_missing: bool = typer.Option(False, "--fill-missing", help="Forward-fill empty or NaN cells (counted) instead "
                                      "of failing; LDMS: also drop cut-short rows and sort rows by time (counted)."),
    scores_out: Optional[Path] = typer.Option(None, "--scores-out", help="Write index,score,alert,label per test row (CSV)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fit on --train, calibrate the threshold on training scores only (spot/dspot: then update it on the unlabelled test stream), evaluate on --test."""
    from hpcopt.data.telemetry import LabelledSeries, RepairLog, read_interpretation, read_labels
    from hpcopt.detect import make_detector
    from hpcopt.detect.evaluate import SCHEMA, evaluate_series
    from hpcopt.errors import InputError

    _outputs(force, [train, test, labels, interpretation], scores_out=scores_out, report=report)
    base_threshold, adapt = _split_threshold(threshold)
    ap = _adapt_params(adapt, depth, max_peaks, censored)
    repairs = RepairLog()
    tr = _load(train, fmt, fill_missing, repairs)
    te = _load(test, fmt, fill_missing, repairs)
    if te.values.shape[1] != tr.values.shape[1]:
        raise InputError(f"{te.values.shape[1]} metrics but the training file has {tr.values.shape[1]}",
                         source=te.source, hint="train and test need the same metrics in the same order")
    if tr.metric_names and te.metric_names and tr.metric_names != te.metric_names:
        k = next(i for i, (a, b) in enumerate(zip(tr.metric_names, te.metric_names)) if a != b)
        raise InputError(f"metric {k + 1} is {te.metric_names[k]!r} but {tr.metric_names[k]!r} in the training file",
                         source=te.source, field="header", hint="train and test need the same metrics in the same order")
    names = tr.metric_names or te.metric_names
    y = read_labels(labels, n_rows=te.values.shape[0])
    interp = (read_interpretation(interpretation, n_rows=te.values.shape[0], n_metrics=tr.values.shape[1])
              if interpretation else None)
    series = LabelledSeries(test.name, tr.values, te.values, y, interp, interval_s, names, repairs)
    det = _detector(detector, base_threshold, risk, level, rate, smoothing, seed, threads, recenter_window)
    _check_training_rows(det, tr.values.shape[0], recenter_window, tr.source)
    with progress_bar(f"detect evaluate {detector}", enabled=not json_out) as progress:
        res = evaluate_series(det, series, adapt=adapt, adapt_params=ap, progress=progress)
        base = evaluate_series(make_detector("random", threshold=base_threshold, risk=risk, level=level, rate=rate,
                                             smoothing=1, random_state=seed), series, with_culprits=False,
                               adapt=adapt, adapt_params=ap)
    arrays = res.pop("_arrays")
    base.pop("_arrays")
    res["schema"] = SCHEMA
    res["format"] = {"train": tr.format, "test": te.format}
    res["metric_names"] = names
    res["config"] = {"detector": detector, "threshold": threshold, "recenter_window": recenter_window,
                     "smoothing": smoothing, "risk": risk, "level": level, "seed": seed}
    res["repairs"] = repairs.as_dict()
    res["random_baseline"] = {k: base[k] for k in ("f1", "precision", "recall", "auroc", "auprc", "event_recall",
                                                   "pa_f1", "false_alarms_per_day")}
    res["protocol"] = ("fit on --train; threshold calibrated on training scores only "
                       f"({threshold}" + (", then updated causally from the unlabelled test scores" if adapt else "")
                       + "); test labels used only for the metrics; pa_f1 and best_f1_oracle are secondary")
    if scores_out is not None:
        import pandas as pd

        cols = {"index": range(len(y)), "score": arrays["scores"], "alert": arrays["alerts"], "label": y}
        if arrays.get("thresholds") is not None:
            cols["threshold"] = arrays["thresholds"]
        _write_csv(scores_out, pd.DataFrame(cols))
        res["scores_out"] = str(scores_out)
    if report is not None:
        from hpcopt.detect.report import write_report

        write_report(report, series, arrays["detector"], arrays["scores"], arrays["alerts"], res,
                     thresholds=arrays.get("thresholds"))
        res["report"] = str(report)
    if json_out:
        print_json(res)
        return
    from rich.table import Table

    t = Table(title=f"{detector} on {test.name} (threshold {threshold}, seed {seed})")
    t.add_column("metric")
    t.add_column(detector, justify="right")
    t.add_column("random", justify="right")
    rb = res["random_baseline"]
    for k in ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "false_alarms_per_day",
              "delay_steps_mean", "pa_f1 (secondary)", "best_f1_oracle (peeks at labels)", "hitrate_100", "hitrate_150"):
        key = k.split(" ")[0]
        if key not in res:
            continue
        rv = rb.get(key, res.get(f"{key}_random"))
        t.add_row(k, f"{res[key]:.3f}", "" if rv is None else f"{rv:.3f}")
    console.print(t)


@sub.command("fit")
def fit(
    train: Path = typer.Option(..., "--train", help="Training telemetry (see --format)."),
    out: Path = typer.Option(..., "--out", help="Where to save the fitted detector (one file: a zip of JSON and "
                             ".npz with SHA-256 checksums; no pickle)."),
    fmt: str = typer.Option("auto", "--format", help=_FORMAT_HELP),
    detector: str = typer.Option(_DC["detector"], "--detector", help=_DETECTOR_HELP + " " + _DEFAULT_HELP),
    threshold: str = typer.Option(_DC["threshold"], "--threshold",
                                  help="pot or far (the saved fixed threshold), spot or dspot (POT on the training "
                                       "scores is saved; 'detect score' and 'detect stream' update it on the scored "
                                       f"rows). Default {_DC['threshold']}."),
    risk: float = typer.Option(_DC["risk"], "--risk", help="POT: exceedance probability of the threshold."),
    level: float = typer.Option(_DC["level"], "--level", help="POT: quantile of the initial threshold."),
    rate: float = typer.Option(_DC["rate"], "--rate", help="far: target false-alarm rate on training scores."),
    smoothing: int = typer.Option(_DC["smoothing"], "--smoothing", help="Causal moving average of scores over N steps."),
    seed: int = typer.Option(_DC["seed"], "--seed", help="random_state of the detector."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads for the lstm detector."),
    recenter_window: int = typer.Option(_DC["recenter_window"], "--recenter-window",
                                        help="Adapt to lasting level shifts over N rows (0: off). Default "
                                             f"{_DC['recenter_window']}: 3 days of 60 s rows (864 for 300 s rows)."),
    fill_missing: bool = typer.Option(False, "--fill-missing", help="Forward-fill empty or NaN cells (counted) "
                                      "instead of failing."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fit a detector on training data and save it with its label-free threshold."""
    from hpcopt.data.telemetry import RepairLog

    _outputs(force, [train], out=out)
    base_threshold, adapt = _split_threshold(threshold)
    repairs = RepairLog()
    tel = _load(train, fmt, fill_missing, repairs)
    X = tel.values
    det = _detector(detector, base_threshold, risk, level, rate, smoothing, seed, threads, recenter_window)
    _check_training_rows(det, X.shape[0], recenter_window, tel.source)
    with progress_bar(f"fit {detector}", enabled=not json_out) as progress, _naming(tel.source):
        det.fit(X, progress=progress)
    det.save(out)
    res = {"model": str(out), "detector": detector, "n_train": int(X.shape[0]), "n_metrics": int(X.shape[1]),
           "metric_names": tel.metric_names, "format": tel.format, "random_state": seed,
           "threshold": det.threshold_.as_dict(), "threshold_update": adapt, "repairs": repairs.as_dict()}
    if json_out:
        print_json(res)
    else:
        console.print(f"saved {detector} to {out}; threshold {det.threshold_.value:.4g} ({det.threshold_.method}"
                      + (f", updated by {adapt} when scoring" if adapt else "") + ")")


@sub.command("score")
def score(
    model: Path = typer.Option(..., "--model", help="A detector saved by 'hpcopt detect fit'."),
    input: Path = typer.Option(..., "--input", help="Telemetry to score, the training metrics in order (see --format)."),
    fmt: str = typer.Option("auto", "--format", help=_FORMAT_HELP),
    threshold: str = typer.Option(_DC["threshold"], "--threshold",
                                  help="fixed (the model's own threshold), spot or dspot (start from POT on the "
                                       "model's training scores and update it on the scored rows in order, no label "
                                       f"read). Default {_DC['threshold']}."),
    depth: Optional[int] = typer.Option(None, "--depth", help=f"DSPOT: moving-average depth (default {_DC['depth']})."),
    scores_out: Optional[Path] = typer.Option(None, "--scores-out", help="Write index,score,alert per row (CSV)."),
    top_k: int = typer.Option(3, "--top-k", help="Culprit metrics per alert."),
    fill_missing: bool = typer.Option(False, "--fill-missing", help="Forward-fill empty or NaN cells (counted) "
                                      "instead of failing."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Score telemetry with a saved detector; list alert runs with their culprit metrics."""
    import numpy as np

    from hpcopt.data.telemetry import RepairLog, label_segments
    from hpcopt.detect import load_detector
    from hpcopt.errors import ConfigError

    _outputs(force, [model, input], scores_out=scores_out)
    if threshold not in ("fixed", "spot", "dspot"):
        raise ConfigError(f"--threshold must be fixed, spot or dspot; got {threshold!r}")
    adapt = None if threshold == "fixed" else threshold
    ap = _adapt_params(adapt, depth, None)
    det = load_detector(model)
    repairs = RepairLog()
    tel = _load(input, fmt, fill_missing, repairs)
    X = tel.values
    with _naming(tel.source):
        s = det.decision_function(X)
    thresholds = None
    if adapt:
        from hpcopt.detect.evaluate import make_spot

        a, thresholds = make_spot(det, adapt, ap).run(s)
        a = np.asarray(a, dtype=np.int8)
    else:
        a = (s > det.threshold_.value).astype(np.int8)
    runs = label_segments(a)
    alerts = []
    for st, en in runs:
        C = det.explain(X[max(0, st - det.context_ - det.smoothing + 1):en])[-(en - st):].mean(axis=0)
        order = np.argsort(-C, kind="stable")[:top_k]
        alerts.append({"start": st, "end": en, "peak_score": float(s[st:en].max()),
                       "culprits": [{"metric": tel.metric_label(int(j)), "contribution": float(C[j])} for j in order]})
    if scores_out is not None:
        import pandas as pd

        cols = {"index": range(len(s)), "score": s, "alert": a}
        if thresholds is not None:
            cols["threshold"] = thresholds
        _write_csv(scores_out, pd.DataFrame(cols))
    res = {"n_rows": int(len(s)), "format": tel.format, "threshold_method": threshold,
           "threshold": det.threshold_.value, "alert_rate": float(a.mean()), "alerts": alerts,
           "repairs": repairs.as_dict(),
           "note": ("culprit metrics are named by the input's columns" if tel.metric_names
                    else "culprit metric numbers are 1-based columns of the input")}
    if thresholds is not None:
        res["threshold_final"] = float(np.asarray(thresholds)[-1]) if len(s) else None
    if json_out:
        print_json(res)
    else:
        console.print(f"{len(alerts)} alert runs in {len(s)} rows (alert rate {a.mean():.3%})")
        for al in alerts[:20]:
            console.print(f"  rows [{al['start']}, {al['end']}) peak {al['peak_score']:.3g} culprits "
                          + ", ".join(str(c["metric"]) for c in al["culprits"]))


@sub.command("stream")
def stream(
    model: Path = typer.Option(..., "--model", help="A detector saved by 'hpcopt detect fit'."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (stdin lines {'values': [...]}) or prometheus (scrape "
                            "files: text format or OpenMetrics; counters become per-second rates)."),
    scrapes: list[Path] = typer.Option([], "--scrape", help="Prometheus scrape files, one time step each, in order."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="File with one metric name per line (training order)."),
    top_k: int = typer.Option(3, "--top-k", help="Culprit metrics per alert."),
    entity: str = typer.Option("", "--entity", help="Entity name put into events and gauges."),
    gauges_out: Optional[Path] = typer.Option(None, "--gauges-out", help="Keep the state as Prometheus metrics in "
                                              "this file (text format, replaced atomically; counters typed counter)."),
    gauges_every: str = typer.Option("10s", "--gauges-every", help="--gauges-out: rewrite the file every N samples "
                                     "(e.g. 500) or every N seconds (e.g. 10s), and at the end."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --gauges-out file."),
    per_entity: bool = typer.Option(False, "--per-entity", help="Each jsonl line (or each instance of a scrape) is "
                                    "one entity (a node): score each entity apart, with its own look-back, alerts and "
                                    "streaming threshold."),
    max_entities: int = typer.Option(10_000, "--max-entities", help="--per-entity: refuse entities beyond this many "
                                     "(memory bound); a refused entity is reported once, its lines counted."),
    on_bad_sample: str = typer.Option("skip", "--on-bad-sample", help="A bad line or sample (not JSON, NaN, a "
                                      "missing metric, a wrong value count) is reported on stderr and: skip (default), "
                                      "impute (the entity's last good value of each bad metric) or stop (exit 2)."),
    threshold: str = typer.Option("fixed", "--threshold", help="fixed (the model's own threshold; default), or "
                                  "spot / dspot: updated online (starting from POT on the model's training scores)."),
    depth: Optional[int] = typer.Option(None, "--depth", help="DSPOT: moving-average depth (default 100)."),
    max_peaks: Optional[int] = typer.Option(None, "--max-peaks", help="SPOT/DSPOT: keep the last N peaks for the tail "
                                            "fit (bounded memory; default 10000)."),
    censored: bool = typer.Option(True, "--censored/--paper", help="SPOT/DSPOT: count alarms as censored excesses, "
                                  "which keeps the alarm rate at the risk on a long stationary stream (default), or "
                                  "drop them as the paper does (the rate then climbs, to 3.7x the risk after 400k "
                                  "steps on Exp(1) scores)."),
    scrape_interval: Optional[float] = typer.Option(None, "--scrape-interval", help="--format prometheus: seconds "
                                                    "between scrapes whose samples carry no timestamp (for rates)."),
    json_out: bool = typer.Option(False, "--json", help="Events are always JSON lines (alerts on stdout, bad samples "
                                  "and the end summary on stderr); --json also prints errors as JSON."),
) -> None:
    """Score a stream online: alert / resolved events on stdout, bad samples and a summary on stderr (JSON lines)."""
    import json

    from hpcopt.core.results import json_safe
    from hpcopt.core.files import prepare_output, read_text
    from hpcopt.detect import load_detector
    from hpcopt.detect.stream import (BAD_SAMPLE_POLICIES, GaugeWriter, StreamMonitor, jsonl_samples, parse_every,
                                      prometheus_samples)
    from hpcopt.errors import ConfigError

    if on_bad_sample not in BAD_SAMPLE_POLICIES:
        raise ConfigError(f"--on-bad-sample must be skip, impute or stop; got {on_bad_sample!r}")
    if threshold not in ("fixed", *_ADAPTIVE):
        raise ConfigError(f"--threshold must be fixed, spot or dspot; got {threshold!r}")
    adapt = None if threshold == "fixed" else threshold
    if fmt not in ("jsonl", "prometheus"):
        raise ConfigError(f"--format must be jsonl or prometheus; got {fmt!r}")
    if per_entity and entity:
        raise ConfigError("--entity names the one entity of a stream; with --per-entity each line names its own")
    if scrape_interval is not None and (fmt != "prometheus" or not scrape_interval > 0):
        raise ConfigError("--scrape-interval is a positive number of seconds, for --format prometheus")
    every_n, every_s = parse_every(gauges_every)
    if gauges_out is not None:
        prepare_output(gauges_out, inputs=[model, metrics, *scrapes], force=force, option="--gauges-out")
    names = None
    if metrics is not None:
        names = [ln.strip() for ln in read_text(metrics).splitlines() if ln.strip()]
    if fmt == "prometheus":
        if names is None:
            raise ConfigError("--format prometheus needs --metrics (the metric names in training order)")
        if not scrapes:
            raise ConfigError("--format prometheus needs at least one --scrape FILE")
        samples = prometheus_samples(scrapes, names, per_entity=per_entity, interval=scrape_interval)
    else:
        if scrapes:
            raise ConfigError("--scrape is for --format prometheus")
        samples = jsonl_samples(sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin, names)
    det = load_detector(model)
    if adapt is not None and max_peaks is None:
        max_peaks = 10_000  # bounded memory on an endless stream
    ap = _adapt_params(adapt, depth, max_peaks, censored and adapt is not None)
    monitor = StreamMonitor(det, per_entity=per_entity, entity=entity, max_entities=max_entities,
                            on_bad_sample=on_bad_sample, top_k=top_k, metric_names=names, adapt=adapt,
                            adapt_params=ap if adapt else None)
    writer = (GaugeWriter(gauges_out, monitor, every_samples=every_n, every_s=every_s)
              if gauges_out is not None else None)

    def emit(ev: dict) -> None:
        out = sys.stdout if ev["event"] in ("alert", "resolved") else sys.stderr
        out.write(json.dumps(json_safe(ev)) + "\n")
        out.flush()

    try:
        for sample in samples:
            for ev in monitor.feed(sample):
                emit(ev)
            if writer is not None:
                writer.tick()
    finally:
        if writer is not None:
            writer.write()  # the state reached, also when a bad sample stopped the stream
    emit({"event": "end", **monitor.summary()})


@sub.command("hpas")
def hpas(
    data: Path = typer.Option(..., "--data", help="The hpas_ldms folder (labels.csv.gz and runs/)."),
    detector: str = typer.Option(_DC["detector"], "--detector", help=_DETECTOR_HELP + " " + _DEFAULT_HELP),
    app_name: Optional[list[str]] = typer.Option(None, "--app", help="Restrict to these applications."),
    seed: int = typer.Option(_DC["seed"], "--seed", help="random_state of the detector."),
    per_core: bool = typer.Option(False, "--per-core", help="Keep procstat's per-core counters."),
    threshold: str = typer.Option(_DC["threshold"], "--threshold",
                                  help=f"pot, far, spot or dspot (see 'detect evaluate'). Default {_DC['threshold']}."),
    depth: Optional[int] = typer.Option(None, "--depth", help=f"DSPOT: moving-average depth (default {_DC['depth']})."),
    recenter_window: int = typer.Option(SHORT_SERIES_RECENTER_WINDOW, "--recenter-window",
                                        help="Adapt to lasting level shifts over N rows (0: off, the default: a "
                                             "healthy run is shorter than the common default's 4320-row window)."),
    train_on: str = typer.Option("healthy", "--train-on",
                                 help="healthy: fit on each application's healthy run; past-runs: for each scored run, "
                                      "fit on the healthy run plus the normal seconds of the runs that ended before it "
                                      "started; other-runs: ... of every other run (leave one run out, later runs "
                                      "included: optimistic). The scored run's labels are never read."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report of the runs."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Per-run event recall and false alarms on LDMS runs with HPAS-injected anomalies."""
    from hpcopt.detect.hpas import evaluate_hpas, write_hpas_report

    _outputs(force, [data], report=report)
    base_threshold, adapt = _split_threshold(threshold)
    det = _detector(detector, base_threshold, _DC["risk"], _DC["level"], _DC["rate"], _DC["smoothing"], seed,
                    recenter_window=recenter_window)
    with progress_bar("hpas runs", enabled=not json_out) as progress:
        res = evaluate_hpas(data, det, apps=tuple(app_name) if app_name else None, per_core=per_core,
                            adapt=adapt, adapt_params=_adapt_params(adapt, depth, None), train_on=train_on,
                            keep_scores=report is not None, progress=progress)
    if report is not None:
        write_hpas_report(report, res)
        res["report"] = str(report)
        for r in res["runs"]:
            r.pop("_arrays", None)
    if json_out:
        print_json(res)
        return
    from rich.table import Table

    t = Table(title=f"{detector} on HPAS/LDMS runs (seed {seed})")
    for c in ("run", "event recall", "random, same alert rate", "false alarms", "F1", "AUROC"):
        t.add_column(c)
    for r in res["runs"]:
        t.add_row(r["run_id"], f"{r['event_recall']:.2f}", f"{r['event_recall_random_same_rate']:.2f}",
                  str(r["false_alarms"]), f"{r['f1']:.3f}", f"{r['auroc']:.3f}")
    console.print(t)
    console.print(f"mean over runs: {res['mean_over_runs']}; window recall by anomaly: {res['window_recall_by_anomaly']}")


@sub.command("nab")
def nab(
    data: Path = typer.Option(..., "--data", help="A NAB folder: data/<group>/<file>.csv[.gz] and labels.csv.gz."),
    detector: str = typer.Option(_DC["detector"], "--detector", help=_DETECTOR_HELP + " " + _DEFAULT_HELP),
    seed: int = typer.Option(_DC["seed"], "--seed", help="random_state of the detector."),
    threshold: str = typer.Option(_DC["threshold"], "--threshold",
                                  help=f"pot, far, spot or dspot (see 'detect evaluate'). Default {_DC['threshold']}."),
    level: float = typer.Option(0.90, "--level", help="POT's initial quantile of the training scores (NAB's "
                                                     "probationary periods are short: 0.90 leaves enough peaks; "
                                                     "the one departure from the common default 0.95)."),
    risk: float = typer.Option(_DC["risk"], "--risk", help="Target exceedance probability of the threshold."),
    recenter_window: int = typer.Option(SHORT_SERIES_RECENTER_WINDOW, "--recenter-window",
                                        help="Adapt to lasting level shifts over N rows (0: off, the default: a "
                                             "probationary period is shorter than the common default's 4320-row "
                                             "window)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """hpcopt's metrics and NAB's own score (three profiles; alerted rows and alert onsets) on a NAB folder.

    With the common default (lstm, DSPOT) NAB measures F1 0.181; --detector mad gives 0.214 there.
    """
    from hpcopt.detect.nab import evaluate_nab

    base_threshold, adapt = _split_threshold(threshold)
    det = _detector(detector, base_threshold, risk, level, _DC["rate"], _DC["smoothing"], seed,
                    recenter_window=recenter_window)
    with progress_bar("NAB files", enabled=not json_out) as progress:
        res = evaluate_nab(data, det, adapt=adapt, adapt_params={"min_peaks": 10} if adapt else None,
                           progress=progress)
    if json_out:
        print_json(res)
        return
    from rich.table import Table

    t = Table(title=f"{detector} on NAB ({res['n_files']} files, seed {seed}, threshold {res['threshold']})")
    for c in ("score of", "standard", "reward low FP", "reward low FN"):
        t.add_column(c)
    profiles = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
    floor = res["chance_shifted"]
    for label, key in (("alerted rows", "nab"), ("alert onsets", "nab_onsets")):
        t.add_row(label, *(f"{res[key][p]['score']:.1f}" for p in profiles))
        t.add_row(f"  chance: the same {label} shifted", *(f"{floor[key][p]:.1f}" for p in profiles))
    t.add_row("no alerts", "0.0", "0.0", "0.0")
    console.print(t)
    console.print({k: (round(v, 3) if v is not None else None) for k, v in res["mean"].items()})
    console.print(f"chance (own alerts shifted, median of {floor['n_seeds']} seeds): F1 {floor['f1']:.3f}, "
                  f"precision {floor['precision']:.3f}, event recall {floor['event_recall']:.3f}")
    if res["n_fixed_threshold_fallback"]:
        console.print(f"{res['n_fixed_threshold_fallback']} of {res['n_files']} files kept the fixed threshold "
                      f"(too few calibration peaks for {res['threshold']})")
