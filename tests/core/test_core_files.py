"""Bounded input reading and safe output writing (hpcopt.core.files)."""

from __future__ import annotations

import gzip
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.core.files import (
    atomic_directory,
    atomic_write_text,
    iter_text_lines,
    prepare_output,
    read_bytes,
    read_text,
)
from hpcopt.errors import ConfigError, InputError


def test_gzip_round_trip_and_multi_member(tmp_path):
    p = tmp_path / "a.txt.gz"
    p.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n"))
    assert read_text(p) == "one\ntwo\n"


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), cut=st.integers(min_value=1, max_value=10_000))
def test_truncated_or_flipped_gzip_is_input_error_or_exact(tmp_path_factory, data, cut):
    d = tmp_path_factory.mktemp("gz")
    blob = gzip.compress(data, mtime=0)
    cut = 1 + cut % (len(blob) - 1)  # an empty file is empty input, not a damaged stream
    for variant in (blob[:cut], blob[:cut] + bytes([blob[cut] ^ 0x55]) + blob[cut + 1:]):
        p = d / "x.gz"
        p.write_bytes(variant)
        try:
            out = read_bytes(p)
        except InputError as exc:
            assert str(p) in str(exc)
        else:
            # a flip inside the stored header fields (name, mtime) may still decode: then exactly
            assert out == data


def test_gzip_bomb_refused_within_bounded_memory(tmp_path, monkeypatch):
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(b"0" * (64 << 20), compresslevel=9))  # ~64 KB inflating 1000x
    with pytest.raises(InputError, match="decompression bomb"):
        read_bytes(p)
    monkeypatch.setenv("HPCOPT_MAX_GZIP_RATIO", "100000")
    assert len(read_bytes(p)) == 64 << 20
    monkeypatch.setenv("HPCOPT_MAX_INPUT_BYTES", str(1 << 20))
    with pytest.raises(InputError, match="more than 1,048,576 bytes"):
        read_bytes(p)


def test_not_gzip_named_gz_and_trailing_garbage(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(b"plain text")
    with pytest.raises(InputError, match="not a gzip file"):
        read_bytes(p)
    p.write_bytes(gzip.compress(b"ok") + b"garbage")
    with pytest.raises(InputError, match="after the end"):
        read_bytes(p)


def test_encoding_fallback_and_nul(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes("é,1\n".encode("latin-1"))
    assert read_text(p) == "é,1\n"  # Latin-1 fallback: every byte is one character
    p.write_bytes("é,1\n".encode("utf-8"))
    assert read_text(p) == "é,1\n"
    p.write_bytes(b"1,2\n3,4\x005\n")
    with pytest.raises(InputError, match="line 2: contains a NUL byte"):
        read_text(p)


def test_line_length_bound(tmp_path, monkeypatch):
    monkeypatch.setenv("HPCOPT_MAX_LINE_BYTES", "10")
    p = tmp_path / "t.txt"
    p.write_text("short\n" + "x" * 11 + "\nok\n")
    with pytest.raises(InputError, match="line 2: line is longer than 10"):
        read_text(p)
    got = list(iter_text_lines([b"ok\n", b"y" * 11, b"a\x00b", b"\xff\n"], "stdin"))
    assert got[0] == (1, "ok", None)
    assert got[1][1] is None and "longer" in got[1][2]
    assert got[2][1] is None and "NUL" in got[2][2]
    assert got[3] == (4, "ÿ", None)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_text(tmp_path / "nope")
    with pytest.raises(InputError, match="is a directory"):
        read_text(tmp_path)


def test_prepare_output_protects_inputs_and_existing_files(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("x")
    with pytest.raises(ConfigError, match="also an input"):
        prepare_output(src, inputs=[src], force=True, option="--out")
    link = tmp_path / "alias.csv"
    os.symlink(src, link)
    with pytest.raises(ConfigError, match="also an input"):
        prepare_output(link, inputs=[src], force=True)
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        prepare_output(src)
    assert prepare_output(src, force=True) == src
    deep = prepare_output(tmp_path / "a" / "b" / "out.html")
    assert deep.parent.is_dir() and not deep.exists()


def test_atomic_write_and_directory(tmp_path):
    f = atomic_write_text(tmp_path / "sub" / "f.txt", "hello")
    assert f.read_text() == "hello" and [p.name for p in f.parent.iterdir()] == ["f.txt"]
    target = tmp_path / "model"
    with atomic_directory(target) as d:
        (d / "a").write_text("1")
        assert not target.exists()
    assert (target / "a").read_text() == "1"
    with pytest.raises(ConfigError, match="--force"):
        with atomic_directory(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(target, force=True) as d:
            (d / "b").write_text("2")
            raise RuntimeError("crash in the middle")
    assert sorted(p.name for p in target.iterdir()) == ["a"]  # the old model is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "sub"]  # no temp left
    with atomic_directory(target, force=True) as d:
        (d / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
