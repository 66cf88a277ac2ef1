"""Prometheus exposition in and out, through ``prometheus_client``'s parsers.

Two formats are read: the Prometheus text format (version 0.0.4; a timestamp is an
integer number of **milliseconds**) and OpenMetrics (ends with ``# EOF``; a timestamp is
a float number of **seconds**, samples may carry exemplars). ``format="auto"`` takes
OpenMetrics when the last non-blank line is ``# EOF``, the text format otherwise.

A parsed exposition is a long frame ``timestamp`` (seconds), ``entity`` (the
``entity_label`` label, default ``instance``), ``metric`` (the sample name plus its other
labels, sorted and escaped: ``node_cpu_seconds_total{cpu="0",mode="idle"}``), ``value``,
``type`` (the declared family type) and ``cumulative`` (the sample is a running total:
a counter's samples -- a ``_total`` sample in OpenMetrics, also of an untyped family --
and the ``_count``/``_sum``/``_bucket`` of histograms and summaries). Cumulative series
become per-second rates with :func:`~hpcopt.data.telemetry.counters_to_rates` (batch) or
:class:`ScrapeRates` (one scrape at a time, same arithmetic).

``prometheus_client`` is lax in places where the text format is not, so this module adds
the checks it lacks: one value and at most one integer timestamp per sample line, and no
series twice at one time. It also bounds the numbers: a value is any float64 (``NaN``,
``+Inf`` and ``-Inf`` spelled out) but a literal too large for a float64 (``1e400``, a
400-digit integer) is an error, as in Prometheus' own parser (Go's ``ParseFloat`` range
error); a timestamp must lie between the Unix epoch and the start of the year 3000
(:data:`MAX_TIMESTAMP_S` seconds, in the format's unit), since anything else is damage,
not a date. Every error names the line and the metric.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from hpcopt.errors import InputError

__all__ = [
    "parse_prometheus_text",
    "read_prometheus",
    "write_prometheus_text",
    "prometheus_to_wide",
    "metric_key",
    "missing_metrics_error",
    "ScrapeRates",
    "MAX_TIMESTAMP_S",
]

COLUMNS = ["timestamp", "entity", "metric", "value", "type", "cumulative"]
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_TYPE_LINE = re.compile(r"^#\s+TYPE\s+(\S+)\s+(\S+)")
_INT = re.compile(r"^[+-]?\d+$")
_INF = re.compile(r"^[+-]?inf(inity)?$", re.IGNORECASE)
#: the latest plausible timestamp: 3000-01-01T00:00:00Z, in seconds since the Unix epoch
MAX_TIMESTAMP_S = 32503680000
# sample-name suffixes that are running totals, per family type
_CUMULATIVE = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


def _is_openmetrics(lines: list[str]) -> bool:
    for line in reversed(lines):
        if line.strip():
            return line.strip() == "# EOF"
    return False


def _tail_fields(line: str) -> list[str] | None:
    """The fields after a sample's name and label set (value, timestamp, ...); None when
    the label set is not closed."""
    i, n = 0, len(line)
    while i < n and line[i] not in "{ \t":
        i += 1
    if i < n and line[i] == "{":
        quoted = False
        i += 1
        while i < n:
            c = line[i]
            if quoted and c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == "}" and not quoted:
                break
            i += 1
        if i >= n:
            return None
        i += 1
    return line[i:].split()


def _sample_name(line: str) -> str:
    return re.split(r"[{ \t]", line, maxsplit=1)[0][:80]


def _check_numbers(line: str, lineno: int, source: str, openmetrics: bool) -> None:
    """A value that fits a float64 and a timestamp in [epoch, year 3000], both formats.

    Tokens that are not numbers at all are left to the format checks (their messages
    say what a sample line is)."""
    fields = _tail_fields(line)
    if not fields:
        return
    if "#" in fields:  # an OpenMetrics exemplar follows
        fields = fields[: fields.index("#")]
    name = _sample_name(line)
    if fields:
        tok = fields[0]
        try:
            v = float(tok)
        except ValueError:
            v = None
        if v is not None and math.isinf(v) and not _INF.match(tok):
            raise InputError(f"{name}: value {tok[:40]!r}{'...' if len(tok) > 40 else ''} does not fit a float64",
                             source=source, line=lineno, field="value",
                             hint="a value is a float64 (at most about 1.8e308), NaN, +Inf or -Inf")
    if len(fields) < 2:
        return
    tok = fields[1]
    unit, scale = ("seconds", 1) if openmetrics else ("milliseconds", 1000)
    try:
        t = float(tok) if openmetrics else int(tok)  # int(): exact for integer milliseconds
    except ValueError:
        return  # not a number: the format checks say so
    if not 0 <= t <= MAX_TIMESTAMP_S * scale:  # also refuses NaN
        raise InputError(f"{name}: timestamp {tok[:40]!r}{'...' if len(tok) > 40 else ''} is outside the plausible "
                         f"range 0 .. {MAX_TIMESTAMP_S * scale} {unit} (1970 to the year 3000)", source=source,
                         line=lineno, field="timestamp",
                         hint=f"the {'OpenMetrics' if openmetrics else 'text'} format's timestamps are {unit} since "
                              "the Unix epoch")


def _check_text_sample(line: str, lineno: int, source: str) -> None:
    """What the text format requires and ``prometheus_client`` lets through."""
    fields = _tail_fields(line)
    if fields is None:
        raise InputError("the label set is not closed (a '}' outside quotes)", source=source, line=lineno,
                         hint='labels are written {name="value",...} with \\" and \\\\ escaped inside values')
    if not fields:
        raise InputError("sample without a value", source=source, line=lineno, field="value",
                         hint="a sample line is: name{labels} value [timestamp_ms]")
    if len(fields) > 2:
        raise InputError(f"{len(fields)} fields after the sample name (value [timestamp] expected): "
                         f"{' '.join(fields)[:60]!r}", source=source, line=lineno,
                         hint="exemplars ('# {...}') exist in OpenMetrics only: end an OpenMetrics exposition "
                              "with '# EOF'")
    try:
        float(fields[0])
    except ValueError:
        raise InputError(f"{fields[0][:40]!r} is not a number", source=source, line=lineno, field="value",
                         hint="a value is a float, NaN, +Inf or -Inf") from None
    if len(fields) == 2 and not _INT.match(fields[1]):
        raise InputError(f"timestamp {fields[1]!r} is not an integer number of milliseconds", source=source,
                         line=lineno, field="timestamp",
                         hint="the text format's timestamps are integer milliseconds; OpenMetrics' are float "
                              "seconds (an OpenMetrics exposition ends with '# EOF')")


def _base_name(name: str, typ: str) -> str:
    for suffix in _CUMULATIVE.get(typ, ()):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _declared_type(name: str, declared: dict[str, str]) -> str | None:
    if name in declared:
        return declared[name]
    for suffix in ("_total", "_count", "_sum", "_bucket"):
        if name.endswith(suffix) and declared.get(name[: -len(suffix)]) in ("counter", "histogram", "summary"):
            return declared[name[: -len(suffix)]]
    return None


class _Counted:
    """Iterate lines and remember the number of the current one (for error messages)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.n = 0

    def __iter__(self) -> Iterator[str]:
        for self.n, line in enumerate(self.lines, start=1):
            yield line + "\n"


def _label_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def parse_prometheus_text(text: str | Iterable[str], *, source: str = "exposition", entity_label: str = "instance",
                          default_timestamp: float | None = None, format: str = "auto") -> pd.DataFrame:
    """Parse one exposition (text format or OpenMetrics) into a long frame (see the module doc).

    ``default_timestamp`` (seconds) stands for samples without one. ``format`` is
    ``"auto"``, ``"text"`` or ``"openmetrics"``. Anything the format forbids raises
    :class:`InputError` with the line number.
    """
    if format not in ("auto", "text", "openmetrics"):
        raise InputError(f"format must be 'auto', 'text' or 'openmetrics'; got {format!r} instead")
    # lines end at '\n' only: str.splitlines() would also split inside a label value at \x1c-\x1e, \x85, \u2028
    if isinstance(text, str):
        lines = [x.rstrip("\r") for x in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
    else:
        lines = [str(x).rstrip("\r\n") for x in text]
    openmetrics = format == "openmetrics" or (format == "auto" and _is_openmetrics(lines))
    declared: dict[str, str] = {}
    for lineno, line in enumerate(lines, start=1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            m = _TYPE_LINE.match(s)
            if m:
                declared.setdefault(m.group(1), m.group(2))
        else:
            if not openmetrics:
                _check_text_sample(s, lineno, source)
            _check_numbers(s, lineno, source, openmetrics)
    if openmetrics:
        from prometheus_client.openmetrics.parser import text_fd_to_metric_families
    else:
        from prometheus_client.parser import text_fd_to_metric_families
    counted = _Counted(lines)
    rows = []
    seen: dict[tuple, int] = {}
    try:
        for fam in text_fd_to_metric_families(counted):
            typ = fam.type
            # the text parser renames a counter declared without '_total' to name_total; undo it
            strip_total = (not openmetrics and typ == "counter" and fam.name in declared
                           and fam.name + "_total" not in declared)
            for smp in fam.samples:
                name = smp.name[:-6] if strip_total and smp.name.endswith("_total") else smp.name
                styp, base = typ, fam.name
                if typ in ("untyped", "unknown") and not openmetrics and _declared_type(name, declared):
                    # a family's samples apart from its TYPE line (another family in between): prometheus_client
                    # makes them untyped, Prometheus' own parser keeps the declared type
                    styp = _declared_type(name, declared)
                    base = _base_name(name, styp)
                if smp.value is None or getattr(smp, "native_histogram", None) is not None:
                    raise InputError(f"{name}: native histograms are not supported", source=source,
                                     line=counted.n)
                cumulative = ((styp == "counter" and not openmetrics)
                              or any(smp.name == base + x for x in _CUMULATIVE.get(styp, ())))
                if openmetrics and styp == "unknown" and smp.name.endswith("_total"):
                    cumulative = True
                labels = dict(smp.labels)
                entity = labels.pop(entity_label, "")
                key = _label_key(name, labels)
                ts = float(smp.timestamp) if smp.timestamp is not None else default_timestamp
                ident = (ts, entity, key)
                if ident in seen:
                    raise InputError(f"series {key} (entity {entity!r}) appears twice at one time", source=source,
                                     line=counted.n, hint="one exposition holds each series once")
                seen[ident] = counted.n
                rows.append((ts, entity, key, float(smp.value), styp, cumulative))
    except InputError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        detail = str(exc).split(": ", 1)[0] if str(exc) else "not valid"
        line = counted.n if counted.n else None
        what = "OpenMetrics" if openmetrics else "Prometheus text format"
        shown = lines[counted.n - 1][:80] if counted.n and counted.n <= len(lines) else ""
        hint = ("see the OpenMetrics specification (a blank line, metadata after samples, a negative counter "
                "and a missing '# EOF' are errors)" if openmetrics else
                "a sample line is: name{labels} value [timestamp_ms]; an exposition ending in '# EOF' is read "
                "as OpenMetrics")
        raise InputError(f"not valid {what} ({detail}): {shown!r}", source=source, line=line, hint=hint) from None
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["timestamp"] = df["timestamp"].astype(np.float64)
    df["cumulative"] = df["cumulative"].astype(bool)
    return df


def read_prometheus(path: str | Path, **kwargs) -> pd.DataFrame:
    """:func:`parse_prometheus_text` of a file (gzip, bounds and encoding as :func:`hpcopt.core.files.read_text`)."""
    from hpcopt.core.files import read_text

    kwargs.setdefault("source", str(path))
    return parse_prometheus_text(read_text(path), **kwargs)


def metric_key(name: str) -> str:
    """A metric name as the long frame spells it: labels sorted and escaped
    (``a{y="1",x="2"}`` -> ``a{x="2",y="1"}``); a name that does not parse is kept as given."""
    if "{" not in name:
        return name.strip()
    from prometheus_client.parser import text_string_to_metric_families

    try:
        smp = list(text_string_to_metric_families(name.strip() + " 0\n"))[0].samples[0]
    except (ValueError, IndexError, TypeError, KeyError):
        return name.strip()
    return _label_key(smp.name, dict(smp.labels))


def missing_metrics_error(missing: list[str], available: Iterable[str], *, source: str,
                          line: int | None = None) -> InputError:
    """An :class:`InputError` naming the metrics not found, the closest names and what the input has."""
    have = sorted(set(available))
    parts = []
    for name in missing[:3]:
        close = difflib.get_close_matches(name, have, n=1, cutoff=0.6)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    shown = ", ".join(have[:20]) + (f", ... ({len(have)} in all)" if len(have) > 20 else "")
    return InputError(f"metrics not found: {', '.join(parts)}{more}; it has: {shown or 'no samples'}",
                      source=source, line=line,
                      hint="name each metric as the exposition spells it: the name, then its labels sorted, "
                           "without the entity label, e.g. node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}")


def prometheus_to_wide(long: pd.DataFrame, *, metrics: list[str] | None = None, rates: bool = True,
                       source: str = "exposition", repairs=None) -> dict[str, pd.DataFrame]:
    """One wide frame per entity (index: seconds); cumulative series as per-second rates.

    ``metrics`` selects and orders the columns (a name not present is an error that lists
    the names present). With ``rates``, the cumulative columns go through
    :func:`~hpcopt.data.telemetry.counters_to_rates` (the first row is then dropped and
    every counter reset counted in ``repairs``).
    """
    from hpcopt.data.telemetry import counters_to_rates, to_wide

    if long["timestamp"].isna().any():
        raise InputError("samples without a timestamp cannot be put on a time axis", source=source,
                         hint="give default_timestamp when parsing an exposition without timestamps")
    if metrics is not None:
        metrics = [metric_key(m) for m in metrics]
        missing = [m for m in metrics if m not in set(long["metric"])]
        if missing:
            raise missing_metrics_error(missing, long["metric"], source=source)
        long = long[long["metric"].isin(metrics)]
    cumulative = set(long.loc[long["cumulative"], "metric"])
    out = {}
    for ent, w in to_wide(long[["timestamp", "entity", "metric", "value"]], repairs=repairs, source=source).items():
        if metrics is not None:
            w = w[metrics]
        if rates:
            cols = [c for c in w.columns if c in cumulative]
            if cols:
                w = counters_to_rates(w, cols, repairs=repairs)
        out[ent] = w
    return out


class ScrapeRates:
    """Rows of chosen metrics from one scrape at a time; cumulative series as per-second rates.

    The arithmetic is :func:`~hpcopt.data.telemetry.counters_to_rates`' between consecutive
    scrapes of one entity: ``(v - v_prev) / (t - t_prev)``, and a counter that went down
    (a reset) counts from zero (``v / dt``), each reset counted in :attr:`resets`. An
    entity's first scrape gives no rate (``warmup``). A scrape without timestamps takes
    ``scrape_number * interval`` seconds when ``interval`` is given.
    """

    def __init__(self, metric_names: list[str], *, interval: float | None = None) -> None:
        self.metric_names = [metric_key(m) for m in metric_names]  # label order as the user wrote it is fine
        self.interval = interval
        self._last: dict[str, dict[str, tuple[float, float]]] = {}  # entity -> metric -> (t, v)
        self.resets = 0

    def row(self, frame: pd.DataFrame, entity: str, *, number: int, source: str = "scrape"
            ) -> tuple[float | None, np.ndarray, list[str], bool]:
        """``(timestamp, row, problems, warmup)`` of ``entity`` in one parsed scrape.

        ``row`` holds NaN where a value is missing or has no rate; ``problems`` says why;
        ``warmup`` is True on the entity's first scrape that has cumulative series.
        """
        mine = frame[frame["entity"] == entity]
        by = {m: (t, v, c) for t, m, v, c in zip(mine["timestamp"], mine["metric"], mine["value"],
                                                  mine["cumulative"])}
        t_all = mine["timestamp"].dropna()
        t_scrape = float(t_all.max()) if len(t_all) else (number * self.interval if self.interval else None)
        missing = [m for m in self.metric_names if m not in by]
        problems = [missing_metrics_error(missing, by, source=source).reason] if missing else []
        first = entity not in self._last
        last = self._last.setdefault(entity, {})
        out = np.full(len(self.metric_names), np.nan)
        warmup = False
        for j, m in enumerate(self.metric_names):
            if m not in by:
                continue
            t, v, cumulative = by[m]
            if not cumulative:
                out[j] = v
                continue
            t = t_scrape if t is None or math.isnan(t) else float(t)
            if t is None:
                problems.append(f"counter {m} has no timestamp, so no rate (pass the scrape interval)")
                continue
            if not math.isfinite(v):
                problems.append(f"counter {m} is {v}")
                continue
            prev = last.get(m)
            if prev is None:
                last[m] = (t, v)
                if first:
                    warmup = True
                else:
                    problems.append(f"counter {m} first seen: no rate yet")
                continue
            dt = t - prev[0]
            if dt <= 0:
                problems.append(f"counter {m}: time does not increase ({prev[0]} then {t})")
                continue
            d = v - prev[1]
            if d < 0:  # reset or wrap: count from zero, like counters_to_rates and Prometheus' rate()
                d = v
                self.resets += 1
            out[j] = d / dt
            last[m] = (t, v)
        return t_scrape, out, problems, warmup


def write_prometheus_text(metrics: dict[str, tuple]) -> str:
    """Render metrics in the text exposition format (version 0.0.4).

    ``metrics`` maps a name to ``(help, [(labels, value), ...])`` (a gauge) or
    ``(help, samples, type)`` with type ``"gauge"`` or ``"counter"``. A counter's name
    ends in ``_total`` and only a counter's does, so every reader types it alike.
    """
    out = []
    for name, spec in metrics.items():
        help_text, samples = spec[0], spec[1]
        typ = spec[2] if len(spec) > 2 else "gauge"
        if not _NAME.match(name):
            raise InputError(f"{name!r} is not a valid Prometheus metric name")
        if typ not in ("gauge", "counter"):
            raise InputError(f"{name}: type must be 'gauge' or 'counter'; got {typ!r}")
        if (typ == "counter") != name.endswith("_total"):
            raise InputError(f"{name}: a counter's name ends in '_total', and only a counter's")
        out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
        out.append(f"# TYPE {name} {typ}")
        for labels, value in samples:
            for k in labels:
                if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", k) or k.startswith("__"):
                    raise InputError(f"{name}: {k!r} is not a valid label name")
            lab = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            v = float(value)
            vs = "NaN" if math.isnan(v) else ("+Inf" if v == math.inf else ("-Inf" if v == -math.inf else repr(v)))
            out.append(f"{name}{{{lab}}} {vs}" if lab else f"{name} {vs}")
    return "\n".join(out) + "\n"


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
