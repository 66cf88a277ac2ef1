"""Node telemetry in and out: the SMD/ASD layout, LDMS CSV, Prometheus text, long/wide frames.

Two shapes are used throughout hpcopt:

* **wide**: a 2-D float array (or DataFrame) with one row per time step and one column per
  metric; this is what detectors consume;
* **long**: a DataFrame with the columns ``timestamp, entity, metric, value``; this is what
  scrapers and samplers produce.

Readers never drop or invent data silently. A cell that is not a number, a ragged row, a
gap or a duplicated timestamp raises :class:`~hpcopt.errors.InputError` naming the file,
the line and the field, unless the caller asks for an explicit repair; every repair is
counted in a :class:`RepairLog` that the caller can report.

A telemetry value must be a finite number with magnitude below 2**64 (no counter or gauge
of a real node exceeds it, so a larger value is a damaged file), and anything else is
refused with one :class:`~hpcopt.errors.InputError` naming the file, the line and the
column; a timestamp (JSON lines, tables, LDMS ``Time``) must in addition be non-negative
(seconds since the epoch).

The package has one module per format (:mod:`~hpcopt.data.telemetry.matrix`,
:mod:`~hpcopt.data.telemetry.table` for CSV and Parquet, :mod:`~hpcopt.data.telemetry.ldms`,
:mod:`~hpcopt.data.telemetry.jsonl`, Prometheus in :mod:`hpcopt.data.prometheus`), the shared
rules in :mod:`~hpcopt.data.telemetry.base`, frames in :mod:`~hpcopt.data.telemetry.frames` and
:func:`read_telemetry` in :mod:`~hpcopt.data.telemetry.formats`; the labelled corpora live in
:mod:`hpcopt.data.corpora`. Every public name is importable from here.

The SMD/ASD layout (OmniAnomaly / InterFusion) is a folder with ``train/``, ``test/``,
``test_label/`` and ``interpretation_label/`` sub-folders holding ``<entity>.txt`` (or
``.txt.gz``) files: comma-separated values without a header, one row per time step; one
0/1 per test row; and one line ``start-end:d1,d2,...`` per anomaly segment, where
``start`` is the 0-based first anomalous row, ``end`` is exclusive and the metric numbers
``d`` are 1-based. Inside hpcopt metric indices are always 0-based.
"""

from __future__ import annotations

from hpcopt.data.telemetry.base import (RepairLog, VALUE_LIMIT, _cell_problem, _check_times, _data_lines,  # noqa: F401
                                        _fill_missing, _is_missing, _parse_cells, _resolve, label_segments)
from hpcopt.data.telemetry.matrix import read_matrix
from hpcopt.data.telemetry.frames import counters_to_rates, resample, to_long, to_wide
from hpcopt.data.telemetry.table import read_table, read_text_table
from hpcopt.data.telemetry.ldms import read_ldms_csv
from hpcopt.data.telemetry.jsonl import iter_jsonl_samples, parse_jsonl_line, read_jsonl
from hpcopt.data.telemetry.formats import FORMATS, ID_COLUMNS, TIME_COLUMNS, Telemetry, detect_format, read_telemetry
# Prometheus exposition lives in its own module (prometheus_client's parsers); the names stay importable here
from hpcopt.data.prometheus import parse_prometheus_text, write_prometheus_text

# the SMD-style labelled series are a corpus (hpcopt.data.corpora, which reads with this package):
# their names stay importable here, resolved on first use so that neither import runs the other's
_CORPUS_NAMES = ("ASD_INTERVAL_S", "SMD_INTERVAL_S", "LabelledSeries", "Segment", "list_entities",
                 "load_labelled_series", "read_interpretation", "read_labels")


def __getattr__(name: str):
    if name in _CORPUS_NAMES:
        from hpcopt.data.corpora import labelled

        return getattr(labelled, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RepairLog",
    "Segment",
    "LabelledSeries",
    "read_matrix",
    "read_labels",
    "read_interpretation",
    "label_segments",
    "list_entities",
    "load_labelled_series",
    "to_long",
    "to_wide",
    "counters_to_rates",
    "resample",
    "read_ldms_csv",
    "read_table",
    "read_text_table",
    "parse_prometheus_text",
    "write_prometheus_text",
    "iter_jsonl_samples",
    "parse_jsonl_line",
    "read_jsonl",
    "read_telemetry",
    "detect_format",
    "Telemetry",
    "FORMATS",
    "TIME_COLUMNS",
    "ID_COLUMNS",
    "VALUE_LIMIT",
    "SMD_INTERVAL_S",
    "ASD_INTERVAL_S",
]
