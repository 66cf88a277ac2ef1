"""``hpcopt detect``: fit, score, evaluate and stream anomaly detectors on node telemetry.

A thin face: each command parses its options, runs the task of :mod:`hpcopt.detect.tasks`
(recorded in the run store unless --no-record) and renders the payload; ``stream`` calls
:func:`hpcopt.detect.stream.run_stream` and prints its events.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, NO_RECORD_HELP, console, printed_json, run_task
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
_FORMAT_HELP = ("Input format: auto (by the name: .parquet, .jsonl/.ndjson; otherwise by the first line: '#Time' "
                "ldms, '{' jsonl, only numbers matrix, anything else csv), matrix (CSV without header), csv (a "
                "header; a timestamp/time column is the index, id columns such as node_id are set aside), parquet, "
                "ldms (store_csv), jsonl ({'values': [...]} or {'metrics': {...}} lines), prometheus (exposition text "
                "or OpenMetrics with timestamped samples of one instance; counters as rates). .gz ok.")
_DEFAULT_HELP = f"Default: {_DC['detector']} ({DEFAULT_SUMMARY})."
_FORCE_HELP = "Overwrite existing output files (an input of the command is never overwritten)."


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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fit on --train, calibrate the threshold on training scores only (spot/dspot: then update it on the unlabelled test stream), evaluate on --test."""
    result = run_task("detect.evaluate", no_record=no_record, progress=not json_out,
                      label=f"detect evaluate {detector}", train=train, test=test, labels=labels,
                      interpretation=interpretation, format=fmt, detector=detector, threshold=threshold, depth=depth,
                      max_peaks=max_peaks, censored=censored, risk=risk, level=level, rate=rate, smoothing=smoothing,
                      interval_s=interval_s, seed=seed, threads=threads, recenter_window=recenter_window,
                      fill_missing=fill_missing, scores_out=scores_out, report=report, force=force)
    if printed_json(result, json_out):
        return
    res = result.payload
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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    register: Optional[str] = typer.Option(None, "--register", help="Register the saved detector in the model store as the next version of NAME (hpcopt models list)."),
    alias: Optional[str] = typer.Option(None, "--alias", help="With --register: point ALIAS (e.g. production) at the new version."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fit a detector on training data and save it with its label-free threshold."""
    result = run_task("detect.fit", no_record=no_record, progress=not json_out, label=f"fit {detector}",
                      register=register, register_alias=alias, train=train, model=out, format=fmt,
                      detector=detector, threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                      seed=seed, threads=threads, recenter_window=recenter_window, fill_missing=fill_missing,
                      force=force)
    if printed_json(result, json_out):
        return
    res = result.payload
    thr, adapt = res["threshold"], res["threshold_update"]
    console.print(f"saved {detector} to {out}; threshold {thr['value']:.4g} ({thr['method']}"
                  + (f", updated by {adapt} when scoring" if adapt else "") + ")")
    if res.get("registered"):
        reg = res["registered"]
        console.print(f"registered as {reg['name']} version {reg['version']}"
                      + (f" (alias {reg['alias']})" if reg.get("alias") else ""))


@sub.command("score")
def score(
    model: str = typer.Option(..., "--model", help="A detector saved by 'hpcopt detect fit', or a registered one: "
                              "model:NAME[@ALIAS|:VERSION]."),
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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Score telemetry with a saved detector; list alert runs with their culprit metrics."""
    result = run_task("detect.score", no_record=no_record, model=model, input=input, format=fmt,
                      threshold=threshold, depth=depth, scores_out=scores_out, top_k=top_k,
                      fill_missing=fill_missing, force=force)
    if printed_json(result, json_out):
        return
    res = result.payload
    console.print(f"{len(res['alerts'])} alert runs in {res['n_rows']} rows (alert rate {res['alert_rate']:.3%})")
    for al in res["alerts"][:20]:
        console.print(f"  rows [{al['start']}, {al['end']}) peak {al['peak_score']:.3g} culprits "
                      + ", ".join(str(c["metric"]) for c in al["culprits"]))


@sub.command("stream")
def stream(
    model: str = typer.Option(..., "--model", help="A detector saved by 'hpcopt detect fit', or a registered one: "
                              "model:NAME[@ALIAS|:VERSION]."),
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
    from hpcopt.core.results import json_safe
    from hpcopt.detect.stream import run_stream

    def emit(ev: dict) -> None:
        out = sys.stdout if ev["event"] in ("alert", "resolved") else sys.stderr
        out.write(json.dumps(json_safe(ev)) + "\n")
        out.flush()

    run_stream(_model_path(model), emit, lines=sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin,
               format=fmt, scrapes=scrapes, metrics=metrics, top_k=top_k, entity=entity, gauges_out=gauges_out,
               gauges_every=gauges_every, force=force, per_entity=per_entity, max_entities=max_entities,
               on_bad_sample=on_bad_sample, threshold=threshold, depth=depth, max_peaks=max_peaks, censored=censored,
               scrape_interval=scrape_interval)


def _model_path(model: str) -> str:
    """--model model:NAME@ALIAS names a registered detector (resolved and verified by the store)."""
    if not model.startswith("model:"):
        return model
    from hpcopt.store import open_store
    from hpcopt.store.runner import resolve_model_ref

    resolved = resolve_model_ref(model, open_store())
    if resolved is None:
        from hpcopt.errors import ConfigError

        raise ConfigError(f"--model {model!r} is not a model reference; write model:NAME, model:NAME@ALIAS or "
                          "model:NAME:VERSION")
    return str(resolved[0])


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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Per-run event recall and false alarms on LDMS runs with HPAS-injected anomalies."""
    result = run_task("detect.hpas", no_record=no_record, progress=not json_out, label="hpas runs", data=data,
                      detector=detector, apps=list(app_name) if app_name else None, seed=seed, per_core=per_core,
                      threshold=threshold, depth=depth, recenter_window=recenter_window, train_on=train_on,
                      report=report, force=force)
    if printed_json(result, json_out):
        return
    res = result.payload
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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """hpcopt's metrics and NAB's own score (three profiles; alerted rows and alert onsets) on a NAB folder.

    With the common default (lstm, DSPOT) NAB measures F1 0.181; --detector mad gives 0.214 there.
    """
    result = run_task("detect.nab", no_record=no_record, progress=not json_out, label="NAB files", data=data,
                      detector=detector, seed=seed, threshold=threshold, level=level, risk=risk,
                      recenter_window=recenter_window)
    if printed_json(result, json_out):
        return
    res = result.payload
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
