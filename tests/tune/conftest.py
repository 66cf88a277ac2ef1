"""Shared helpers of the tune tests."""

from __future__ import annotations

import sys
import textwrap

import pytest


@pytest.fixture
def echo_spec(tmp_path):
    """Write a study spec whose runner prints ``n * 0.5`` for ``n`` in ``values`` (a real
    subprocess measured by its own output); return its path."""

    def write(name: str, values: list[int]):
        spec = tmp_path / f"{name}.toml"
        spec.write_text(textwrap.dedent(f"""
            [study]
            name = "{name}"
            [parameters]
            n = {list(values)}
            [runner]
            kind = "command"
            command = "{sys.executable} -c 'print({{n}} * 0.5)'"
            timing = "output"
            pattern = '([0-9.]+)'
            warmup = 0
            repeats = 1
        """))
        return spec

    return write
