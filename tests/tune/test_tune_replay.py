import gzip
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.methodology import (
    compare_strategies,
    cutoff_budget,
    random_search_curve,
    replay_run,
    score_curve,
)
from hpcopt.tune.replay import load_cache
from hpcopt.tune.results import Status
from hpcopt.tune.strategies import STRATEGIES

# these tests need the 'tune' extra: pip install -e '.[test,tune]'
pytest.importorskip("sklearn")
pytest.importorskip("optuna")
pytest.importorskip("cmaes")

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "autotune_cache"


def write_cache(path: Path, *, gz: bool = False, bowl: bool = True) -> Path:
    """A 2-parameter Kernel Tuner cache: a smooth bowl with two failures and one restricted point."""
    xs, ys = [1, 2, 4, 8, 16, 32], [0, 1, 2, 3, 4, 5, 6]
    cache = {}
    for x, y in itertools.product(xs, ys):
        if (x, y) == (32, 6):
            continue  # restricted: absent from the cache
        key = f"{x},{y}"
        t = 1.0 + (math.log2(x) - 3) ** 2 + 0.5 * (y - 2) ** 2 if bowl else float(x * 10 + y)
        rec = {"x": x, "y": y, "time": t, "times": [t, t]}
        if (x, y) in ((1, 0), (2, 6)):
            rec["time"] = "RuntimeFailedConfig" if x == 1 else "CompilationFailedConfig"
        cache[key] = rec
    data = {"device_name": "toy", "kernel_name": "bowl", "problem_size": [1], "tune_params_keys": ["x", "y"],
            "tune_params": {"x": xs, "y": ys}, "objective": "time", "cache": cache}
    raw = json.dumps(data).encode()
    if gz:
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def test_load_cache_statuses_and_lookup(tmp_path):
    c = load_cache(write_cache(tmp_path / "toy.json.gz", gz=True))
    assert len(c.points) == 41 and c.n_valid == 39
    assert c.optimum == pytest.approx(1.0)  # x = 8, y = 2
    assert c.lookup({"x": 8, "y": 2}).value == pytest.approx(1.0)
    assert c.lookup({"x": 1, "y": 0}).status is Status.RUNTIME_ERROR
    assert c.lookup({"x": 2, "y": 6}).status is Status.COMPILE_ERROR
    assert c.lookup({"x": 32, "y": 6}).status is Status.INVALID
    assert not c.space.is_valid({"x": 32, "y": 6})
    assert c.name == "toy"


def test_unfinished_cache_is_accepted_and_garbage_rejected(tmp_path):
    p = write_cache(tmp_path / "toy.json")
    text = p.read_text()
    (tmp_path / "cut.json").write_text(text[:-2] + ",")  # Kernel Tuner leaves the braces for the end
    assert len(load_cache(tmp_path / "cut.json").points) == 41
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        load_cache(tmp_path / "bad.json")
    (tmp_path / "nokeys.json").write_text(json.dumps({"cache": {}}))
    with pytest.raises(InputError, match="tune_params_keys"):
        load_cache(tmp_path / "nokeys.json")
    with pytest.raises(InputError, match="no such file"):
        load_cache(tmp_path / "missing.json")


def test_random_curve_is_the_exact_expectation():
    class Tiny:
        values = np.array([3.0, 1.0, 2.0])

    # k = 1: mean of all = 2; k = 2: min over the 3 pairs (1,2,3 -> 1,1,2) = 4/3; k = 3: 1
    r = random_search_curve(Tiny, 3)
    assert r.tolist() == pytest.approx([2.0, 4 / 3, 1.0])


def test_random_curve_matches_simulation(tmp_path):
    c = load_cache(write_cache(tmp_path / "toy.json"))
    rng = np.random.default_rng(0)
    vals = np.where(np.isfinite(c.values), c.values, np.nanmax(c.values))
    sims = np.array([np.minimum.accumulate(vals[rng.permutation(vals.size)][:10]) for _ in range(20000)])
    assert random_search_curve(c, 10) == pytest.approx(sims.mean(axis=0), rel=0.02)


def test_score_of_oracle_and_of_worst(tmp_path):
    c = load_cache(write_cache(tmp_path / "toy.json"))
    b = 8
    assert score_curve(c, np.full(b, c.optimum)).mean() == pytest.approx(1.0)
    worst = score_curve(c, np.full(b, np.inf))  # never found anything valid
    assert (worst < 0).all()


def test_random_search_scores_zero_in_expectation(tmp_path):
    c = load_cache(write_cache(tmp_path / "toy.json"))
    b = cutoff_budget(c)
    scores = [score_curve(c, replay_run("random", c, b, s)["trace"]).mean() for s in range(300)]
    assert abs(np.mean(scores)) < 3 * np.std(scores) / np.sqrt(len(scores)) + 0.02


def test_cutoff_budget_by_hand(tmp_path):
    c = load_cache(write_cache(tmp_path / "toy.json", bowl=False))
    # values 10x + y for valid points; optimum 11 (x=1,y=1), median of the 39 valid ones
    finite = np.sort(c.values[np.isfinite(c.values)])
    opt, med = finite[0], np.median(finite)
    good = int((finite <= opt + (med - opt) * 0.05).sum())
    assert cutoff_budget(c, 0.95) == math.ceil((41 + 1) / good - 1)
    with pytest.raises(ConfigError):
        cutoff_budget(c, 1.5)


@pytest.mark.parametrize("name", [n for n, s in STRATEGIES.items() if not s.multi_objective])
def test_every_strategy_replays_and_finds_the_bowl_minimum(tmp_path, name):
    c = load_cache(write_cache(tmp_path / "toy.json"))
    run = replay_run(name, c, len(c.points), random_state=1)
    tr = run["trace"]
    assert tr.size == len(c.points)
    assert np.all(np.diff(tr[np.isfinite(tr)]) <= 0)  # best so far never gets worse
    assert tr[-1] == pytest.approx(c.optimum)  # the whole space is measured


def test_compare_strategies_json_shape(tmp_path):
    c = load_cache(write_cache(tmp_path / "toy.json"))
    res = compare_strategies([c], ["random", "greedy"], repeats=3, random_state=5)
    assert set(res["scores"]) == {"random", "greedy"} and res["default_strategy"] == "bo"
    s = res["spaces"][0]["strategies"]["greedy"]
    assert s["seeds"] == [5, 1005, 2005] and len(s["mean_best_curve"]) == res["spaces"][0]["budget"]
    with pytest.raises(ConfigError, match="unknown strategy"):
        compare_strategies([c], ["nope"])
    with pytest.raises(ConfigError, match="multi-objective"):
        compare_strategies([c], ["nsga2"])


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_real_caches_load_with_provenance_counts():
    conv = load_cache(SHARED / "kt_convolution_A100.json.gz")
    pnp = load_cache(SHARED / "kt_pnpoly_RTX3090.json.gz")
    assert (len(conv.points), conv.n_valid) == (4362, 4201)  # PROVENANCE.md
    assert (len(pnp.points), pnp.n_valid) == (4092, 3774)
    assert conv.space.cartesian_size() == 10240 and len(conv.space.valid_points()) == 4362
    assert conv.optimum == pytest.approx(0.55360, rel=1e-4)
    assert pnp.optimum == pytest.approx(8.71424, rel=1e-5)
    assert sum(s is Status.COMPILE_ERROR for s in conv.statuses) == 6


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_default_strategy_beats_expected_random_search_on_pnpoly():
    pnp = load_cache(SHARED / "kt_pnpoly_RTX3090.json.gz")
    b = 40
    finals = [replay_run("bo", pnp, b, s)["trace"][-1] for s in (11, 12)]
    assert np.mean(finals) < random_search_curve(pnp, b)[-1]
