import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
SHARED_DATA = REPO.parent / "shared" / "data"

# Every run a test records (commands record by default) goes to a store of the test
# session's own, never the user's ~/.local/share/hpcopt; subprocesses inherit it.
if "HPCOPT_TEST_KEEP_HOME" not in os.environ:
    os.environ["HPCOPT_HOME"] = tempfile.mkdtemp(prefix="hpcopt-test-home-")
    os.environ.pop("HPCOPT_STORE_URL", None)


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


# ---- a real PostgreSQL server for the store tests (one module-level conftest only:
# a second conftest module would shadow 'from conftest import ...' in the other tests)
def _pg_bin() -> Path | None:
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def free_port() -> int:
    """A free TCP port on loopback (for servers the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """``postgresql+psycopg://...`` of a private server, stopped at the end (skips without binaries)."""
    pytest.importorskip("psycopg")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql; .ci/run installs them)")
    root = Path(tempfile.mkdtemp(prefix="hpcopt-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    user = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the 'postgres' user (or nobody)
        import pwd

        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                user = ["runuser", "-u", name, "--"]
                shutil.chown(root, name)
                shutil.chown(sock, name)
                break
            except KeyError:
                continue
    env = {**os.environ, "LC_ALL": "C"}
    r = subprocess.run([*user, str(bindir / "initdb"), "-D", str(data), "-U", "hpcopt", "--auth=trust", "-E", "UTF8"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        pytest.skip(f"initdb failed: {r.stderr.strip()[:300]}")
    port = free_port()
    r = subprocess.run([*user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                        f"-h 127.0.0.1 -p {port} -k {sock}", "start"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {(root / 'log').read_text()[-300:] if (root / 'log').exists() else r.stderr}")
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield f"postgresql+psycopg://hpcopt@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, env=env)
        try:  # stopped by PID if pg_ctl could not
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        shutil.rmtree(root, ignore_errors=True)
