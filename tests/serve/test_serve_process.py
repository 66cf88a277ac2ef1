"""The real ``hpcopt serve`` (uvicorn on a loopback port) as a subprocess: submit, poll,
kill the server by PID mid-run, restart it and find the killed job recorded as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"



def _env(home: Path) -> dict:
    return {**os.environ, "HPCOPT_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}


def _cli(home: Path, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "hpcopt", *args, "--json"], capture_output=True, text=True,
                       env=_env(home), timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def _start(home: Path, root: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hpcopt", "serve", "--port", str(port), "--data-root", str(root),
                             "--import", "serve_toy_tasks", "--workers", "1"], env=_env(home),
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    t0 = time.time()
    while time.time() - t0 < 120:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the service did not come up: " + log.read_text())


def _wait(client, job_id: str, pred, timeout: float = 120) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = client.get(f"/v1/jobs/{job_id}").json()["job"]
        if pred(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached the state: {job}")


@pytest.mark.slow
def test_serve_kill_restart_records_interrupted(tmp_path):
    home, root = tmp_path / "home", tmp_path / "root"
    root.mkdir()
    (root / "numbers.txt").write_text("1 2 3\n")
    made = _cli(home, "tokens", "create", "--scope", "read,run", "--name", "ci")
    assert made["scopes"] == ["read", "run"] and made["token"].startswith("hpc_")
    token = made["token"]
    store_db = home / "store.db"
    assert token not in store_db.read_bytes().decode("latin-1")  # only the hash is stored
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _start(home, root, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:
            assert c.get("/v1/runs").status_code == 200
            jid = c.post("/v1/tasks/testing.serve_sum/jobs", json={"parameters": {"data": "numbers.txt"}}).json()[
                "job"]["id"]
            done = _wait(c, jid, lambda j: j["status"] in ("succeeded", "failed"))
            assert done["status"] == "succeeded"
            assert c.get(f"/v1/jobs/{jid}/result").json()["payload"]["total"] == 6.0
            slow = c.post("/v1/tasks/testing.serve_slow/jobs",
                          json={"parameters": {"steps": 600, "step_s": 0.1}}).json()["job"]["id"]
            queued = c.post("/v1/tasks/testing.serve_slow/jobs",
                            json={"parameters": {"steps": 1, "step_s": 0.1}}).json()["job"]["id"]
            running = _wait(c, slow, lambda j: j["progress"] is not None)
            assert running["status"] == "running" and running["run_id"]
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
        proc.wait(timeout=30)
        time.sleep(1.0)  # the worker notices its service is gone and exits
        proc = _start(home, root, port, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:
            after = c.get(f"/v1/jobs/{slow}").json()["job"]
            assert after["status"] == "interrupted" and after["run_id"] == running["run_id"]
            run = c.get(f"/v1/runs/{after['run_id']}").json()
            assert run["status"] == "interrupted" and run["error"]["type"] == "Interrupted"
            never = c.get(f"/v1/jobs/{queued}").json()["job"]
            assert never["status"] == "interrupted" and never["run_id"]
            assert c.get(f"/v1/runs/{never['run_id']}").json()["status"] == "interrupted"
            assert c.get(f"/v1/jobs/{jid}").json()["job"]["status"] == "succeeded"  # finished work stays
            # the service still works after the restart
            j2 = c.post("/v1/tasks/testing.serve_sum/jobs", json={"parameters": {"data": "numbers.txt"}}).json()[
                "job"]["id"]
            assert _wait(c, j2, lambda j: j["status"] in ("succeeded", "failed"))["status"] == "succeeded"
            # a token revoked from the command line is refused by the running service within seconds
            listed = _cli(home, "tokens", "list")["tokens"]
            assert [t["name"] for t in listed] == ["ci"] and "hash" not in listed[0]
            assert _cli(home, "tokens", "revoke", made["id"])["token"]["revoked"] is True
            time.sleep(2.5)
            assert c.get("/v1/runs").status_code == 401
        # a stopped service (SIGTERM) does not wait for a long task: it stops it and records it
        from hpcopt.serve.tokens import TokenStore
        from hpcopt.store import open_store

        store = open_store(f"sqlite:///{store_db}", home=home)
        token2 = TokenStore(store).create("read,run")[0]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token2}"},
                          timeout=30) as c:
            long = c.post("/v1/tasks/testing.serve_slow/jobs",
                          json={"parameters": {"steps": 6000, "step_s": 0.1}}).json()["job"]["id"]
            behind = c.post("/v1/tasks/testing.serve_slow/jobs",
                            json={"parameters": {"steps": 1, "step_s": 0.1}}).json()["job"]["id"]
            run_id = _wait(c, long, lambda j: j["progress"] is not None)["run_id"]
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM) and time.time() - t0 < 30
        assert store.get_run(run_id).status == "interrupted"
        import sqlalchemy as sa

        from hpcopt.serve.tables import jobs as jobs_table

        with store._engine.connect() as conn:
            rows = {r.id: r.status for r in conn.execute(sa.select(jobs_table))}
        assert rows[long] == "interrupted" and rows[behind] == "interrupted"
        assert not [r for r in store.list_runs(limit=100, reap=False) if r.status == "running"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_serve_refuses_a_bad_setting_with_one_message(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hpcopt", "serve", "--data-root", str(tmp_path / "nope")],
                       capture_output=True, text=True, env=_env(tmp_path / "home"), timeout=300)
    assert r.returncode == 64 and "is not a directory" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "hpcopt", "tokens", "create", "--scope", "root", "--json"],
                       capture_output=True, text=True, env=_env(tmp_path / "home"), timeout=300)
    assert r.returncode == 64 and json.loads(r.stdout)["error"]["message"].startswith("unknown scope 'root'")
