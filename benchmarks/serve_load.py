"""Load on the REST service: concurrent clients on read routes and task submission.

Starts the real ``hpcopt serve`` (uvicorn, loopback, a private store), gives every client
its own ``read,run`` token, and for ``--duration`` seconds lets ``--clients`` clients loop:
``--submitters`` of them submit the ``bench.sum`` task (defined below, imported by the
service and its workers with ``--import serve_load``), the others read (a job, a run, the
run list, the task list, in turn). Then it waits for the worker pool to drain and checks
that every accepted job was recorded in the store as a succeeded run. Prints JSON.

    python benchmarks/serve_load.py --clients 50 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hpcopt.core.tasks import task


@task("bench.sum", inputs=("data",))
def bench_sum(data: str, scale: float = 1.0) -> dict:
    """Sum the numbers of a small file (the unit of work the load test submits)."""
    return {"total": sum(float(x) for x in Path(data).read_text().split()) * scale}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class _Conn:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be, so that the client's own
    CPU (on the same two cores) takes as little as possible from the service being measured."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.auth = host, port, f"Bearer {token}"
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {self.auth}\r\n"
                f"Content-Length: {len(body)}\r\n" + ("Content-Type: application/json\r\n" if body else "") + "\r\n")
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"connection" and v.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.reader = self.writer = None
        return status, data


async def _load(host: str, port: int, tokens: list[str], duration: float, submitters: int, seed_job: str,
                seed_run: str):
    stats = {"read": [], "submit": []}
    codes: dict[str, int] = {}
    accepted: list[str] = []
    reads = [f"/v1/jobs/{seed_job}", f"/v1/runs/{seed_run}", "/v1/runs?limit=20", "/v1/tasks"]
    conns = [_Conn(host, port, t) for t in tokens]
    # every token is verified (one scrypt) once before the clock starts, as in a service
    # that has been up for a while
    await asyncio.gather(*(c.request("GET", "/v1/tasks") for c in conns))
    t_end = time.perf_counter() + duration

    async def one(i: int) -> None:
        k = 0
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            if i < submitters:
                body = json.dumps({"parameters": {"data": "numbers.txt", "scale": float(k)}}).encode()
                status, data = await conns[i].request("POST", "/v1/tasks/bench.sum/jobs", body)
                kind = "submit"
                if status == 202:
                    accepted.append(json.loads(data)["job"]["id"])
            else:
                status, _ = await conns[i].request("GET", reads[(i + k) % len(reads)])
                kind = "read"
            stats[kind].append(time.perf_counter() - t0)
            codes[str(status)] = codes.get(str(status), 0) + 1
            k += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(len(tokens))))
    elapsed = time.perf_counter() - t0
    return stats, codes, accepted, elapsed


def _cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_out_option(ap)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--submitters", type=int, default=5, help="clients that submit tasks; the rest read")
    ap.add_argument("--workers", type=int, default=2, help="the service's worker processes")
    ap.add_argument("--drain-timeout", type=float, default=900.0)
    args = ap.parse_args()

    import httpx

    from hpcopt.serve.tokens import TokenStore
    from hpcopt.store import open_store

    work = Path(tempfile.mkdtemp(prefix="hpcopt-serve-load-"))
    home, root = work / "home", work / "root"
    root.mkdir()
    (root / "numbers.txt").write_text(" ".join(str(i) for i in range(100)) + "\n")
    store = open_store(f"sqlite:///{home / 'store.db'}", home=home)
    ts = TokenStore(store)
    tokens = [ts.create("read,run", name=f"client-{i}")[0] for i in range(args.clients)]
    port = _free_port()
    env = {**os.environ, "HPCOPT_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])}
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "hpcopt", "serve", "--port", str(port), "--data-root", str(root),
                             "--import", "serve_load", "--workers", str(args.workers)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() - t0 > 120:
                raise SystemExit("the service did not start: " + (work / "serve.log").read_text()[-2000:])
            time.sleep(0.2)
        h = {"Authorization": f"Bearer {tokens[0]}"}
        seed = httpx.post(f"{base}/v1/tasks/bench.sum/jobs", headers=h,
                          json={"parameters": {"data": "numbers.txt"}}).json()["job"]["id"]
        while (job := httpx.get(f"{base}/v1/jobs/{seed}", headers=h).json()["job"])["status"] != "succeeded":
            time.sleep(0.2)
        load_before = os.getloadavg()[0]
        cpu0, own0 = _cpu_s(proc.pid), time.process_time()
        stats, codes, accepted, elapsed = asyncio.run(
            _load("127.0.0.1", port, tokens, args.duration, args.submitters, seed, job["run_id"]))
        server_cpu, client_cpu = _cpu_s(proc.pid) - cpu0, time.process_time() - own0
        load_after = os.getloadavg()[0]
        # drain: every accepted job must end as a succeeded run in the store
        t_drain = time.time()
        pending = set(accepted)
        while pending and time.time() - t_drain < args.drain_timeout:
            jobs = {j["id"]: j for j in httpx.get(f"{base}/v1/jobs", headers=h, params={"limit": 1000}).json()["jobs"]}
            for jid in list(pending):
                j = jobs.get(jid) or httpx.get(f"{base}/v1/jobs/{jid}", headers=h).json()["job"]
                if j["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
                    pending.discard(jid)
            time.sleep(0.5)
        drain_s = time.time() - t_drain
        metrics = httpx.get(f"{base}/metrics", headers=h).text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    import sqlalchemy as sa

    from hpcopt.serve.tables import jobs as jobs_table

    with store._engine.connect() as c:
        rows = {r.id: r for r in c.execute(sa.select(jobs_table).where(jobs_table.c.id.in_(accepted)))}
    recorded = 0
    for jid in accepted:
        row = rows.get(jid)
        if row is not None and row.run_id and store.get_run(row.run_id).status == "succeeded":
            recorded += 1
    five = sum(n for c, n in codes.items() if c.startswith("5"))
    reads = stats["read"]
    out = {
        "schema": "bench.serve_load/1",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "clients": args.clients, "submitters": args.submitters, "duration_s": round(elapsed, 2),
        "service_workers": args.workers,
        "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
        "service_cpu_s": round(server_cpu, 2), "client_cpu_s": round(client_cpu, 2),
        "service_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(stats["read"]) + len(stats["submit"])), 3),
        "reads": {"n": len(reads), "per_s": round(len(reads) / elapsed, 1),
                  "p50_ms": round(1000 * _pct(reads, 0.5), 2) if reads else None,
                  "p99_ms": round(1000 * _pct(reads, 0.99), 2) if reads else None},
        "submits": {"n": len(stats["submit"]), "per_s": round(len(stats["submit"]) / elapsed, 1),
                    "p99_ms": round(1000 * _pct(stats["submit"], 0.99), 2) if stats["submit"] else None},
        "status_codes": codes, "5xx": five,
        "accepted_jobs": len(accepted), "recorded_succeeded_runs": recorded,
        "all_accepted_recorded": recorded == len(accepted), "drain_s": round(drain_s, 1),
        "pass": {"reads_per_s>=500": len(reads) / elapsed >= 500,
                 "read_p99<100ms": bool(reads) and _pct(reads, 0.99) < 0.1, "zero_5xx": five == 0,
                 "every_accepted_recorded": recorded == len(accepted)},
        "queue_metric_seen": "hpcopt_jobs_queue_depth" in metrics,
    }
    emit(out, args.out)


if __name__ == "__main__":
    main()
