"""Standard Workload Format (SWF) reader and writer.

SWF (Feitelson et al., Parallel Workloads Archive): one job per line, 18 whitespace-
separated numeric fields, -1 for unknown; header comments ``; Key: value``. Alea's
extended variant adds three text columns (allocated node list, queue name, resource
request); they are kept as ``alloc_nodes``, ``queue_name`` and ``resource_spec``.

What a field may hold is :data:`hpcopt.data.workload.FIELD_RULES`: finite numbers, -1 or
>= 0 (the run time may be negative: cleaning drops those, counted), integers for counts
and identifiers, integers below 2**53, times within 100 years. Lines end with ``\\n`` (or
``\\r\\n``); fields are separated by runs of spaces, tabs, ``\\r``, ``\\v`` or ``\\f`` (a
lone ``\\r`` is not a line break).

The reader is columnar: the body is cut into blocks of whole lines; in each block the
whitespace runs are collapsed (bytes methods) and pyarrow's CSV reader parses the numbers.
When a block does not parse or holds a forbidden value, the block is read again line by
line (:func:`_reference_lines`, the definition of the format), which raises the error of
its first bad line and field, so an error costs at most one block of Python work.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.core.files import decode_text, max_line_bytes, read_bytes
from hpcopt.data.workload import (
    COLUMNS,
    INT_COLUMNS,
    MAX_INTEGER,
    Workload,
    field_label,
    field_problem,
    field_violations,
)
from hpcopt.errors import InputError

ALEA_EXTRA_COLUMNS = ("alloc_nodes", "queue_name", "resource_spec")
# Header keys the workload reads as numbers (Workload.max_procs and friends).
NUMERIC_HEADER_KEYS = ("MaxProcs", "MaxNodes", "UnixStartTime")

_NUMERIC_KEYS = {k.lower() for k in NUMERIC_HEADER_KEYS}  # Workload matches them in any case
_BLOCK_BYTES = 4 << 20
_WS = " \t\r\x0b\x0c"
_SPLIT = re.compile(f"[{_WS}]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_TO_SPACE = bytes.maketrans(_WS[1:].encode(), b" " * (len(_WS) - 1))


def _parse_header(line: str, header: dict[str, str]) -> None:
    body = line.lstrip(";").strip()
    if ":" in body:
        key, _, value = body.partition(":")
        key = key.strip()
        if key and " " not in key:
            # Repeated keys (e.g. several Note lines) are joined.
            header[key] = f"{header[key]}\n{value.strip()}" if key in header else value.strip()


def _number(token: str, source: str, lineno: int, index: int) -> float:
    if _NUMBER.fullmatch(token):
        value = float(token)
    else:
        try:
            value = float(token)  # 'nan', 'inf': numbers, but not finite ones
        except ValueError:
            value = None
        if value is None or value == value and abs(value) != float("inf"):
            raise InputError(f"{token!r} is not a number", source=source, line=lineno, field=field_label(index))
    problem = field_problem(index, value, token)
    if problem:
        raise InputError(problem, source=source, line=lineno, field=field_label(index))
    return value


class _Rows:
    """Job rows of the whole body in the frame's dtypes, filled block by block in file order."""

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.columns = {
            name: np.empty(capacity, dtype=np.int64 if name in INT_COLUMNS else np.float64) for name in COLUMNS
        }
        self.extras: list[tuple[int, list[np.ndarray]]] = []  # (first row, 3 object arrays)

    def add(self, values: np.ndarray, extras: list[np.ndarray] | None) -> None:
        """``values``: (18, m) float64, already checked (integers are exact)."""
        m = values.shape[1]
        for i, name in enumerate(COLUMNS):
            self.columns[name][self.n : self.n + m] = values[i]
        if extras is not None:
            self.extras.append((self.n, extras))
        self.n += m

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({name: col[: self.n] for name, col in self.columns.items()}, copy=False)
        if self.extras:
            for j, name in enumerate(ALEA_EXTRA_COLUMNS):
                col = np.full(self.n, "", dtype=object)
                for first, arrs in self.extras:
                    col[first : first + len(arrs[j])] = arrs[j]
                frame[name] = col
        return frame


def _reference_lines(
    text: str, first_line: int, source: str, headers: list[tuple[int, str]], rows: _Rows
) -> None:
    """Read lines one by one: the definition of the format, and the precise error locator.

    Header lines go to ``headers`` as (line number, text); job rows to ``rows``."""
    values: list[list[float]] = []
    extras: list[list[str]] = []
    for lineno, line in enumerate(text.split("\n"), start=first_line):
        stripped = line.strip(_WS)
        if not stripped:
            continue
        if stripped[0] == ";":
            headers.append((lineno, stripped))
            continue
        tokens = _SPLIT.split(stripped)
        n = len(tokens)
        if n not in (18, 21):
            raise InputError(
                f"has {n} fields; an SWF job line has 18 (or 21 in Alea's extended variant)",
                source=source,
                line=lineno,
                hint="is the file truncated, or not SWF?",
            )
        values.append([_number(tok, source, lineno, i) for i, tok in enumerate(tokens[:18])])
        extras.append(tokens[18:] if n == 21 else ["", "", ""])
    if not values:
        return
    block = np.array(values, dtype=np.float64).T
    extra = None
    if any(e[0] for e in extras):
        arr = np.array(extras, dtype=object)
        extra = [arr[:, j].copy() for j in range(3)]
    rows.add(block, extra)


def _collapse(block: bytes) -> bytes:
    """``block`` with each whitespace run between two fields as one space, the others removed
    (bytes methods run at memory speed; a run of n spaces takes log2(n) passes)."""
    s = block.translate(_TO_SPACE)
    while b"  " in s:
        s = s.replace(b"  ", b" ")
    s = s.replace(b"\n ", b"\n").replace(b" \n", b"\n")
    if s[:1] == b" ":
        s = s[1:]
    if s[-1:] == b" ":
        s = s[:-1]
    return s


def _fast_block(
    data: bytes, start: int, end: int, first_line: int, headers: list[tuple[int, str]]
) -> tuple[np.ndarray, list | None] | None:
    """Parse lines ``data[start:end]`` (whole lines) columnar; None when the block needs the
    line-by-line reading (it does not parse, a line has 19 fields, a ';' inside a job line,
    a forbidden value, ...). Header lines go to ``headers`` as (line number, text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    pieces = []  # the block without its header lines (their line breaks stay)
    found: list[tuple[int, str]] = []
    kept_from, counted_to, lineno = start, start, first_line
    pos = data.find(b";", start, end)
    while pos >= 0:
        line_start = max(data.rfind(b"\n", start, pos) + 1, start)
        if data[line_start:pos].strip(_WS.encode()):
            return None  # ';' inside a job line (or inside an Alea text field)
        line_end = data.find(b"\n", pos, end)
        line_end = end if line_end < 0 else line_end
        lineno += data.count(b"\n", counted_to, line_start)
        counted_to = line_start
        found.append((lineno, data[line_start:line_end].decode("utf-8").strip(_WS)))
        pieces.append(data[kept_from:line_start])
        kept_from = line_end
        pos = data.find(b";", line_end, end)
    pieces.append(data[kept_from:end])
    body = _collapse(pieces[0] if len(pieces) == 1 else b"".join(pieces))
    if not body.strip(b"\n"):
        headers.extend(found)
        return np.empty((len(COLUMNS), 0)), None
    if body[-1:] != b"\n":
        body += b"\n"  # pyarrow cannot size a last line without one
    types = {f"f{i}": pa.float64() for i in range(18)} | {f"f{i}": pa.string() for i in range(18, 21)}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False,
                                           block_size=len(body) + 1),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False,
                                             ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[], strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns not in (18, 21):
        return None
    values = np.empty((len(COLUMNS), table.num_rows), dtype=np.float64)
    for i in range(len(COLUMNS)):
        col = table.column(i).to_numpy()
        if field_violations(i, col).any():
            return None
        values[i] = col
    extras = None
    if table.num_columns == 21:
        extras = [table.column(i).to_numpy(zero_copy_only=False) for i in range(18, 21)]
    headers.extend(found)
    return values, extras


def _check_header(headers: list[tuple[int, str]], header: dict[str, str], source: str, notes: list[str]) -> None:
    """Refuse non-finite, fractional or huge machine sizes and start times; note the unreadable ones."""
    for lineno, line in headers:
        key, colon, value = line.lstrip(";").strip().partition(":")
        key = key.strip()
        if not colon or key.lower() not in _NUMERIC_KEYS:
            continue
        tokens = value.split()
        token = tokens[0] if tokens else ""
        try:
            number = float(token)
        except ValueError:
            notes.append(f"line {lineno}: header {key} {value.strip()!r} is not a number; ignored")
            continue
        if number != number or abs(number) == float("inf"):
            problem = "is not a finite number"
        elif abs(number) >= MAX_INTEGER:
            problem = f"is out of range; {key} must be below 2**53 ({MAX_INTEGER})"
        elif number != int(number):
            problem = "is not an integer"
        else:
            continue
        raise InputError(f"{token!r} {problem}", source=source, line=lineno, field=f"header {key}")


def _parse(data: bytes, source: str, fast: bool = True, block_bytes: int = _BLOCK_BYTES) -> Workload:
    """Parse SWF bytes (UTF-8). ``fast=False`` reads every line one by one (the reference)."""
    rows = _Rows(data.count(b"\n") + 1)
    headers: list[tuple[int, str]] = []
    start, lineno = 0, 1
    while start < len(data):
        end = data.find(b"\n", min(start + block_bytes, len(data) - 1))
        end = len(data) if end < 0 else end + 1
        result = _fast_block(data, start, end, lineno, headers) if fast else None
        if result is None:
            _reference_lines(data[start:end].decode("utf-8"), lineno, source, headers, rows)
        else:
            rows.add(*result)
        lineno += data.count(b"\n", start, end)
        start = end
    if rows.n == 0:
        raise InputError("contains no jobs", source=source, hint="an SWF file needs at least one job line")
    header: dict[str, str] = {}
    for _, line in headers:
        _parse_header(line, header)
    notes: list[str] = []
    _check_header(headers, header, source, notes)
    return Workload(rows.frame(), header, source, read_notes=notes)


def parse_swf(text: str, source: str = "<text>") -> Workload:
    """Parse SWF text into a :class:`Workload` (nothing is dropped)."""
    return _parse(text.encode("utf-8"), source)


def read_swf(path: str | Path) -> Workload:
    """Read an ``.swf`` or ``.swf.gz`` file."""
    raw = read_bytes(path)
    if _plain_ascii(raw):
        data = raw  # what decode_text would return, without a second copy of a large trace
    else:
        # NUL bytes, over-long lines and the Latin-1 fallback, with core.files' messages.
        data = decode_text(raw, str(path)).encode("utf-8")
    del raw
    return _parse(data, str(path))


def _plain_ascii(raw: bytes) -> bool:
    """ASCII without NUL bytes or over-long lines: decode_text would accept it unchanged."""
    if not raw.isascii() or raw.find(b"\0") >= 0:
        return False
    limit = max_line_bytes()
    pos = 0
    while len(raw) - pos > limit:
        # The line at pos is short enough iff a line break follows within limit bytes; every
        # line that starts before the last such break is then short enough too.
        last = raw.rfind(b"\n", pos, pos + limit + 1)
        if last < 0:
            return False
        pos = last + 1
    return True


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_swf(workload: Workload, path: str | Path) -> Path:
    """Write the 18 SWF fields (``.gz`` suffix compresses); the header is kept."""
    import gzip

    p = Path(path)
    lines = [f"; {k}: {line}" for k, v in workload.header.items() for line in str(v).split("\n")]
    cols = [workload.jobs[name].to_numpy() for name in COLUMNS]
    for i in range(len(workload.jobs)):
        lines.append(" ".join(_format(c[i]) for c in cols))
    text = "\n".join(lines) + "\n"
    if p.suffix == ".gz":
        p.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        p.write_text(text)
    return p
