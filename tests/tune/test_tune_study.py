import multiprocessing
import os
import signal
import sqlite3
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners import PythonRunner
from hpcopt.tune.space import Categorical, Integer, PowerOfTwo, SearchSpace
from hpcopt.tune.storage import Storage
from hpcopt.tune.strategies import get_strategy
from hpcopt.tune.study import Study, pareto_front

# these tests need the 'tune' extra: pip install -e '.[test,tune]'
pytest.importorskip("sklearn")
pytest.importorskip("optuna")
pytest.importorskip("cmaes")


def bowl(x, y):
    if x == 2 and y == 2:
        raise RuntimeError("this configuration crashes")
    return (x - 5) ** 2 + (y - 3) ** 2 + 1.0


def dead_owner():
    """host:pid of a process that has exited."""
    import socket
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return f"{socket.gethostname()}:{p.pid}"


def space():
    return SearchSpace([Integer("x", 0, 9), Integer("y", 0, 6)], ["x + y <= 13"])


class Counting:
    """A picklable runner that counts calls in a file (to prove nothing is measured twice)."""

    def __init__(self, path):
        self.path = path

    def fingerprint(self):
        return "counting-bowl"

    def __call__(self, config):
        with open(self.path, "a") as fh:
            fh.write(f"{config['x']},{config['y']}\n")
        return PythonRunner(bowl, timing="output")(config)


def test_optimize_finds_minimum_and_records_typed_failures(tmp_path):
    st_ = Study(space(), Counting(tmp_path / "calls"), strategy="grid", storage=str(tmp_path / "s.db"))
    out = st_.optimize(200)
    assert out["trials"] == len(space().valid_points()) == 67
    assert st_.best["value"] == 1.0 and st_.best["config"] == {"x": 5, "y": 3}
    assert out["status_counts"]["runtime_error"] == 1
    bad = [t for t in st_.trials if not t.result.ok]
    assert bad[0].config == {"x": 2, "y": 2} and "crashes" in bad[0].result.message


def test_resume_counts_old_trials_and_redoes_the_interrupted_one(tmp_path):
    db = str(tmp_path / "s.db")
    calls = tmp_path / "calls"
    s1 = Study(space(), Counting(calls), strategy="random", name="b", storage=db, random_state=3)
    s1.optimize(10)
    # simulate a kill during a measurement: a trial left 'running' by a process that is gone
    nxt = s1.ask()
    assert nxt is not None
    s1.storage.close()
    sqlite3.connect(db, isolation_level=None).execute("UPDATE trials SET owner=? WHERE state='running'",
                                                      (dead_owner(),))
    s2 = Study(space(), Counting(calls), strategy="random", name="b", storage=db, random_state=3)
    assert s2.resumed_trials == 10 and s2.interrupted == 1
    s2.optimize(25)
    trials = s2.trials
    assert len(trials) == 25 and all(t.state == "done" for t in trials)
    keys = [t.key for t in trials]
    assert len(set(keys)) == 25  # never the same configuration twice
    assert len(calls.read_text().splitlines()) == 25


def test_cache_across_studies_with_the_same_runner(tmp_path):
    db = str(tmp_path / "s.db")
    calls = tmp_path / "calls"
    Study(space(), Counting(calls), strategy="grid", name="first", storage=db).optimize(20)
    n1 = len(calls.read_text().splitlines())
    second = Study(space(), Counting(calls), strategy="grid", name="second", storage=db)
    second.optimize(20)
    assert len(calls.read_text().splitlines()) == n1  # all 20 served from the cache
    assert {t.source for t in second.trials} == {"cache"}


def test_same_name_different_space_is_refused(tmp_path):
    db = str(tmp_path / "s.db")
    Study(space(), None, name="a", storage=db)
    other = SearchSpace([Integer("x", 0, 3)])
    with pytest.raises(InputError, match="different search space"):
        Study(other, None, name="a", storage=db)


def test_ask_tell_for_evaluations_run_elsewhere():
    s = Study(space(), None, strategy="ga", random_state=0)
    for _ in range(30):
        number, cfg = s.ask()
        s.tell(number, Result.success(bowl(**cfg)) if cfg != {"x": 2, "y": 2} else
               Result.failure(Status.RUNTIME_ERROR, "crash"))
    assert s.n_done() == 30 and s.best["value"] >= 1.0
    with pytest.raises(InputError, match="not waiting"):
        s.tell(999, Result.success(1.0))
    with pytest.raises(ConfigError, match="no runner"):
        s.optimize(5)


def test_parallel_workers_measure_each_point_once(tmp_path):
    calls = tmp_path / "calls"
    s = Study(space(), Counting(calls), strategy="random", storage=str(tmp_path / "p.db"), random_state=1)
    out = s.optimize(16, n_workers=2)
    assert out["trials"] == 16
    lines = calls.read_text().splitlines()
    assert len(lines) == len(set(lines)) == 16


def test_warm_start_puts_earlier_best_first():
    history = [({"x": 5, "y": 3}, 1.0), ({"x": 0, "y": 0}, 40.0)]
    for name in ("ga", "bo", "tpe"):
        s = Study(space(), PythonRunner(bowl, timing="output"), strategy=name, random_state=0, warm_start=history)
        s.optimize(1)
        assert s.trials[0].config == {"x": 5, "y": 3}, name


def test_multi_objective_pareto_front_with_nsga2():
    sp = SearchSpace([Integer("a", 0, 20)])
    s = Study(sp, PythonRunner(lambda a: (a, (20 - a) ** 2), timing="output"), strategy="nsga2", n_objectives=2,
              random_state=0)
    out = s.optimize(30)
    front = out["pareto_front"]
    assert front and all(len(p["values"]) == 2 for p in front)
    # on this problem every evaluated point is Pareto-optimal (a up, (20 - a)^2 down)
    assert len(front) == len({t.key for t in s.trials if t.result.ok})
    with pytest.raises(InputError, match="optimises one objective"):
        Study(sp, None, strategy="bo", n_objectives=2)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=30))
def test_pareto_front_property(points):
    v = np.array(points, dtype=float)
    front = pareto_front(v)
    for i in range(len(v)):
        dominated = any(np.all(v[j] <= v[i]) and np.any(v[j] < v[i]) for j in range(len(v)))
        assert (i in front) == (not dominated)


@pytest.mark.parametrize("name", ["random", "grid", "greedy", "ga", "annealing", "bo"])
def test_native_strategies_are_deterministic_and_propose_only_valid_new_points(name):
    sp = SearchSpace([PowerOfTwo("a", 1, 64), Integer("b", 0, 7), Categorical("c", ("u", "v"))], ["a * b <= 96"])

    def run(seed):
        s = get_strategy(name).setup(sp, random_state=seed)
        seen = []
        for _ in range(40):
            cfg = s.ask()
            assert sp.is_valid(cfg)
            seen.append(sp.key(cfg))
            v = cfg["a"] / 8 + (cfg["b"] - 3) ** 2 + (cfg["c"] == "u")
            s.tell(cfg, Result.success(v))
        return seen

    a, b = run(7), run(7)
    assert a == b
    assert len(set(a)) == len(a)


def test_unknown_strategy_and_bad_parameters():
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        get_strategy("nope")
    with pytest.raises(ConfigError, match="bad parameters"):
        get_strategy("ga", colour="red")


def test_storage_rejects_bad_urls_and_garbage(tmp_path):
    with pytest.raises((ConfigError, InputError)):  # no PostgreSQL driver or server here
        Storage("postgresql://x/y")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a usable study database"):
        Storage(str(junk))
    with pytest.raises(InputError, match="does not exist"):
        Storage(str(tmp_path / "no" / "dir.db"))


def _killed_worker(db, calls):
    s = Study(space(), Counting(calls), strategy="random", name="k", storage=db, random_state=9)

    def slow_runner(cfg):
        time.sleep(0.05)
        return Counting(calls)(cfg)

    s.runner = slow_runner
    s.optimize(1000)


def test_a_killed_process_loses_nothing_finished(tmp_path):
    db, calls = str(tmp_path / "k.db"), tmp_path / "calls"
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_killed_worker, args=(db, calls))
    p.start()
    time.sleep(1.0)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    done_before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM trials WHERE state='done'").fetchone()[0]
    assert done_before > 3
    s = Study(space(), Counting(calls), strategy="random", name="k", storage=db, random_state=9)
    assert s.resumed_trials == done_before
    s.optimize(done_before + 5)
    assert len(s.trials) == done_before + 5


@pytest.mark.parametrize("name", ["random", "grid", "greedy", "ga", "annealing", "bo", "tpe", "cmaes"])
def test_budget_larger_than_the_space_ends_cleanly(name):
    sp = SearchSpace([Integer("a", 0, 3), Integer("b", 0, 2)], ["a + b != 5"])
    s = Study(sp, PythonRunner(lambda a, b: (a - 1) ** 2 + b + 1.0, timing="output"), strategy=name, random_state=2)
    out = s.optimize(50)
    assert out["trials"] == 11 and s.best["value"] == 1.0


def test_unpicklable_runner_with_workers_is_a_clear_error():
    s = Study(space(), PythonRunner(lambda x, y: x + y, timing="output"), strategy="random")
    with pytest.raises(ConfigError, match="worker processes"):
        s.optimize(4, n_workers=2)


def test_spaces_and_spec_runners_pickle(tmp_path):
    import pickle

    from hpcopt.tune.spec import example_path, load_spec

    sp = SearchSpace([Integer("a", 1, 8)], ["a % 2 == 0"], derived={"b": "a * 3"})
    sp2 = pickle.loads(pickle.dumps(sp))
    assert sp2.valid_points() == sp.valid_points() and sp2.with_derived({"a": 4})["b"] == 12
    runner = load_spec(example_path("stencil")).make_runner()
    try:
        clone = pickle.loads(pickle.dumps(runner))
        assert clone.compile_command({"TIME_BLOCK": 4, "UNROLL": 2}, "x")[-4:-2] == [str(runner.source), "-o"]
    finally:
        runner.close()


def test_html_report_of_a_multi_objective_study_has_a_pareto_front(tmp_path):
    from hpcopt.tune.report import study_report, write_html

    sp = SearchSpace([Integer("a", 0, 30), Integer("b", 0, 3)])
    s = Study(sp, PythonRunner(lambda a, b: (a + 1.0 + b, (30 - a) ** 2 + 1.0 + b), timing="output"),
              strategy="nsga2", n_objectives=2, objective_names=["time", "memory"], random_state=0)
    s.optimize(40)
    rep = study_report(s)
    front = [tuple(p["values"]) for p in rep["pareto_front"]]
    others = [t.result.values for t in s.trials if t.result.ok and tuple(t.result.values) not in front]
    dominates = lambda u, v: all(x <= y for x, y in zip(u, v)) and u != tuple(v)  # noqa: E731
    assert front and not any(dominates(u, v) for u in front for v in front)
    assert all(any(dominates(u, v) for u in front) for v in others)
    page = write_html(s, tmp_path / "r.html").read_text()
    assert "Pareto front" in page and page.count("data:image/png;base64,") == 3
