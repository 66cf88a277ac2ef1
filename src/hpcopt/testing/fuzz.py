"""Mutation fuzzing of input readers: mutators that know what they broke, and a classifier.

A mutant is a copy of a real sample with one fault in it. Every mutant is a pure function
of ``(format, seed, index)`` (:func:`make_mutant`), so any failure is reproduced from those
three values. Mutators that write into a field the format defines (:func:`field_replace`)
know whether the value they wrote is one the format forbids; that is the oracle of
*silent acceptance*: a reader that succeeds on such a mutant without counting a repair
has accepted a forbidden value. A replacement that happens to be allowed (``-1`` where
-1 means unknown, ``nan`` where Prometheus allows NaN) is not forbidden.

Outcomes (:data:`OUTCOMES`): ``clean_error`` (an :class:`~hpcopt.errors.InputError` or
:class:`~hpcopt.errors.ConfigError`; on the CLI exit 2 or 64 with one message and no
traceback), ``success``, ``traceback`` (any other exception), ``bad_exit`` (a CLI exit code
other than 0, 2 and 64 without a traceback), ``silent_accept``, ``crash`` (the process died
on a signal) and ``hang`` (past the per-mutant time limit). :func:`run_jobs` runs mutants in
worker processes, restarting the pool after a crash or a hang.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import random
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

__all__ = [
    "OUTCOMES",
    "FAILURES",
    "Field",
    "Format",
    "Mutant",
    "REPLACEMENTS",
    "make_mutant",
    "mutator_names",
    "classify_exception",
    "classify_exit",
    "run_jobs",
    "summarize",
    "flat_counts",
    "repaired_more",
    "real",
    "integer",
    "optional",
    "text_cell",
    "prometheus_value",
    "json_finite",
    "nothing",
]

OUTCOMES = ("clean_error", "success", "traceback", "bad_exit", "silent_accept", "crash", "hang")
#: the outcomes a fuzz run fails on
FAILURES = ("traceback", "bad_exit", "silent_accept", "crash", "hang")

# Limits the workers run under (hpcopt.core.files reads them from the environment), so that
# a long line or a decompression bomb is cheap to build and must be refused.
LINE_LIMIT = 64 << 10
INPUT_LIMIT = 32 << 20
LONG_LINE = LINE_LIMIT + 4096
BOMB_SIZE = 48 << 20

# --------------------------------------------------------------------------- value domains

#: values written into fields: (label, bytes). Non-finite, overflowing, negative, empty,
#: text, NUL, non-UTF-8 and over-long values.
REPLACEMENTS: tuple[tuple[str, bytes], ...] = (
    ("inf", b"inf"),
    ("-inf", b"-inf"),
    ("nan", b"nan"),
    ("1e308", b"1e308"),
    ("-5", b"-5"),
    ("2**70", str(2**70).encode()),
    ("empty", b""),
    ("abc", b"abc"),
    ("NUL", b"1\x00"),
    ("non-UTF-8", b"\xff\xfe\xe9"),
    ("long number", b"9" * 400),
)
_JSON_REPLACEMENTS: tuple[tuple[str, bytes], ...] = (
    ("NaN", b"NaN"),
    ("Infinity", b"Infinity"),
    ("-Infinity", b"-Infinity"),
    ("1e999", b"1e999"),
    ("1e308", b"1e308"),
    ("-5", b"-5"),
    ("2**70", str(2**70).encode()),
    ("string", b'"abc"'),
    ("null", b"null"),
    ("empty", b""),
)
INT64 = 2**63


def _text(raw: bytes) -> str | None:
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _number(raw: bytes) -> float | None:
    t = _text(raw)
    if t is None or not t.strip():
        return None
    try:
        return float(t)
    except ValueError:
        return None


def real(*, low: float = -math.inf, unknown: float | None = None, high: float = INT64) -> Callable[[bytes], bool]:
    """A finite number in ``[low, high)`` (``unknown`` also allowed, e.g. SWF's -1)."""

    def allowed(raw: bytes) -> bool:
        v = _number(raw)
        if v is None or not math.isfinite(v):
            return False
        return (unknown is not None and v == unknown) or (low <= v < high)

    allowed.__name__ = f"real[{low}, {high}){'' if unknown is None else f' or {unknown}'}"
    return allowed


def integer(*, low: float = -INT64, unknown: float | None = None, high: float = INT64) -> Callable[[bytes], bool]:
    """An integer in ``[low, high)`` (int64 by default), or ``unknown``."""
    inner = real(low=low, unknown=unknown, high=high)

    def allowed(raw: bytes) -> bool:
        v = _number(raw)
        return inner(raw) and v is not None and float(v).is_integer()

    allowed.__name__ = f"integer[{low}, {high})"
    return allowed


def optional(domain: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """``domain``, or an empty cell (the format's way to say unknown)."""

    def allowed(raw: bytes) -> bool:
        return raw.strip() == b"" or domain(raw)

    allowed.__name__ = f"optional {domain.__name__}"
    return allowed


def text_cell(raw: bytes) -> bool:
    """Free text: anything without NUL (non-UTF-8 bytes have a stated Latin-1 fallback)."""
    return b"\x00" not in raw and len(raw) < LINE_LIMIT


def prometheus_value(raw: bytes) -> bool:
    """A sample value of the exposition format: a float, NaN and +-Inf included."""
    t = _text(raw)
    if t is None or not t.strip() or " " in t.strip():
        return False
    try:
        float(t)
    except ValueError:
        return False
    return True


def json_finite(*, low: float = -math.inf, magnitude: float = math.inf) -> Callable[[bytes], bool]:
    """A JSON number (RFC 8259: no NaN/Infinity) that is finite as a float, >= ``low`` and
    of magnitude below ``magnitude``."""
    pat = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")

    def allowed(raw: bytes) -> bool:
        if not pat.fullmatch(raw):
            return False
        v = float(raw)
        return math.isfinite(v) and v >= low and abs(v) < magnitude

    allowed.__name__ = f"JSON number >= {low}"
    return allowed


def nothing(raw: bytes) -> bool:
    """No replacement is allowed (e.g. a 0/1 label gets none of :data:`REPLACEMENTS`)."""
    return False


# --------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class Field:
    """A field a mutator may overwrite.

    Either ``column`` (0-based, in a delimited record) or ``pattern`` (a regex whose group 1
    is the value's span) locates it; ``allowed(bytes) -> bool`` says which values the
    format accepts there. ``json`` picks JSON-shaped replacements.
    """

    name: str
    allowed: Callable[[bytes], bool]
    column: int | None = None
    pattern: bytes | None = None
    json: bool = False


@dataclass
class Format:
    """What the mutators need to know about one input format.

    ``samples``: the real seed files' bytes (decompressed); ``delimiter`` splits records
    into columns (``None``: runs of whitespace); ``is_record(line) -> bool`` tells a data
    record from a header or comment; ``binary`` turns off the text mutators.
    """

    name: str
    samples: Sequence[bytes]
    fields: Sequence[Field] = ()
    delimiter: bytes | None = b","
    is_record: Callable[[bytes], bool] = lambda line: bool(line.strip())
    binary: bool = False
    gzip_ok: bool = True
    extra_mutators: Sequence[tuple[str, int, Callable]] = ()


@dataclass
class Mutant:
    """One mutated input: its bytes, how it was made, and whether it carries a forbidden value."""

    format: str
    seed: int
    index: int
    mutator: str
    data: bytes
    detail: str = ""
    forbidden: bool = False
    gzipped: bool = False
    sample: int = 0

    @property
    def key(self) -> str:
        return f"{self.format}:{self.seed}:{self.index}"


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _record_rows(fmt: Format, lines: list[bytes]) -> list[int]:
    return [i for i, ln in enumerate(lines) if ln.strip() and fmt.is_record(ln)]


# ---- mutators: each (rng, data, fmt) -> (data, detail, forbidden) or None when it does not apply


def byte_flip(rng, data, fmt):
    if not data:
        return None
    b = bytearray(data)
    n = rng.choice((1, 1, 1, 2, 4))
    spots = []
    for _ in range(n):
        i = rng.randrange(len(b))
        bit = rng.randrange(8)
        b[i] ^= 1 << bit
        spots.append(f"{i}^{1 << bit}")
    return bytes(b), "bytes " + ",".join(spots), False


def truncate(rng, data, fmt):
    if len(data) < 2:
        return None
    cut = rng.choice((rng.randrange(1, len(data)), len(data) // 2, len(data) - 1, rng.randrange(0, min(64, len(data)))))
    return data[:cut], f"cut at byte {cut} of {len(data)}", False


def line_drop(rng, data, fmt):
    lines = _lines(data)
    if len(lines) < 2:
        return None
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i] + lines[i + 1:]), f"line {i + 1} dropped", False


def line_dup(rng, data, fmt):
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]), f"line {i + 1} duplicated", False


def line_swap(rng, data, fmt):
    lines = _lines(data)
    if len(lines) < 3:
        return None
    i, j = sorted(rng.sample(range(len(lines)), 2))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines), f"lines {i + 1} and {j + 1} swapped", False


def _split_spans(line: bytes, delimiter: bytes | None) -> list[tuple[int, int]]:
    if delimiter is None:
        return [(m.start(), m.end()) for m in re.finditer(rb"\S+", line)]
    end = len(line) - 1 if line.endswith(b"\r") else len(line)
    spans, start = [], 0
    while True:
        k = line.find(delimiter, start, end)
        if k < 0:
            spans.append((start, end))
            return spans
        spans.append((start, k))
        start = k + len(delimiter)


def field_replace(rng, data, fmt):
    """Write one of :data:`REPLACEMENTS` into a field the format defines; forbidden per the field."""
    if not fmt.fields:
        return None
    fld = rng.choice(list(fmt.fields))
    label, value = rng.choice(_JSON_REPLACEMENTS if fld.json else REPLACEMENTS)
    if fld.pattern is not None:
        hits = list(re.finditer(fld.pattern, data, flags=re.MULTILINE))
        if not hits:
            return None
        m = rng.choice(hits)
        start, end = m.span(1)
        line_no = data.count(b"\n", 0, start) + 1
    else:
        lines = _lines(data)
        rows = _record_rows(fmt, lines)
        if not rows:
            return None
        r = rng.choice(rows)
        spans = _split_spans(lines[r], fmt.delimiter)
        if fld.column >= len(spans):
            return None
        offset = sum(len(ln) + 1 for ln in lines[:r])
        start, end = (offset + s for s in spans[fld.column])
        line_no = r + 1
    if fmt.delimiter is None and fld.pattern is None and value.strip() == b"":
        value = b""  # an empty whitespace-separated field removes the field
    old = data[start:end]
    if old == value:
        return None
    forbidden = not fld.allowed(value)
    out = data[:start] + value + data[end:]
    return out, f"line {line_no} {fld.name}: {old[:40]!r} -> {label}", forbidden


def nul_inject(rng, data, fmt):
    i = rng.randrange(len(data) + 1)
    return data[:i] + b"\x00" + data[i:], f"NUL at byte {i}", True


def non_utf8(rng, data, fmt):
    i = rng.randrange(len(data) + 1)
    junk = rng.choice((b"\xff", b"\xc3\x28", b"\xe9", b"\x80\x81\x82"))
    return data[:i] + junk + data[i:], f"{junk!r} at byte {i}", False


def long_line(rng, data, fmt):
    """A line longer than the line bound the workers run under (refusing it is required)."""
    lines = _lines(data)
    i = rng.randrange(len(lines) + 1)
    body = rng.choice((b"1," * (LONG_LINE // 2), b"x" * LONG_LINE, b"; " + b"y" * LONG_LINE))
    return b"\n".join(lines[:i] + [body] + lines[i:]), f"{len(body)}-byte line at line {i + 1} (bound {LINE_LIMIT})", True


def utf16(rng, data, fmt):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    enc = rng.choice(("utf-16", "utf-16-le"))
    return text.encode(enc), f"re-encoded as {enc}", True


def latin1(rng, data, fmt):
    """Re-encode as Latin-1 (after putting an accented letter in a comment-ish spot): the
    stated fallback reads it, so this is never forbidden."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    lines = _lines(raw)
    rows = [i for i, ln in enumerate(lines) if ln.strip() and not fmt.is_record(ln)]
    if rows:
        i = rng.choice(rows)
        lines[i] = lines[i] + " \xe9t\xe9".encode("latin-1")
    return b"\n".join(lines), "re-encoded as Latin-1", False


def crlf(rng, data, fmt):
    return data.replace(b"\n", b"\r\n"), "CRLF line ends", False


def empty(rng, data, fmt):
    return rng.choice((b"", b"\n", b"   \n\n")), "empty file", False


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def gzip_ok(rng, data, fmt):
    return _gz(data), "gzip of the sample (valid)", False


def gzip_bad_crc(rng, data, fmt):
    g = bytearray(_gz(data))
    g[-8] ^= 0xFF
    return bytes(g), "gzip with a wrong CRC-32", True


def gzip_bad_size(rng, data, fmt):
    g = bytearray(_gz(data))
    g[-4:] = struct.pack("<I", (len(data) + 7) & 0xFFFFFFFF)
    return bytes(g), "gzip with a wrong ISIZE", True


def gzip_truncated(rng, data, fmt):
    g = _gz(data)
    cut = rng.choice((len(g) - 4, len(g) - 9, len(g) // 2, 12, 3))
    return g[:max(cut, 1)], f"gzip cut at byte {max(cut, 1)} of {len(g)}", True


def gzip_trailing(rng, data, fmt):
    return _gz(data) + b"garbage after the member", "gzip with trailing garbage", True


def gzip_flip(rng, data, fmt):
    g = bytearray(_gz(data))
    i = rng.randrange(10, max(11, len(g) - 8))
    g[i] ^= 1 << rng.randrange(8)
    # a flip in bits deflate never reads (e.g. the padding of the last byte) leaves the
    # stream valid with the same data and the same CRC: then nothing forbidden was injected
    try:
        same = gzip.decompress(bytes(g)) == data
    except (OSError, EOFError, zlib.error):
        same = False
    return bytes(g), f"gzip with a flipped bit at byte {i}", not same


def gzip_two_members(rng, data, fmt):
    half = len(data) // 2
    cut = data.rfind(b"\n", 0, half) + 1
    return _gz(data[:cut]) + _gz(data[cut:]), "two gzip members (valid)", False


_BOMB_CACHE: dict[int, bytes] = {}


def gzip_bomb(rng, data, fmt):
    """The sample followed by blank lines, decompressing past the input bound (a bomb)."""
    key = hash(data)
    if key not in _BOMB_CACHE:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        out = [c.compress(data), c.compress(b"\n")]
        block = b" " * (1 << 20)
        for _ in range(BOMB_SIZE >> 20):
            out.append(c.compress(block))
        out.append(c.flush())
        _BOMB_CACHE.clear()
        _BOMB_CACHE[key] = b"".join(out)
    g = _BOMB_CACHE[key]
    return g, f"{len(g):,} gzip bytes inflating to {len(data) + BOMB_SIZE:,} (bound {INPUT_LIMIT:,})", True


def not_gzip_named_gz(rng, data, fmt):
    return data, "plain text named .gz", True


# (name, weight, function, writes gzip)
_TEXT_MUTATORS: tuple[tuple[str, int, Callable, bool], ...] = (
    ("byte_flip", 10, byte_flip, False),
    ("truncate", 6, truncate, False),
    ("line_drop", 5, line_drop, False),
    ("line_dup", 4, line_dup, False),
    ("line_swap", 4, line_swap, False),
    ("field_replace", 34, field_replace, False),
    ("nul", 3, nul_inject, False),
    ("non_utf8", 4, non_utf8, False),
    ("long_line", 2, long_line, False),
    ("utf16", 2, utf16, False),
    ("latin1", 2, latin1, False),
    ("crlf", 1, crlf, False),
    ("empty", 1, empty, False),
)
_GZIP_MUTATORS: tuple[tuple[str, int, Callable, bool], ...] = (
    ("gzip_ok", 2, gzip_ok, True),
    ("gzip_bad_crc", 2, gzip_bad_crc, True),
    ("gzip_bad_size", 1, gzip_bad_size, True),
    ("gzip_truncated", 3, gzip_truncated, True),
    ("gzip_trailing", 1, gzip_trailing, True),
    ("gzip_flip", 2, gzip_flip, True),
    ("gzip_two_members", 1, gzip_two_members, True),
    ("gzip_bomb", 1, gzip_bomb, True),
    ("not_gzip_named_gz", 1, not_gzip_named_gz, True),
)
_BINARY_MUTATORS: tuple[tuple[str, int, Callable, bool], ...] = (
    ("byte_flip", 10, byte_flip, False),
    ("truncate", 5, truncate, False),
    ("empty", 1, empty, False),
)


def _mutators(fmt: Format) -> list[tuple[str, int, Callable, bool]]:
    base = list(_BINARY_MUTATORS if fmt.binary else _TEXT_MUTATORS)
    if fmt.gzip_ok and not fmt.binary:
        base += list(_GZIP_MUTATORS)
    base += [(name, w, fn, False) for name, w, fn in fmt.extra_mutators]
    return base


def mutator_names(fmt: Format) -> list[str]:
    return [m[0] for m in _mutators(fmt)]


def make_mutant(fmt: Format, seed: int, index: int) -> Mutant:
    """The ``index``-th mutant of ``fmt`` under ``seed``: the same bytes on every call."""
    rng = random.Random(f"{seed}/{fmt.name}/{index}")
    muts = _mutators(fmt)
    weights = [m[1] for m in muts]
    sample = rng.randrange(len(fmt.samples))
    data = fmt.samples[sample]
    for _ in range(20):
        name, _, fn, gz = rng.choices(muts, weights=weights)[0]
        got = fn(rng, data, fmt)
        if got is not None:
            out, detail, forbidden = got
            return Mutant(fmt.name, seed, index, name, out, detail, forbidden, gz, sample)
    out, detail, forbidden = byte_flip(rng, data, fmt)
    return Mutant(fmt.name, seed, index, "byte_flip", out, detail, forbidden, False, sample)


# --------------------------------------------------------------------------- classification


def _first_line(text: str) -> str:
    for ln in str(text).splitlines():
        if ln.strip():
            return ln.strip()[:200]
    return ""


def classify_exception(exc: BaseException | None) -> tuple[str, str, str]:
    """``(outcome, exception type, first line of the message)`` of a library call."""
    from hpcopt.errors import ConfigError, InputError

    if exc is None:
        return "success", "", ""
    kind = type(exc).__name__
    if isinstance(exc, (InputError, ConfigError)):
        return "clean_error", kind, _first_line(str(exc))
    return "traceback", kind, _first_line(f"{exc}") or kind


def _json_error(stdout: str) -> str:
    """The message of a ``--json`` error object (``{"error": {"message": ...}}``), if that is what was printed."""
    import json

    try:
        obj = json.loads(stdout)
    except (ValueError, TypeError):
        return ""
    err = obj.get("error") if isinstance(obj, dict) else None
    return _first_line(err.get("message", "")) if isinstance(err, dict) else ""


def classify_exit(code: int | None, stdout: str, stderr: str, exc: BaseException | None = None) -> tuple[str, str, str]:
    """``(outcome, type, first line)`` of a CLI run from its exit code and output."""
    if exc is not None:
        return "traceback", type(exc).__name__, _first_line(str(exc)) or type(exc).__name__
    if "Traceback (most recent call last)" in stderr or "Traceback (most recent call last)" in stdout:
        tail = [ln for ln in stderr.splitlines() if ln.strip()]
        return "traceback", "Traceback", tail[-1][:200] if tail else ""
    if code in (0, None):
        return "success", "", ""
    msg = _first_line(stderr) or _json_error(stdout) or _first_line(stdout)
    if code in (2, 64):
        if not msg:
            return "bad_exit", f"exit {code}", "no message"
        return "clean_error", f"exit {code}", msg
    if code < 0:
        return "crash", f"signal {-code}", msg
    return "bad_exit", f"exit {code}", msg or "no message"


# --------------------------------------------------------------------------- running


def _kill_pool(pool) -> None:
    procs = list(getattr(pool, "_processes", {}).values())
    for p in procs:
        try:
            p.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
    try:
        pool.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001
        pass
    for p in procs:
        try:
            p.join(timeout=5)
        except Exception:  # noqa: BLE001
            pass


def _isolated_child(fn, job, initializer, initargs, conn) -> None:
    try:
        if initializer is not None:
            initializer(*initargs)
        conn.send("started")
        conn.send(fn(job))
    finally:
        conn.close()


def _isolated(fn, job, timeout: float, initializer, initargs, ctx) -> dict:
    """Run one job alone in a new process: tells which mutant killed a pool, and by which signal.
    The clock starts when the worker is set up (``initializer`` done)."""
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_isolated_child, args=(fn, job, initializer, initargs, send), daemon=True)
    p.start()
    send.close()
    got = None
    try:
        if recv.poll(120) and recv.recv() == "started" and recv.poll(timeout):
            got = recv.recv()
    except EOFError:
        got = None
    p.join(timeout=5 if got is not None else 1)
    if p.is_alive():
        p.kill()
        p.join()
    elif got is None and p.exitcode == 0:
        # it exited normally, so it was not a crash: either its result came just after the
        # limit (a hang by the rule) or it never sent one
        with contextlib.suppress(EOFError, OSError):
            if recv.poll(0):
                recv.recv()
        return {"outcome": "hang", "exc_type": "timeout", "message": f"no result within {timeout:.0f} s"}
    if got is not None:
        return got
    if p.exitcode is None or p.exitcode == -9:
        return {"outcome": "hang", "exc_type": "timeout", "message": f"no result within {timeout:.0f} s"}
    code = p.exitcode
    return {"outcome": "crash", "exc_type": f"exit {code}" if code is None or code >= 0 else f"signal {-code}",
            "message": "the worker process died"}


def run_jobs(fn: Callable[[tuple], dict], jobs: Iterable[tuple], *, workers: int = 2,
             timeout: float | Callable[[tuple], float] = 10.0,
             initializer: Callable | None = None, initargs: tuple = (), ctx=None,
             progress: Callable[[int], None] | None = None) -> list[dict]:
    """Run ``fn(job)`` for every job in a pool of worker processes; never more than ``workers``
    jobs in flight, so a job's clock starts when it is submitted. A job past ``timeout``
    seconds is a ``hang``; a worker that dies breaks the pool, and the jobs then in flight
    are rerun one by one in isolation to find the one that crashes. The pool is replaced
    after either. ``fn`` returns a dict; the runner adds ``outcome`` for hangs and crashes
    and the job itself under ``job``.
    """
    import multiprocessing as mp
    import time
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = ctx or mp.get_context("forkserver")
    limit = timeout if callable(timeout) else (lambda job: float(timeout))
    pending = deque(jobs)
    results: list[dict] = []

    def new_pool():
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer, initargs=initargs)

    pool = new_pool()
    inflight: dict = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < workers:
                job = pending.popleft()
                inflight[pool.submit(fn, job)] = (job, time.monotonic())
            done, _ = wait(list(inflight), timeout=0.25, return_when=FIRST_COMPLETED)
            suspects = []
            for fut in done:
                job, _t0 = inflight.pop(fut)
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    suspects.append(job)
                    continue
                except Exception as exc:  # noqa: BLE001 - the runner itself must go on
                    res = {"outcome": "traceback", "exc_type": type(exc).__name__,
                           "message": f"harness: {_first_line(str(exc))}"}
                res["job"] = job
                results.append(res)
                if progress:
                    progress(len(results))
            if suspects:
                suspects += [job for job, _ in inflight.values()]
                inflight.clear()
                _kill_pool(pool)
                for job in suspects:
                    res = _isolated(fn, job, limit(job), initializer, initargs, ctx)
                    res["job"] = job
                    results.append(res)
                pool = new_pool()
                continue
            now = time.monotonic()
            late = [f for f, (job, t0) in inflight.items() if now - t0 > limit(job)]
            if late:
                for f in late:
                    job, t0 = inflight.pop(f)
                    results.append({"outcome": "hang", "exc_type": "timeout",
                                    "message": f"no result within {limit(job):.0f} s", "job": job})
                requeue = [job for job, _ in inflight.values()]
                inflight.clear()
                _kill_pool(pool)
                pending.extendleft(reversed(requeue))
                pool = new_pool()
    finally:
        _kill_pool(pool)
    return results


def flat_counts(obj, prefix: str = "") -> dict[str, float]:
    """Counters of a repair report, flattened: numbers by key path; strings (notes) count 1 each."""
    out: dict[str, float] = {}

    def add(k, v):
        out[k] = out.get(k, 0.0) + v

    def walk(o, path):
        if isinstance(o, bool):
            add(path, float(o))
        elif isinstance(o, (int, float)):
            if math.isfinite(o):
                add(path, float(o))
        elif isinstance(o, str):
            # a note such as "10 job-step lines skipped" counts 10
            nums = [int(x) for x in re.findall(r"\b\d+\b", o)[:1]]
            add(f"{path}={re.sub(r'[0-9]+', 'N', o)[:200]}", float(nums[0]) if nums else 1.0)
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}/{k}")
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v, path)

    walk(obj, prefix)
    return out


def repaired_more(mutant: dict[str, float], baseline: dict[str, float]) -> bool:
    """Whether a run counted a repair the clean run did not: a counter went up, or a new note."""
    return any(v > baseline.get(k, 0.0) for k, v in mutant.items())


def probe(job: tuple) -> dict:
    """A job for testing :func:`run_jobs` itself: ``("ok",)``, ``("sleep", s)``, ``("segv",)``, ``("abort",)``."""
    import os
    import signal
    import time

    kind = job[0]
    if kind == "sleep":
        time.sleep(job[1])
    elif kind == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "abort":
        os.abort()
    return {"outcome": "success", "exc_type": "", "message": f"pid {os.getpid()}"}


def signature(res: dict) -> tuple[str, str, str, str]:
    """What groups failures: (target, outcome, exception type, message with numbers and paths masked)."""
    msg = re.sub(r"/[^\s:'\"]+", "<path>", str(res.get("message", "")))
    msg = re.sub(r"\d+(\.\d+)?", "N", msg)[:120]
    return res.get("target", "?"), res.get("outcome", "?"), res.get("exc_type", ""), msg


def summarize(results: Sequence[dict], *, top: int = 20) -> dict:
    """Counts per format x outcome, per target x outcome, and the top failure signatures."""
    from collections import Counter, defaultdict

    per_format: dict[str, Counter] = defaultdict(Counter)
    per_target: dict[str, Counter] = defaultdict(Counter)
    sigs: Counter = Counter()
    example: dict = {}
    for r in results:
        per_format[r.get("format", "?")][r["outcome"]] += 1
        per_target[r.get("target", "?")][r["outcome"]] += 1
        if r["outcome"] in FAILURES:
            s = signature(r)
            sigs[s] += 1
            example.setdefault(s, r)
    totals = Counter(r["outcome"] for r in results)
    return {
        "mutants": len(results),
        "totals": {k: totals.get(k, 0) for k in OUTCOMES},
        "per_format": {f: {k: c.get(k, 0) for k in OUTCOMES if c.get(k, 0)} for f, c in sorted(per_format.items())},
        "per_target": {t: {k: c.get(k, 0) for k in OUTCOMES if c.get(k, 0)} for t, c in sorted(per_target.items())},
        "top_failures": [
            {"count": n, "format": example[s].get("format"), "target": s[0], "outcome": s[1], "exc_type": s[2], "message": example[s].get("message", ""),
             "mutator": example[s].get("mutator"), "detail": example[s].get("detail"),
             "reproduce": example[s].get("key")}
            for s, n in sigs.most_common(top)
        ],
    }
