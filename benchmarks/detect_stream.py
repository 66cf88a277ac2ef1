"""Streaming with bad lines: throughput and loss of `hpcopt detect stream`'s monitor, clean vs garbled.

Fits MAD on one SMD machine's training half, turns its test half into JSON lines, inserts a
fraction of bad lines (random bytes, half lines, NaN, text, wrong value count, non-UTF-8,
NUL) and feeds both streams through :class:`hpcopt.detect.stream.StreamMonitor` with the
default ``skip`` policy. Prints JSON: lines/s of each, the good lines scored, and whether
every good line got the clean run's score.

    python benchmarks/detect_stream.py --machine machine-1-6 --garbage 0.1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hpcopt.data.telemetry import read_matrix
from hpcopt.detect import make_detector
from hpcopt.detect.stream import StreamMonitor, jsonl_samples

SMD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry" / "smd"


def garble(good: list[bytes], frac: float, seed: int) -> tuple[list[bytes], int]:
    rng = np.random.default_rng(seed)
    out, n_bad = [], 0
    for line in good:
        if rng.random() < frac / (1 - frac):
            kind = n_bad % 7
            obj = json.loads(line)
            bad = [bytes(rng.integers(0, 256, 40, dtype=np.uint8)).replace(b"\n", b"?") + b"\n",
                   line[: len(line) // 2] + b"\n",
                   (json.dumps({**obj, "values": [float("nan")] + obj["values"][1:]}) + "\n").encode(),
                   b"connection reset by peer\n",
                   (json.dumps({**obj, "values": obj["values"][:-1]}) + "\n").encode(),
                   line.replace(b'"values"', b'"v\xe4lues"'),
                   line[:10] + b"\x00" + line[10:]][kind]
            out.append(bad)
            n_bad += 1
        out.append(line)
    return out, n_bad


def run(det, lines: list[bytes]) -> tuple[float, list[float]]:
    mon = StreamMonitor(det)
    scores = []
    t0 = time.perf_counter()
    for smp in jsonl_samples(lines):
        before = mon.single.index
        mon.feed(smp)
        if mon.single.index > before:
            scores.append(mon.single.last_score)
    return time.perf_counter() - t0, scores


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="machine-1-6", help="SMD machine (train and test halves in ../shared)")
    ap.add_argument("--garbage", type=float, default=0.1, help="fraction of bad lines in the garbled stream")
    ap.add_argument("--rows", type=int, default=5000, help="test rows streamed (0: all)")
    ap.add_argument("--seed", type=int, default=0, help="where the bad lines go")
    add_out_option(ap)
    args = ap.parse_args()
    X = read_matrix(SMD / "train" / f"{args.machine}.txt.gz")
    T = read_matrix(SMD / "test" / f"{args.machine}.txt.gz")
    if args.rows:
        T = T[: args.rows]
    det = make_detector("mad", random_state=0).fit(X)
    good = [(json.dumps({"timestamp": i, "values": [float(v) for v in r]}) + "\n").encode() for i, r in enumerate(T)]
    garbled, n_bad = garble(good, args.garbage, args.seed)
    t_clean, s_clean = run(det, good)
    t_bad, s_bad = run(det, garbled)
    emit({
        "machine": args.machine, "good_lines": len(good), "bad_lines": n_bad,
        "bad_fraction": round(n_bad / len(garbled), 4),
        "clean_lines_per_s": round(len(good) / t_clean), "garbled_lines_per_s": round(len(garbled) / t_bad),
        "good_lines_scored": len(s_bad), "scores_identical_to_clean": s_bad == s_clean,
    }, args.out, seed=args.seed)


if __name__ == "__main__":
    main()
