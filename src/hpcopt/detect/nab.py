"""The Numenta Anomaly Benchmark (NAB) layout as labelled series, for hpcopt's honest metrics.

NAB (Lavin and Ahmad, ICMLA 2015; numenta/NAB) gives univariate series ``timestamp,value``
and, per file, anomaly *windows* (``labels/combined_windows.json``). Its detectors run
online, and the first 15 % of each file is a *probationary period* in which they learn and
are not scored. :func:`load_nab_series` follows that: the probationary period is the
training part, the rest is the test part, and a test row is labelled 1 inside a window.

NAB's own score (early detection inside a window rewarded by a sigmoid, false positives
weighed by an application profile) is in :mod:`hpcopt.detect.nab_score`; :func:`nab_windows`
gives it each window's rows in the file, read from the label file (so adjacent windows stay
separate, which they would not if read back from the 0/1 labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.data.telemetry import LabelledSeries, RepairLog, _cell_problem, _parse_cells, read_text_table
from hpcopt.errors import InputError

__all__ = ["load_nab_series", "list_nab_files", "nab_windows", "nab_corpus", "evaluate_nab", "NAB_KEYS",
           "PROBATION"]

#: NAB's probationary share of each file (learning only, not scored)
PROBATION = 0.15


def list_nab_files(root: str | Path) -> list[str]:
    """Relative paths (``realAWSCloudwatch/x.csv``) of the data files under ``root/data``
    (``.csv`` or ``.csv.gz``); files without a window in ``labels.csv.gz`` are normal-only."""
    data = Path(root) / "data"
    if not data.is_dir():
        raise InputError("no data/ folder", source=str(root))
    out = {str(p.relative_to(data)).removesuffix(".gz") for p in data.rglob("*.csv*")}
    return sorted(out)


def _times(cells: list[str], source: str, lines: list[int], column: str, allow_empty: bool = False) -> pd.Series:
    """NAB time stamps (``2014-02-14 14:30:00``, optional fraction) as Timestamps; a cell that
    is not one raises :class:`InputError` naming the line."""
    ts = pd.to_datetime(pd.Series(cells, dtype=object), errors="coerce", format="ISO8601")
    bad = ts.isna().to_numpy() & ~(allow_empty & (pd.Series(cells).str.strip() == "").to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{cells[i][:40]!r} is not a date-time (YYYY-MM-DD hh:mm:ss)", source=source, line=lines[i],
                         field=f"column {column!r}")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(None)
    return ts


def _labels(root: str | Path) -> pd.DataFrame:
    """``labels.csv.gz``: ``file, kind, start, end`` per row; a window needs ``start <= end``."""
    p = Path(root) / "labels.csv.gz"
    if not p.exists():
        raise InputError("labels.csv.gz not found", source=str(root), hint="--data is a NAB folder")
    source = str(p)
    names, rows, lines = read_text_table(p)
    missing = [c for c in ("file", "kind", "start", "end") if c not in names]
    if missing:
        raise InputError(f"no column(s) {', '.join(missing)}", source=source, line=1, field="header")
    df = pd.DataFrame(rows, columns=names)
    win = (df["kind"] == "window").to_numpy()
    for c in ("start", "end"):
        ts = _times(df[c].tolist(), source, lines, c, allow_empty=True)
        ts[~win] = pd.NaT
        if pd.isna(ts[win]).any():
            i = int(np.flatnonzero(win & pd.isna(ts).to_numpy())[0])
            raise InputError("a window needs its start and end", source=source, line=lines[i], field=f"column {c!r}")
        df[c] = ts
    back = win & (df["end"] < df["start"]).to_numpy()
    if back.any():
        i = int(np.flatnonzero(back)[0])
        raise InputError("the window ends before it starts", source=source, line=lines[i], field="column 'end'")
    return df


def _read(root: Path, file: str) -> tuple[str, pd.DataFrame, pd.Series, pd.Series]:
    """The data file (``.csv.gz`` or ``.csv``): its label name, rows, timestamps and values."""
    file = str(file).removesuffix(".gz")  # labels name the plain .csv
    path = root / "data" / (file + ".gz")
    if not path.exists():
        path = root / "data" / file
    if not path.exists():
        raise InputError("NAB data file not found", source=str(path))
    source = str(path)
    names, rows, lines = read_text_table(path)
    if names[:2] != ["timestamp", "value"]:
        raise InputError(f"expected columns timestamp,value; got {','.join(names)[:80]}", source=source, line=1,
                         field="header")
    if not rows:
        raise InputError("no data row", source=source)
    ts = _times([r[0] for r in rows], source, lines, "timestamp")
    cells = [r[1] for r in rows]
    v, miss, bad = _parse_cells(cells)
    if bad >= 0 or miss.any():
        i = bad if bad >= 0 else int(np.flatnonzero(miss)[0])
        raise InputError(_cell_problem(cells[i]) if bad >= 0 else "empty or NaN value", source=source, line=lines[i],
                         field="column 'value'")
    df = pd.DataFrame({"timestamp": ts, "value": v})
    return file, df, ts, pd.Series(v)


def nab_windows(root: str | Path, file: str) -> tuple[list[tuple[int, int]], int]:
    """Each anomaly window of ``file`` as ``(first_row, last_row)`` (0-based rows of the whole
    file, both inclusive, in time order) from ``labels.csv.gz`` (kind=window), and the file's
    row count -- the inputs of :func:`hpcopt.detect.nab_score.nab_score_file`.

    A window covers the rows whose timestamp lies in ``[start, end]``; it must cover at least one
    row and be one block of consecutive rows.
    """
    root = Path(root)
    file, df, ts, _ = _read(root, file)
    lab = _labels(root)
    win = lab[(lab["file"] == file) & (lab["kind"] == "window")]
    out = []
    for r in win.itertuples():
        rows = np.flatnonzero(((ts >= r.start) & (ts <= r.end)).to_numpy())
        if not len(rows):
            raise InputError(f"window {r.start}..{r.end} covers no row of the file", source=f"{root}/labels.csv.gz",
                             hint="check that the label file matches this data file")
        if rows[-1] - rows[0] + 1 != len(rows):
            raise InputError(f"window {r.start}..{r.end} is not one block of consecutive rows (timestamps step back "
                             "inside it)", source=f"{root}/labels.csv.gz")
        out.append((int(rows[0]), int(rows[-1])))
    return sorted(out), len(df)


def load_nab_series(root: str | Path, file: str, *, probation: float = PROBATION) -> LabelledSeries:
    """One NAB file as a :class:`LabelledSeries` (train = probationary period, labels from windows)."""
    if not 0.0 < probation < 1.0:
        raise InputError(f"probation must be in (0, 1); got {probation!r}")
    root = Path(root)
    file, df, ts, vals = _read(root, file)
    # NAB scores rows in file order; a few of its files repeat or step back in time (e.g. a
    # clock change). Rows are kept in file order, as NAB keeps them, and the count is reported.
    steps = np.diff(ts.to_numpy()).astype("timedelta64[ns]").astype(np.int64)
    repairs = RepairLog()
    repairs.add("rows whose timestamp does not increase (kept in file order, as NAB scores them)",
                int((steps <= 0).sum()))
    lab = _labels(root)
    win = lab[(lab["file"] == file) & (lab["kind"] == "window")]
    y = np.zeros(len(df), dtype=np.int8)
    n_train = int(round(probation * len(df)))
    lost = []
    for r in win.itertuples():
        inside = ((ts >= r.start) & (ts <= r.end)).to_numpy()
        y[inside] = 1
        if inside.any() and not inside[n_train:].any():
            lost.append(f"{r.start}..{r.end}")
    # A window wholly inside the probationary period is not scored (as in NAB): counted, not hidden.
    repairs.add("anomaly windows wholly in the probationary (training) part, not scored", len(lost))
    X = vals.to_numpy(dtype=np.float64).reshape(-1, 1)
    step = float(np.median(np.diff(ts.to_numpy()).astype("timedelta64[s]").astype(np.float64)))
    return LabelledSeries(file, X[:n_train], X[n_train:], y[n_train:], None, step, ["value"], repairs)


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
