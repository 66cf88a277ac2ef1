"""Overhead of a trivial MCP tool call over stdio (issue 12: median under 20 ms); prints JSON.

The tool is ``bench_noop``, the task ``bench.noop`` defined here: it returns an empty
payload, so what a call costs is the face's own work -- JSON-RPC over the pipe, argument
validation, the worker thread, ``Result.to_dict`` and its check against the output schema,
and (with ``record``) the store's two writes. The server is this file run with ``--serve``
(``hpcopt.mcp.serve_stdio`` over that one task) in a subprocess with a private
``HPCOPT_HOME``; the client is the SDK's own ``mcp.Client`` over ``StdioServerParameters``.

For each of ``record`` false and true, ``--warmup`` then ``--calls`` rounds, each one direct
``hpcopt.store.runner.run_task`` call (no MCP at all), one call over stdio and one over the
SDK's in-memory transport (round robin, so all three see the same load). The overhead is the
median over rounds of (stdio call - direct call).

    python benchmarks/mcp_overhead.py --calls 300 --out benchmarks/results/mcp_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hpcopt.core.tasks import task


@task("bench.noop", seed=None)
def noop() -> dict:
    """Do nothing (the trivial tool call the MCP overhead is measured on)."""
    return {}


def _stats(samples_s: list[float]) -> dict:
    ms = sorted(s * 1e3 for s in samples_s)
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3),
            "min_ms": round(ms[0], 3), "n": len(ms)}


async def _call(client, record: bool) -> float:
    t0 = time.perf_counter()
    r = await client.call_tool("bench_noop", {"record": record})
    dt = time.perf_counter() - t0
    if r.is_error:
        raise SystemExit(f"bench_noop failed: {r.content[0].text}")
    return dt


def _direct(store, record: bool) -> float:
    from hpcopt.store.runner import run_task

    t0 = time.perf_counter()
    run_task("bench.noop", record=record, store=store)
    return time.perf_counter() - t0


def measure(calls: int, warmup: int) -> dict:
    import anyio
    import mcp

    from hpcopt.mcp import build_server
    from hpcopt.store import open_store

    home = Path(tempfile.mkdtemp(prefix="hpcopt-mcp-bench-"))
    env = {"HPCOPT_HOME": str(home / "stdio"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(Path(__file__).resolve()), "--serve"],
                                       env=env)
    store = open_store(f"sqlite:///{home / 'direct' / 'store.db'}", home=home / "direct")
    mem_store = open_store(f"sqlite:///{home / 'memory' / 'store.db'}", home=home / "memory")
    server = build_server(tasks=["bench.noop"], store=mem_store)
    out: dict = {"calls": calls, "warmup": warmup, "python": sys.version.split()[0], "cpus": os.cpu_count(),
                 "load_average_before": [round(x, 2) for x in os.getloadavg()]}

    async def main():
        async with mcp.Client(params) as stdio, mcp.Client(server) as memory:
            for record in (False, True):
                times: dict[str, list[float]] = {"stdio": [], "in_memory": [], "direct": []}
                # round robin, so the three see the same load on a shared machine
                for i in range(warmup + calls):
                    d = _direct(store, record)
                    s = await _call(stdio, record)
                    m = await _call(memory, record)
                    if i >= warmup:
                        for k, v in (("direct", d), ("stdio", s), ("in_memory", m)):
                            times[k].append(v)
                key = "record" if record else "no_record"
                out[key] = {k: _stats(v) for k, v in times.items()}
                out[key]["stdio_overhead_median_ms"] = round(
                    statistics.median(s - d for s, d in zip(times["stdio"], times["direct"])) * 1e3, 3)

    anyio.run(main)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out["target_ms"] = 20.0
    out["meets_target"] = all(out[k]["stdio_overhead_median_ms"] < 20.0 for k in ("no_record", "record"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=200, help="timed calls per transport and record setting")
    ap.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the stdio server subprocess
    a = ap.parse_args()
    if a.serve:
        from hpcopt.mcp import serve_stdio

        serve_stdio(tasks=["bench.noop"])
        return
    res = measure(a.calls, a.warmup)
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
