"""Surrogate cost model error on the Kernel Tuner caches: train on a random 10 % / 20 %
of the valid configurations, test on the rest; the median predictor is the baseline.

    python benchmarks/tune_cost_model.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcopt.tune.model import evaluate_cost_model
from hpcopt.tune.replay import load_cache

CACHES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "autotune_cache"


def main() -> None:
    from _record import add_out_option, emit  # beside this script
    import argparse

    ap = argparse.ArgumentParser()
    add_out_option(ap)
    a = ap.parse_args()
    out = {"benchmark": "tune_cost_model", "spaces": {}}
    for f in ("kt_convolution_A100.json.gz", "kt_pnpoly_RTX3090.json.gz"):
        c = load_cache(CACHES / f)
        ok = np.isfinite(c.values)
        cfgs = [c.space.to_config(p) for p, o in zip(c.points, ok) if o]
        vals = c.values[ok]
        out["spaces"][c.name] = {f"train_{int(fr * 100)}pct": evaluate_cost_model(c.space, cfgs, vals, train_fraction=fr,
                                                                                  random_state=0)
                                 for fr in (0.1, 0.2)}
    emit(out, a.out, seed=0, libraries=("sklearn",))


if __name__ == "__main__":
    main()
