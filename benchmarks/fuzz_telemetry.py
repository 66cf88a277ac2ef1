"""Longer mutation run of the telemetry readers than the test suite's: prints JSON counts.

    python benchmarks/fuzz_telemetry.py --mutants 1000 --seed 0

Each mutant of a real sample (tests/data/telemetry: SMD matrix, labels, interpretation
labels, LDMS meminfo, E2EWatch table, JSON lines built from the SMD slice, the gzip stream
itself) is read by its reader. A reader may raise InputError or return a result; anything
else (another exception) is counted under ``other_exceptions`` with its first message.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from pathlib import Path

from hpcopt.data import telemetry as tm
from hpcopt.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "telemetry"
TOKENS = [b"inf", b"nan", b"1e999", b"True", b",", b"\n", b"\x00", b"\xff\xfe", b"\xc3\xa9", b"\xe9", b"-", b"1_0",
          b'"', b"\r", b" ", b"{", b"}", b"null", b"NaN", b"[", b"]", b":"]


def mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(max(1, len(data)))
        op = rng.choice(("replace", "insert", "delete", "truncate", "dupline"))
        if op == "replace" and data:
            data[i] = rng.randrange(256)
        elif op == "insert":
            data[i:i] = rng.choice(TOKENS)
        elif op == "delete":
            del data[i:i + rng.randint(1, 16)]
        elif op == "truncate":
            del data[i:]
        else:
            s = bytes(data).rfind(b"\n", 0, i) + 1
            e = bytes(data).find(b"\n", i)
            e = len(data) if e < 0 else e + 1
            data[e:e] = data[s:e]
    return bytes(data)


def _jsonl() -> bytes:
    X = tm.read_matrix(DATA / "smd" / "test" / "machine-1-6.txt.gz")[:40, :5]
    return "".join(json.dumps({"timestamp": 60 * i, "values": row.tolist()}) + "\n" for i, row in enumerate(X)).encode()


def cases() -> dict:
    plain = lambda p: gzip.decompress(p.read_bytes())  # noqa: E731
    smd = DATA / "smd"
    return {
        "matrix": (plain(smd / "test" / "machine-1-6.txt.gz"), "m.txt", tm.read_matrix),
        "matrix_gzip_stream": ((smd / "train" / "machine-1-6.txt.gz").read_bytes(), "m.txt.gz", tm.read_matrix),
        "labels": (plain(smd / "test_label" / "machine-1-6.txt.gz"), "l.txt", lambda p: tm.read_labels(p, n_rows=300)),
        "interpretation": (plain(smd / "interpretation_label" / "machine-1-6.txt.gz"), "i.txt",
                           lambda p: tm.read_interpretation(p, n_rows=300, n_metrics=38)),
        "ldms": (plain(DATA / "hpas" / "runs" / "ExaMiniMD" / "meminfo.csv.gz"), "meminfo.csv",
                 lambda p: tm.read_ldms_csv(p, repairs=tm.RepairLog())),
        "table": (plain(DATA / "ldms_cray_aries_sample_e2ewatch.csv.gz"), "t.csv", tm.read_telemetry),
        "jsonl": (_jsonl(), "x.jsonl", tm.read_telemetry),
    }


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=500, help="mutants per reader")
    ap.add_argument("--seed", type=int, default=0)
    add_out_option(ap)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = {"mutants_per_reader": args.mutants, "seed": args.seed, "readers": {}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (raw, fname, read) in cases().items():
            counts = {"input_error": 0, "read": 0, "other_exceptions": 0, "first_other": None}
            p = Path(tmp) / fname
            for _ in range(args.mutants):
                p.write_bytes(mutate(raw, rng))
                try:
                    read(p)
                    counts["read"] += 1
                except InputError:
                    counts["input_error"] += 1
                except Exception as exc:  # noqa: BLE001 - what the benchmark counts
                    counts["other_exceptions"] += 1
                    counts["first_other"] = counts["first_other"] or f"{type(exc).__name__}: {exc}"[:200]
            out["readers"][name] = counts
    out["total_mutants"] = args.mutants * len(out["readers"])
    out["total_other_exceptions"] = sum(c["other_exceptions"] for c in out["readers"].values())
    out["seconds"] = round(time.perf_counter() - t0, 1)
    emit(out, args.out, seed=args.seed)


if __name__ == "__main__":
    main()
