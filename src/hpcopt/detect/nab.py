"""The Numenta Anomaly Benchmark (NAB) layout as labelled series, for hpcopt's honest metrics.

The corpus itself (files, windows, the probationary split) is read by
:mod:`hpcopt.data.corpora.nab`; its names stay importable here.

NAB's own score (early detection inside a window rewarded by a sigmoid, false positives
weighed by an application profile) is in :mod:`hpcopt.detect.nab_score`; :func:`nab_windows`
gives it each window's rows in the file, read from the label file (so adjacent windows stay
separate, which they would not if read back from the 0/1 labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcopt.data.corpora.nab import PROBATION, list_nab_files, load_nab_series, nab_windows
from hpcopt.data.telemetry import LabelledSeries
from hpcopt.errors import InputError

__all__ = ["load_nab_series", "list_nab_files", "nab_windows", "nab_corpus", "evaluate_nab", "NAB_KEYS",
           "PROBATION"]


#: hpcopt's metrics reported per NAB file (means over the files with a window, except the rates)
NAB_KEYS = ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "false_alarms_per_day", "pa_f1",
            "best_f1_oracle", "alert_rate")


def nab_corpus(alerts_per_file, series: list[LabelledSeries], windows: list) -> tuple[dict, list[dict]]:
    """NAB's score of one alert array per file (the test part of each series; the training
    part is the unscored probation), for the three profiles: ``({profile: corpus totals},
    [{profile: file raw score}])``. ``windows`` holds :func:`nab_windows` of each file."""
    from hpcopt.detect.nab_score import PROFILES, nab_score, nab_score_file

    totals, raw = {}, [{} for _ in series]
    for prof in PROFILES:
        fs = [nab_score_file(a, w, n, probation=s.train.shape[0], profile=prof, source=s.name)
              for a, s, (w, n) in zip(alerts_per_file, series, windows)]
        totals[prof] = {k: v for k, v in nab_score(fs).items() if k != "profile"}
        for d, f in zip(raw, fs):
            d[prof] = f.raw
    return totals, raw


def evaluate_nab(root: str | Path, detector, *, adapt: str | None = None, adapt_params: dict | None = None,
                 keep_arrays: bool = False, n_floor_seeds: int = 10, progress=None) -> dict:
    """hpcopt's metrics and NAB's own score of ``detector`` on every file of a NAB folder.

    Per file: fit on the training part (:func:`load_nab_series`: the probationary 15 %),
    threshold from the training scores only (the detector's own, or SPOT/DSPOT started from
    them with ``adapt``; when too few distinct calibration peaks exist for SPOT the file keeps
    its fixed threshold and is counted in ``n_fixed_threshold_fallback``), score the rest.
    The labels are used only for the metrics. NAB's score
    (:mod:`hpcopt.detect.nab_score`, three profiles, normalised over the corpus: no alerts =
    0, perfect = 100) is given for the alerted rows (``nab``) and for the alert onsets, the
    first row of each run of alerts as the stream reports them (``nab_onsets``). Beside them,
    ``chance_shifted``: the same metrics and scores of each file's own alerts shifted
    circularly (same count and runs, random place; median over ``n_floor_seeds`` seeds).
    Means with no file to average are ``None``. ``keep_arrays=True`` adds per file ``_arrays`` (scores, alerts, fitted detector).
    """
    from hpcopt.detect.evaluate import alert_metrics, evaluate_series, make_spot
    from hpcopt.detect.metrics import circular_shift_floor, event_metrics, point_metrics
    from hpcopt.detect.nab_score import PROFILES, alert_onsets

    if adapt not in (None, "spot", "dspot"):
        raise InputError(f"adapt must be None, 'spot' or 'dspot'; got {adapt!r}")
    files = list_nab_files(root)
    if not files:
        raise InputError("no NAB data files under data/", source=str(root))
    per_file, alerts_all, series_all, windows_all = [], [], [], []
    fallback = 0
    for i, f in enumerate(files):
        s = load_nab_series(root, f)
        wins, n_rows = nab_windows(root, f)
        r = evaluate_series(detector, s, with_culprits=False)
        arr = r.pop("_arrays")
        alerts = arr["alerts"]
        row = {"file": s.name, "has_window": bool(s.labels.any()), "n_train": int(s.train.shape[0]),
               "n_test": int(s.test.shape[0]), "fixed_threshold_fallback": False}
        if adapt:
            try:
                spot = make_spot(arr["detector"], adapt, adapt_params)
            except InputError:  # too few distinct calibration peaks: keep the fixed alerts, say so
                spot = None
                row["fixed_threshold_fallback"] = True
                fallback += 1
            if spot is not None:
                alerts, _ = spot.run(arr["scores"])
                r.update(alert_metrics(s.labels, arr["scores"], alerts, interval_s=s.interval_s))
        row.update({k: r.get(k) for k in NAB_KEYS})
        if keep_arrays:
            row["_arrays"] = {"scores": arr["scores"], "alerts": alerts, "detector": arr["detector"]}
        per_file.append(row)
        alerts_all.append(alerts)
        series_all.append(s)
        windows_all.append((wins, n_rows))
        if progress:
            progress(i + 1, len(files), s.name)

    def means(rows, keys=NAB_KEYS) -> dict:
        out = {}
        for k in keys:
            pool = rows if k in ("false_alarms_per_day", "alert_rate") else [x for x in rows if x["has_window"]]
            v = [x[k] for x in pool if isinstance(x[k], (int, float)) and not np.isnan(x[k])]
            out[k] = float(np.mean(v)) if v else None
        return out

    mean = means(per_file)
    nab, raw_rows = nab_corpus(alerts_all, series_all, windows_all)
    onsets, raw_onsets = nab_corpus([alert_onsets(a) for a in alerts_all], series_all, windows_all)
    for row, r, o in zip(per_file, raw_rows, raw_onsets):
        row["nab_raw"] = {p: {"rows": r[p], "onsets": o[p]} for p in PROFILES}
    # chance floor at the same alerts: each file's own alerts shifted circularly (keeps their
    # count and runs), median over seeds of the metrics and NAB scores
    seed = getattr(detector, "random_state", None) or 0
    floor_keys = ("f1", "precision", "event_recall")

    def floor_of(shifted: list[np.ndarray]) -> dict:
        fm = means([{"has_window": x["has_window"], **point_metrics(s.labels, a),
                     **event_metrics(s.labels, a, interval_s=s.interval_s)}
                    for x, s, a in zip(per_file, series_all, shifted)], floor_keys)
        fm["nab"] = {p: v["score"] for p, v in nab_corpus(shifted, series_all, windows_all)[0].items()}
        fm["nab_onsets"] = {p: v["score"] for p, v in
                            nab_corpus([alert_onsets(a) for a in shifted], series_all, windows_all)[0].items()}
        return fm

    floor_runs = circular_shift_floor(alerts_all, floor_of, n_shifts=n_floor_seeds, seed=seed)
    floor: dict = {}
    if floor_runs:
        floor = {key: float(np.median([f[key] for f in floor_runs])) for key in floor_keys}
        for key in ("nab", "nab_onsets"):
            floor[key] = {p: float(np.median([f[key][p] for f in floor_runs])) for p in PROFILES}
    return {"detector": repr(detector), "random_state": getattr(detector, "random_state", None),
            "threshold": adapt or detector.threshold, "n_files": len(files),
            "n_files_with_windows": int(sum(x["has_window"] for x in per_file)),
            "n_fixed_threshold_fallback": fallback, "mean": mean, "nab": nab, "nab_onsets": onsets,
            "chance_shifted": {"n_seeds": n_floor_seeds, **floor},
            "protocol": "train = the first 15 % of each file (NAB's probationary period, not scored); threshold "
                        "from the training scores only (or SPOT/DSPOT from them, updated on unlabelled scores); "
                        "labels only for the metrics; NAB normalised: no alerts = 0, perfect = 100",
            "files": per_file}
