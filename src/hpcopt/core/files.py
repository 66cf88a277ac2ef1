"""Reading inputs within bounds and writing outputs without losing anything.

Inputs: every reader goes through :func:`read_bytes` / :func:`read_text` /
:func:`iter_text_lines`, which decompress gzip with a bound on the decompressed size (and
on the compression ratio of large files, the shape of a decompression bomb), bound the
length of one line, refuse NUL bytes, and decode UTF-8 with one stated fallback: bytes
that are not UTF-8 are read as Latin-1, so every byte maps to one character and the
reader's own field checks then name the bad field. A damaged gzip stream is an
:class:`~hpcopt.errors.InputError`, never a traceback.

Outputs: :func:`prepare_output` creates missing parent directories, refuses to write over
an input of the same command, and refuses to replace an existing file unless the caller
passes ``force``; :func:`atomic_write_bytes` and :func:`atomic_directory` make a file or a
whole directory appear at once (temporary name, then ``os.replace``), so a crash leaves
either the old output or the new one, never half of one.

Limits can be raised with environment variables: ``HPCOPT_MAX_INPUT_BYTES`` (default
4 GiB decompressed), ``HPCOPT_MAX_LINE_BYTES`` (default 16 MiB) and
``HPCOPT_MAX_GZIP_RATIO`` (default 200, applied once a file decompresses past 32 MiB).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from hpcopt.errors import ConfigError, InputError

__all__ = [
    "max_input_bytes",
    "max_line_bytes",
    "read_bytes",
    "read_text",
    "decode_text",
    "iter_text_lines",
    "prepare_output",
    "prepare_report",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_directory",
]

_GZIP_MAGIC = b"\x1f\x8b"
_RATIO_CHECK_FROM = 32 << 20
_CHUNK = 1 << 20


def _env_int(name: str, default: int) -> int:
    from hpcopt.core.params import positive_env

    return positive_env(name, default, int)


def max_input_bytes() -> int:
    return _env_int("HPCOPT_MAX_INPUT_BYTES", 4 << 30)


def max_line_bytes() -> int:
    return _env_int("HPCOPT_MAX_LINE_BYTES", 16 << 20)


def _max_ratio() -> int:
    return _env_int("HPCOPT_MAX_GZIP_RATIO", 200)


def _check_file(p: Path) -> None:
    if not p.exists():
        raise InputError("no such file", source=str(p), hint="check the path")
    if p.is_dir():
        raise InputError("is a directory, not a file", source=str(p))


def _too_big(p: Path, size: int, limit: int, compressed: bool) -> InputError:
    what = "decompresses to more than" if compressed else "is larger than"
    return InputError(
        f"{what} {limit:,} bytes ({size:,} read so far)", source=str(p),
        hint="raise HPCOPT_MAX_INPUT_BYTES if the file is genuine",
    )


def _gunzip_chunks(p: Path, fh, limit: int, compressed_size: int) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip stream in bounded chunks."""
    ratio = _max_ratio()
    total = 0
    d = zlib.decompressobj(wbits=31)
    try:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            data = chunk
            while data:
                out = d.decompress(data, _CHUNK)
                total += len(out)
                if total > limit:
                    raise _too_big(p, total, limit, True)
                if total > _RATIO_CHECK_FROM and total > ratio * max(compressed_size, 1):
                    raise InputError(
                        f"decompresses more than {ratio}x ({total:,} bytes from {compressed_size:,}): "
                        "this looks like a decompression bomb", source=str(p),
                        hint="raise HPCOPT_MAX_GZIP_RATIO if the file is genuine",
                    )
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    if data and data[:2] == _GZIP_MAGIC:
                        d = zlib.decompressobj(wbits=31)  # next gzip member
                        continue
                    if data.strip(b"\0"):
                        raise InputError("has data after the end of the gzip stream", source=str(p),
                                         hint="re-download it or pass the uncompressed file")
                    data = b""
                else:
                    data = d.unconsumed_tail
        if not d.eof:
            raise InputError("the gzip stream is truncated (it ends before its last block)", source=str(p),
                             hint="re-download it or pass the uncompressed file")
    except zlib.error as exc:
        raise InputError(f"is not a valid gzip file ({exc})", source=str(p),
                         hint="re-download it or pass the uncompressed file") from None


def _raw_chunks(path: str | Path) -> Iterator[bytes]:
    p = Path(path)
    _check_file(p)
    limit = max_input_bytes()
    size = p.stat().st_size
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", source=str(p)) from None
    with fh:
        head = fh.read(2)
        fh.seek(0)
        if head == _GZIP_MAGIC or (p.suffix == ".gz" and size > 0):
            if head != _GZIP_MAGIC:
                raise InputError("is named .gz but is not a gzip file", source=str(p),
                                 hint="re-download it or rename it")
            yield from _gunzip_chunks(p, fh, limit, size)
            return
        if size > limit:
            raise _too_big(p, size, limit, False)
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            yield chunk


def read_bytes(path: str | Path) -> bytes:
    """The whole file's bytes, gzip decompressed within the bounds."""
    return b"".join(_raw_chunks(path))


def _nul_error(source: str, text: str, pos: int) -> InputError:
    line = text.count("\n", 0, pos) + 1
    return InputError("contains a NUL byte (the file is binary or damaged)", source=source, line=line)


def decode_text(raw: bytes, source: str) -> str:
    """UTF-8, or Latin-1 when the bytes are not UTF-8 (the stated fallback); NUL refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if text.startswith("\ufeff"):
        text = text[1:]
    pos = text.find("\0")
    if pos >= 0:
        raise _nul_error(source, text, pos)
    _check_line_lengths(text, source)
    return text


def _check_line_lengths(text: str, source: str) -> None:
    limit = max_line_bytes()
    n = len(text)
    pos = 0
    # jump window by window: the last line break inside each window of limit + 1
    # characters starts the next one, so a long file costs len/limit C-level searches
    while n - pos > limit:
        cut = text.rfind("\n", pos, pos + limit + 1)
        if cut < 0:
            line = text.count("\n", 0, pos) + 1
            raise InputError(f"line is longer than {limit:,} characters", source=source, line=line,
                             hint="raise HPCOPT_MAX_LINE_BYTES if the file is genuine")
        pos = cut + 1


def read_text(path: str | Path) -> str:
    """The whole file as text: gzip decompressed, bounded, UTF-8 with a Latin-1 fallback."""
    return decode_text(read_bytes(path), str(path))


def iter_text_lines(lines: Iterable[bytes | str], source: str) -> Iterator[tuple[int, str | None, str | None]]:
    """Yield ``(line_number, text, problem)`` for a stream of lines, never raising.

    A line that is too long, holds a NUL byte or is not text gives ``text=None`` and the
    reason in ``problem``, so a stream can report it and go on.
    """
    limit = max_line_bytes()
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            if len(line) > limit:
                yield number, None, f"line is longer than {limit:,} bytes"
                continue
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                line = line.decode("latin-1")
        elif len(line) > limit:
            yield number, None, f"line is longer than {limit:,} characters"
            continue
        if "\0" in line:
            yield number, None, "line contains a NUL byte"
            continue
        yield number, line.rstrip("\r\n"), None


def prepare_report(path: str | Path | None, *, inputs: Iterable[str | Path | None] = (), force: bool = False,
                   option: str = "--report") -> Path | None:
    """An HTML report path checked before any work: an .html name, then :func:`prepare_output`."""
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"{option} must name an .html file; got {p.name!r}")
    return prepare_output(p, inputs=inputs, force=force, option=option)


def prepare_output(path: str | Path, *, inputs: Iterable[str | Path | None] = (), force: bool = False,
                   option: str = "output") -> Path:
    """Check an output path before any work: parents made, inputs and existing files protected.

    ``option`` names the command-line option in the messages (e.g. ``--jobs-out``).
    """
    p = Path(path)
    target = p.resolve()
    for item in inputs:
        if item is None:
            continue
        try:
            same = Path(item).resolve() == target or (Path(item).exists() and p.exists()
                                                       and os.path.samefile(item, p))
        except OSError:
            same = False
        if same:
            raise ConfigError(f"{option} {p} is also an input of this command; refusing to write over it "
                              "(choose another output path)")
    if p.exists() and p.is_dir() and not p.suffix == "":
        raise ConfigError(f"{option} {p} is a directory; give a file path")
    if p.exists() and not force:
        raise ConfigError(f"{option} {p} already exists; pass --force to overwrite it or choose another path")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option}: cannot create the directory {p.parent} ({exc.strerror})") from None
    if not os.access(p.parent, os.W_OK):
        raise ConfigError(f"{option}: the directory {p.parent} is not writable")
    return p


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block ends without error.

    An existing ``path`` is replaced only with ``force`` (and only if it is a directory);
    on error the temporary directory is removed and ``path`` is untouched.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{p} exists and is not a directory; choose another path")
    if p.exists() and any(p.iterdir()) and not force:
        raise ConfigError(f"{p} already exists and is not empty; pass --force to replace it or choose another path")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent))
    try:
        yield tmp
        if p.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".old", dir=p.parent))
            os.replace(p, old / "dir")
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
