import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason="../shared/data is absent (a fresh clone); CI has it")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lublin1():
    from hpcopt.data import load_workload

    return load_workload(TEST_DATA / "lublin_256.swf.gz")


@pytest.fixture(scope="session")
def lublin2():
    from hpcopt.data import load_workload

    return load_workload(TEST_DATA / "lublin_256_new2.swf.gz")


@pytest.fixture
def echo_spec(tmp_path):
    """Tune tests: write a study spec whose runner prints ``n * 0.5`` for ``n`` in ``values`` (a real
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
