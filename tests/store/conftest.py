"""A real PostgreSQL server for the store tests, started on loopback when its binaries exist."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def _free_port() -> int:
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
    port = _free_port()
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
