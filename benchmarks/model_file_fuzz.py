"""Fuzz the LightGBM text check of saved runtime models against LightGBM itself; prints JSON.

A small GBMEstimator is trained and saved; each of ``--n`` mutants of its booster files (a
random byte flip, a run of random bytes, a truncation, or a deleted or duplicated line)
is taken *as if its checksum had been recomputed* (a deliberate edit, not disk damage) and
given to :func:`hpcopt.estimate.model_io.check_lightgbm_text`. The mutants it accepts are
parsed and used for prediction by LightGBM in worker subprocesses; a worker that dies
(abort, segfault) is a crash the check let through and is counted and restarted. With
``--unchecked`` the refused mutants go to LightGBM too, which shows what the check prevents.

    python benchmarks/model_file_fuzz.py --n 300 --seed 0
    python benchmarks/model_file_fuzz.py --n 300 --seed 0 --unchecked
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_WORKER = r"""
import sys, lightgbm as lgb, numpy as np
X = np.random.default_rng(0).normal(size=(50, int(sys.argv[1])))
for path in sys.argv[2:]:
    print("start", path, flush=True)
    try:
        b = lgb.Booster(model_str=open(path, encoding="latin-1").read())
        b.predict(X)
        b.predict(X, pred_contrib=True)
        print("ok", path, flush=True)
    except Exception as exc:
        print("error", path, flush=True)
"""


def _mutate(text: str, rng: np.random.Generator) -> str:
    raw = bytearray(text.encode())
    kind = int(rng.integers(5))
    if kind == 0:
        raw[int(rng.integers(len(raw)))] ^= int(rng.integers(1, 256))
    elif kind == 1:
        i = int(rng.integers(len(raw) - 8))
        raw[i:i + 8] = bytes(rng.choice(list(b"0123456789-. =\nabc"), 8).tolist())
    elif kind == 2:
        raw = raw[: int(rng.integers(len(raw)))]
    else:
        lines = bytes(raw).split(b"\n")
        i = int(rng.integers(len(lines)))
        if kind == 3:
            del lines[i]
        else:
            lines.insert(i, lines[i])
        raw = bytearray(b"\n".join(lines))
    return raw.decode("latin-1")


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="Mutants.")
    ap.add_argument("--seed", type=int, default=0, help="Mutation seed.")
    ap.add_argument("--unchecked", action="store_true", help="Also give refused mutants to LightGBM.")
    add_out_option(ap)
    args = ap.parse_args()

    from hpcopt.data.workload import Workload
    from hpcopt.errors import InputError
    from hpcopt.estimate.gbm import GBMEstimator
    from hpcopt.estimate.model_io import check_lightgbm_text

    rng = np.random.default_rng(0)
    n = 500
    user = rng.integers(1, 12, n)
    runtime = np.round(np.exp(3 + user * 0.5 + rng.normal(0, 0.4, n)))
    w = Workload.from_arrays(submit=np.round(np.cumsum(rng.exponential(300, n))), wait=np.zeros(n),
                             runtime=runtime, req_time=np.ceil(runtime * 4 / 60) * 60,
                             req_procs=rng.integers(1, 9, n), user=user)
    tmp = Path(tempfile.mkdtemp())
    model = GBMEstimator(n_estimators=8, min_train_jobs=100, random_state=1).fit(w)
    model.save(tmp / "m")
    texts = [p.read_text() for p in sorted((tmp / "m").glob("*.txt"))]
    n_features = len(model.feature_names_)
    mrng = np.random.default_rng(args.seed)
    refused = 0
    to_run: list[Path] = []
    accepted: set[str] = set()
    t0 = time.time()
    for i in range(args.n):
        text = _mutate(texts[i % len(texts)], mrng)
        path = tmp / f"mut{i:05d}.txt"
        path.write_text(text, encoding="latin-1")
        try:
            check_lightgbm_text(text, source=str(path), n_features=n_features)
            accepted.add(str(path))
            to_run.append(path)
        except InputError:
            refused += 1
            if args.unchecked:
                to_run.append(path)
    check_s = time.time() - t0
    outcome: dict[str, str] = {}
    pending = [str(p) for p in to_run]
    while pending:
        proc = subprocess.run([sys.executable, "-c", _WORKER, str(n_features), *pending], capture_output=True,
                              text=True, errors="replace")
        current = None
        for ln in proc.stdout.splitlines():
            kind, _, path = ln.partition(" ")
            if kind not in ("start", "ok", "error"):  # LightGBM's own log lines
                continue
            if kind == "start":
                current = path
            else:
                outcome[path] = kind
                current = None
        if proc.returncode == 0:
            break
        if current is None:  # died outside a mutant: give up on the rest
            outcome.update({p: "worker-died" for p in pending if p not in outcome})
            break
        outcome[current] = f"crash ({proc.returncode})"
        pending = pending[pending.index(current) + 1:]

    def count(paths, what):
        return sum(1 for p in paths if outcome.get(p, "").startswith(what))

    acc = [p for p in outcome if p in accepted]
    ref = [p for p in outcome if p not in accepted]
    emit({
        "mutants": args.n, "seed": args.seed, "refused_by_check": refused, "accepted_by_check": len(accepted),
        "accepted": {"lightgbm_ok": count(acc, "ok"), "lightgbm_error": count(acc, "error"),
                     "crashes": count(acc, "crash")},
        "refused_given_to_lightgbm_anyway": ({"ok": count(ref, "ok"), "error": count(ref, "error"),
                                              "crashes": count(ref, "crash")} if args.unchecked else None),
        "check_seconds_per_mutant": round(check_s / max(args.n, 1), 5),
    }, args.out, seed=args.seed)


if __name__ == "__main__":
    main()
