"""Labelled series in the SMD/ASD layout (OmniAnomaly / InterFusion).

A folder with ``train/``, ``test/``, ``test_label/`` and ``interpretation_label/`` sub-folders
holding ``<entity>.txt`` (or ``.txt.gz``) files: comma-separated values without a header, one
row per time step; one 0/1 per test row; and one line ``start-end:d1,d2,...`` per anomaly
segment, where ``start`` is the 0-based first anomalous row, ``end`` is exclusive and the
metric numbers ``d`` are 1-based. Inside hpcopt metric indices are always 0-based.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpcopt.core.files import read_text
from hpcopt.errors import InputError
from hpcopt.data.telemetry.base import RepairLog, _NUMBER, _data_lines, _resolve
from hpcopt.data.telemetry.matrix import read_matrix

__all__ = ['ASD_INTERVAL_S', 'LabelledSeries', 'SMD_INTERVAL_S', 'Segment', 'list_entities', 'load_labelled_series', 'read_interpretation', 'read_labels']

SMD_INTERVAL_S = 60.0
ASD_INTERVAL_S = 300.0

@dataclass(frozen=True)
class Segment:
    """One labelled anomaly: rows ``[start, end)`` and the culprit metrics (0-based)."""

    start: int
    end: int
    metrics: tuple[int, ...] = ()

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class LabelledSeries:
    """One entity of a labelled data set in the SMD/ASD layout."""

    name: str
    train: np.ndarray
    test: np.ndarray
    labels: np.ndarray | None = None
    interpretation: list[Segment] | None = None
    interval_s: float = SMD_INTERVAL_S
    metric_names: list[str] | None = None
    repairs: RepairLog = field(default_factory=RepairLog)

    @property
    def n_metrics(self) -> int:
        return int(self.train.shape[1])

def read_labels(path: str | Path, *, n_rows: int | None = None) -> np.ndarray:
    """Read one 0/1 label per line; the length must equal ``n_rows`` when given.

    A label is ``0`` or ``1`` (``0.0``/``1.0`` are accepted); an empty line, any other value
    or a count other than ``n_rows`` raises :class:`InputError`.
    """
    p = _resolve(path)
    source = str(p)
    lines = _data_lines(read_text(p))
    out = np.empty(len(lines), dtype=np.int8)
    for i, line in enumerate(lines):
        s = line.strip(" \t")
        if s in ("0", "1"):
            out[i] = int(s)
            continue
        if s == "":
            raise InputError("empty line; expected a 0/1 label", source=source, line=i + 1,
                             hint="one 0/1 line per test row, no empty lines")
        if _NUMBER.fullmatch(s) and float(s) in (0.0, 1.0):
            out[i] = int(float(s))
            continue
        raise InputError(f"label {s[:40]!r} is not 0 or 1", source=source, line=i + 1)
    if n_rows is not None and out.size != n_rows:
        raise InputError(f"{out.size} labels for {n_rows} test rows", source=source,
                         hint="the label file must have exactly one 0/1 line per test row")
    return out


_INTERP = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*:\s*([\d,\s]*)$", re.ASCII)


def read_interpretation(path: str | Path, *, n_rows: int | None = None, n_metrics: int | None = None) -> list[Segment]:
    """Read ``start-end:d1,d2,...`` lines (0-based start, exclusive end, 1-based metrics).

    Blank lines are allowed; a line of another shape, a segment that ends before it starts
    or past ``n_rows``, an empty metric number (``1,,3``, a trailing comma, no metric) and a
    metric number outside ``1..n_metrics`` raise
    :class:`InputError` naming the line.
    """
    p = _resolve(path)
    source = str(p)
    segs: list[Segment] = []
    for lineno, line in enumerate(_data_lines(read_text(p)), start=1):
        if not line.strip():
            continue
        m = _INTERP.match(line.strip())
        if not m:
            raise InputError(f"{line.strip()[:60]!r} is not 'start-end:d1,d2,...'", source=source, line=lineno)
        start, end = int(m.group(1)), int(m.group(2))
        if end <= start:
            raise InputError(f"segment end {end} is not after start {start}", source=source, line=lineno,
                             field="segment")
        if n_rows is not None and end > n_rows:
            raise InputError(f"segment end {end} is past the {n_rows} test rows", source=source, line=lineno,
                             field="segment")
        metrics = []
        for d in m.group(3).split(","):
            d = d.strip()
            if not d:  # '1,,3', a trailing comma or no metric at all: a number was lost
                raise InputError(f"empty metric number in {m.group(3).strip()[:60]!r}", source=source, line=lineno,
                                 field="metrics", hint="list the segment's culprit metrics as 1-based numbers "
                                                       "separated by single commas")
            if not (d.isascii() and d.isdigit()):
                raise InputError(f"metric number {d[:20]!r} is not an integer", source=source, line=lineno,
                                 field="metrics")
            k = int(d)
            if k < 1 or (n_metrics is not None and k > n_metrics):
                top = f"1..{n_metrics}" if n_metrics is not None else "1 or more"
                raise InputError(f"metric number {k} outside {top}", source=source, line=lineno, field="metrics",
                                 hint="metric numbers in interpretation labels are 1-based")
            metrics.append(k - 1)
        segs.append(Segment(start, end, tuple(sorted(set(metrics)))))
    return segs



def list_entities(root: str | Path) -> list[str]:
    """Entities of an SMD/ASD-layout folder (names of the files in ``test/``)."""
    d = Path(root) / "test"
    if not d.is_dir():
        raise InputError("no test/ folder", source=str(root), hint="expected the SMD/ASD layout train/ test/ test_label/")
    names = sorted({f.name.removesuffix(".gz").removesuffix(".txt") for f in d.iterdir() if ".txt" in f.name})
    return names


def load_labelled_series(
    root: str | Path,
    entity: str,
    *,
    interval_s: float | None = None,
    missing: str = "error",
) -> LabelledSeries:
    """Load one entity of an SMD/ASD-layout folder, validating shapes and labels.

    ``interval_s`` (seconds per row, for false alarms per day) defaults to 300 for ASD
    entities (named ``omi-*``) and 60 otherwise (SMD).
    """
    root = Path(root)
    repairs = RepairLog()
    train = read_matrix(root / "train" / f"{entity}.txt", missing=missing, repairs=repairs)
    test = read_matrix(root / "test" / f"{entity}.txt", n_columns=train.shape[1], missing=missing, repairs=repairs)
    lab_p = _resolve(root / "test_label" / f"{entity}.txt")
    labels = read_labels(lab_p, n_rows=test.shape[0]) if lab_p.exists() else None
    int_p = _resolve(root / "interpretation_label" / f"{entity}.txt")
    interp = (read_interpretation(int_p, n_rows=test.shape[0], n_metrics=train.shape[1])
              if int_p.exists() else None)
    if interval_s is None:
        interval_s = ASD_INTERVAL_S if entity.startswith("omi-") else SMD_INTERVAL_S
    return LabelledSeries(entity, train, test, labels, interp, float(interval_s), None, repairs)


# --------------------------------------------------------------------------- long / wide
