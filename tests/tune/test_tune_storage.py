"""Storage backends: one conformance test for all, concurrent writers, kills, torn journals."""

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import time

import pytest

from hpcopt.errors import InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners import PythonRunner
from hpcopt.tune.space import Integer, SearchSpace
from hpcopt.tune.storage import JournalStorage, Refused, SQLAlchemyStorage, SQLiteStorage, Storage
from hpcopt.tune.study import Study

pytest.importorskip("sklearn")  # the study imports the strategies
pytest.importorskip("optuna")


def space():
    return SearchSpace([Integer("x", 0, 9), Integer("y", 0, 6)], ["x + y <= 13"])


def bowl(x, y):
    return (x - 5) ** 2 + (y - 3) ** 2 + 1.0


def slow_bowl(x, y):
    time.sleep(0.02)
    return bowl(x, y)


def slower_bowl(x, y):
    time.sleep(0.06)
    return bowl(x, y)


def dead_owner():
    p = subprocess.Popen(["true"])
    p.wait()
    return f"{socket.gethostname()}:{p.pid}"


def url_for(kind, tmp_path):
    if kind == "sqlite":
        return str(tmp_path / "s.db")
    if kind == "sqlalchemy":
        pytest.importorskip("sqlalchemy")
        return f"sqlite+pysqlite:///{tmp_path / 's.db'}"
    if kind == "journal":
        return f"journal:///{tmp_path / 's.log'}"
    return ":memory:"


KINDS = ["sqlite", "sqlalchemy", "journal"]
CLASSES = {"sqlite": SQLiteStorage, "sqlalchemy": SQLAlchemyStorage, "journal": JournalStorage}


@pytest.mark.parametrize("kind", KINDS + ["memory"])
def test_storage_conformance(kind, tmp_path):
    url = url_for(kind, tmp_path)
    st = Storage(url)
    assert isinstance(st, CLASSES.get(kind, SQLiteStorage))
    info = {"space": space().to_dict(), "strategy": "random"}
    assert st.create_or_load_study("a", info, "fp") == (info, True)
    again, created = st.create_or_load_study("a", info, "fp")
    assert not created and again["strategy"] == "random"
    with pytest.raises(InputError, match="different search space"):
        st.create_or_load_study("a", {"space": {"other": 1}}, "fp")
    st.create_or_load_study("b", info, "fp2")
    assert st.study_names() == ["a", "b"]
    with pytest.raises(InputError, match="no study named 'zz'"):
        st.study_info("zz")
    ok = Result.success(2.5, [2.0, 3.0])
    n0 = st.start_trial("a", {"x": 1, "y": 2}, "[1,2]", owner="elsewhere:1")
    n1 = st.start_trial("a", {"x": 3, "y": 4}, "[3,4]", owner=dead_owner())
    n2 = st.start_trial("a", {"x": 5, "y": 6}, "[5,6]", owner=None)
    assert (n0, n1, n2) == (0, 1, 2)
    assert st.start_trial("a", {"x": 1, "y": 2}, "[1,2]", owner="h:2", unique=True) is Refused.TAKEN
    assert st.start_trial("b", {"x": 1, "y": 2}, "[1,2]", owner="h:2", unique=True) == 0  # other study
    assert st.start_trial("b", {"x": 7, "y": 2}, "[7,2]", owner="h:2", limit=1) is Refused.BUDGET  # b is full
    assert st.finish_trial("a", n0, ok, key="[9,9]") is False  # not this configuration
    assert st.finish_trial("a", n0, ok, key="[1,2]") is True
    assert st.finish_trial("a", n0, ok) is False  # finished already
    assert st.cached_result("fp", "[1,2]") == ok and st.cached_result("fp", "[3,4]") is None
    assert st.cached_result(None, "[1,2]") is None and st.cached_result("other", "[1,2]") is None
    assert st.cached_result("fp", "[1,2]", n_values=2) is None  # one value stored, two wanted
    # trial 1's owner exited: interrupted; trial 2 (owner unknown) and a trial of another
    # host are kept unless their heartbeat is older than a lease
    n3 = st.start_trial("a", {"x": 0, "y": 0}, "[0,0]", owner="another-host:12")
    assert st.release_running("a") == 1
    assert [(t.number, t.state) for t in st.trials("a")] == [(0, "done"), (2, "running"), (3, "running")]
    assert st.finish_trial("a", n1, ok) is False  # released: the study then re-adds it
    assert [t.number for t in st.trials("b")] == [0]
    t = st.trials("a")[0]
    assert t.config == {"x": 1, "y": 2} and t.result == ok and t.owner == "elsewhere:1"
    time.sleep(0.05)
    assert st.heartbeat("a", "another-host:12") == 1  # trial 3 is alive, trial 2 is not
    assert st.release_running("a", lease_s=0.04) == 1
    assert [t.number for t in st.trials("a")] == [0, 3]
    assert st.release_running("a", everything=True) == 1
    # numbers are never reused: a late result for trial 3 cannot land on a new trial
    assert st.start_trial("a", {"x": 0, "y": 0}, "[0,0]", owner="h:2", unique=True) == 4
    assert st.finish_trial("a", n3, ok) is False
    st.close()
    if kind != "memory":  # everything is there for a second connection
        st2 = Storage(url)
        assert st2.study_names() == ["a", "b"] and len(st2.trials("a")) == 2 and len(st2.trials("b")) == 1
        st2.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_study_resumes_from_every_backend(kind, tmp_path):
    url = url_for(kind, tmp_path)
    s1 = Study(space(), PythonRunner(bowl, timing="output"), strategy="random", name="r", storage=url, random_state=4)
    s1.optimize(8)
    s1.storage.close()
    s2 = Study(space(), PythonRunner(bowl, timing="output"), strategy="random", name="r", storage=url, random_state=4)
    assert s2.resumed_trials == 8
    out = s2.optimize(15)
    assert out["trials"] == 15 and len({t.key for t in s2.trials}) == 15


def _worker(url, budget, seed, fn=slow_bowl):
    s = Study(space(), PythonRunner(fn, timing="output"), strategy="random", name="shared", storage=url,
              random_state=seed)
    s.optimize(budget)


def _check_shared(url, budget, n_workers):
    st = Storage(url)
    trials = st.trials("shared")
    done = [t for t in trials if t.state == "done"]
    keys = [t.key for t in done]
    assert len(keys) == len(set(keys)), "a configuration was measured twice"
    # a trial starts only while the study holds fewer trials than the budget (atomically)
    assert len(done) == budget
    assert all(t.result.ok and t.result.value == bowl(**t.config) for t in done)
    return st, trials


@pytest.mark.parametrize("kind", KINDS)
def test_several_processes_write_one_study(kind, tmp_path):
    url = url_for(kind, tmp_path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(url, 30, seed)) for seed in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    st, trials = _check_shared(url, 30, 3)
    assert all(t.state == "done" for t in trials)
    owners = {t.owner for t in trials}
    assert len(owners) >= 2  # the work was really shared
    if kind == "journal":
        assert st.skipped_lines == 0
        assert not os.path.exists(st.path + ".lock")


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_worker_killed_in_the_middle(kind, tmp_path):
    url = url_for(kind, tmp_path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(url, 40, seed, slower_bowl)) for seed in range(3)]
    for p in procs:
        p.start()
    watch = Storage(url)
    victim = f"{socket.gethostname()}:{procs[0].pid}"
    t0 = time.perf_counter()
    in_flight = []
    while time.perf_counter() - t0 < 30:  # kill one worker in a measurement, after a quarter of the budget
        trials = watch.trials("shared") if "shared" in watch.study_names() else []
        in_flight = [t for t in trials if t.state == "running" and (t.owner or "").startswith(victim + ":")]
        if sum(t.state == "done" for t in trials) >= 10 and in_flight:
            break
        time.sleep(0.002)
    os.kill(procs[0].pid, signal.SIGKILL)
    assert in_flight
    for p in procs:
        p.join(60)
    assert procs[0].exitcode == -signal.SIGKILL and procs[1].exitcode == 0 == procs[2].exitcode
    # the survivors finished the budget
    st, trials = _check_shared(url, 40, 3)
    st.close()
    assert all(t.state == "done" for t in trials)
    # the killed worker's trial was released (marked interrupted) by the survivors, unless the worker
    # finished it in the instant between the look and the kill
    n, key = in_flight[0].number, in_flight[0].key
    finished_by_victim = any(t.number == n and t.key == key and t.owner.startswith(victim + ":") for t in trials)
    released = not any(t.number == n and t.key == key for t in trials)
    assert finished_by_victim or released
    if kind == "journal" and released:
        assert '"op":"interrupt"' in (tmp_path / "s.log").read_text()
    # and a study opened afterwards resumes with everything
    s = Study(space(), PythonRunner(bowl, timing="output"), strategy="random", name="shared", storage=url)
    assert s.resumed_trials == len(trials) and s.interrupted == 0
    s.optimize(len(trials) + 3)
    assert len({t.key for t in s.trials}) == len(trials) + 3


def test_journal_survives_a_torn_line_and_a_stale_lock(tmp_path):
    path = tmp_path / "j.log"
    st = Storage(f"journal:///{path}")
    st.create_or_load_study("a", {"space": {}}, None)
    n = st.start_trial("a", {"x": 1}, "[1]", owner="h:1")
    # a writer killed mid-write leaves half a line and its lock file behind
    with open(path, "ab") as fh:
        fh.write(b'{"op":"finish","study":"a","num')
    (tmp_path / "j.log.lock").write_text(f"{dead_owner()} 0.0")
    other = Storage(f"journal:///{path}")
    assert len(other.trials("a")) == 1  # the torn tail is not read
    t0 = time.perf_counter()
    assert other.finish_trial("a", n, Result.success(1.0)) is True
    assert time.perf_counter() - t0 < 5  # the dead holder's lock was broken
    assert other.skipped_lines == 1
    fresh = Storage(f"journal:///{path}")
    assert fresh.skipped_lines == 1 and fresh.trials("a")[0].result.value == 1.0
    lines = path.read_bytes().split(b"\n")
    assert json.loads(lines[-2])["op"] == "finish"


def test_journal_and_database_url_errors(tmp_path):
    with pytest.raises(InputError, match="needs a file"):
        Storage("journal://")
    with pytest.raises(InputError, match="does not exist"):
        Storage(f"journal:///{tmp_path}/no/such/dir.log")
    pytest.importorskip("sqlalchemy")
    with pytest.raises(InputError, match="does not exist"):
        Storage(f"sqlite+pysqlite:///{tmp_path}/no/such/dir.db")
    from hpcopt.errors import ConfigError

    with pytest.raises((ConfigError, InputError)):  # no PostgreSQL driver or server here
        Storage("postgresql://nobody@127.0.0.1:1/none")


def test_schema_1_database_is_upgraded(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE studies (name TEXT PRIMARY KEY, created REAL NOT NULL, fingerprint TEXT, info TEXT NOT NULL);
        CREATE TABLE trials (study TEXT NOT NULL, number INTEGER NOT NULL, key TEXT NOT NULL, config TEXT NOT NULL,
            state TEXT NOT NULL, source TEXT NOT NULL, result TEXT, started REAL NOT NULL, finished REAL,
            PRIMARY KEY (study, number));
        INSERT INTO meta VALUES ('schema', '1');
    """)
    con.execute("INSERT INTO studies VALUES ('s', 0, NULL, ?)", (json.dumps({"space": {}}),))
    con.execute("INSERT INTO trials VALUES ('s', 0, '[1]', '{\"x\": 1}', 'done', 'measured', ?, 0, 1)",
                (json.dumps(Result.success(3.0).to_dict()),))
    con.close()
    st = Storage(str(db))
    assert st.trials("s")[0].result.value == 3.0 and st.trials("s")[0].owner is None
    assert st.start_trial("s", {"x": 2}, "[2]", owner="h:1") == 1
    assert Status.OK is st.trials("s")[0].result.status


def flaky_bowl(x, y):
    if os.environ.get("HPCOPT_TEST_KERNEL_BROKEN"):
        raise RuntimeError("the kernel is broken")
    return bowl(x, y)


@pytest.mark.parametrize("kind", KINDS)
def test_retry_failed_on_every_backend(kind, tmp_path, monkeypatch):
    url = url_for(kind, tmp_path)

    def study(**kw):
        return Study(space(), PythonRunner(flaky_bowl, timing="output"), strategy="random", name="r", storage=url,
                     random_state=2, **kw)

    monkeypatch.setenv("HPCOPT_TEST_KERNEL_BROKEN", "1")
    s1 = study()
    s1.optimize(5)
    failed = {t.key for t in s1.trials}
    assert len(failed) == 5 and all(t.result.status is Status.RUNTIME_ERROR for t in s1.trials)
    monkeypatch.delenv("HPCOPT_TEST_KERNEL_BROKEN")
    plain = study()
    assert plain.optimize(5)["measured"] == 0  # without the flag a failure is final
    a, b = study(retry_failed=True), study(retry_failed=True)  # two processes asking at once
    assert a.retried == 5 and b.retried == 0
    out = a.optimize(7)
    assert out["measured"] == 7 and out["trials"] == 7 and out["status_counts"] == {"ok": 7}
    assert b.optimize(7)["measured"] == 0
    st = Storage(url)
    done = [t for t in st.trials("r")]
    assert len(done) == 7 and len({t.key for t in done}) == 7 and failed <= {t.key for t in done}
    hist = st.history("r")
    assert sum(t.state == "retried" for t in hist) == 5 and len(hist) == 12
    assert all(t.result.status is Status.RUNTIME_ERROR for t in hist if t.state == "retried")
    assert st.cached_result(a.fingerprint, next(iter(failed))).ok  # the cache serves the new measurement


def test_to_optuna_copies_a_study_for_optunas_tools(tmp_path):
    import optuna

    from hpcopt.tune.storage import to_optuna

    url = str(tmp_path / "s.db")
    s = Study(space(), PythonRunner(bowl, timing="output"), strategy="random", name="r", storage=url, random_state=3)
    s.optimize(10)
    st = Storage(url)
    # one of each other kind: a typed failure, a released trial, a running one
    st.add_done_trial("r", {"x": 9, "y": 4}, "[9,4]", Result.failure(Status.TIMEOUT, "ran past 5 s"), "measured")
    st.start_trial("r", {"x": 0, "y": 0}, "[0,0]", owner="far:1")
    st.release_running("r", everything=True)
    st.start_trial("r", {"x": 0, "y": 1}, "[0,1]", owner="far:1")
    target = f"sqlite:///{tmp_path / 'optuna.db'}"
    to_optuna(url, "r", target)
    o = optuna.load_study(study_name="r", storage=target)
    done = [t for t in st.history("r") if t.state == "done" and t.result.ok]
    assert len(o.trials) == len(st.history("r")) - 1  # the running trial is left out
    complete = o.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == len(done) == 10
    assert o.best_value == min(t.result.value for t in done)
    assert o.best_params == min(done, key=lambda t: t.result.value).config
    assert o.best_value == bowl(**o.best_params)
    failed = {t.user_attrs["hpcopt_state"]: t for t in o.get_trials(states=(optuna.trial.TrialState.FAIL,))}
    assert failed["done"].user_attrs["hpcopt_status"] == "timeout"
    assert failed["done"].user_attrs["hpcopt_message"] == "ran past 5 s"
    assert failed["interrupted"].params == {"x": 0, "y": 0}
    assert o.directions == [optuna.study.StudyDirection.MINIMIZE]
    assert o.user_attrs["hpcopt_study"] == "r" and o.user_attrs["hpcopt_fingerprint"] == s.fingerprint
    assert sorted(o.get_trials()[0].distributions) == ["x", "y"]
    # what optuna's own analysis reads works on the copy
    evaluator = optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0)
    imp = optuna.importance.get_param_importances(o, evaluator=evaluator)
    assert set(imp) == {"x", "y"}
    with pytest.raises(InputError, match="has a study named 'r' already"):
        to_optuna(url, "r", target)


def test_to_optuna_maps_every_parameter_kind(tmp_path):
    import optuna

    from hpcopt.tune.space import Categorical, Ordinal, PowerOfTwo, Real
    from hpcopt.tune.storage import to_optuna

    sp = SearchSpace([Integer("i", 0, 10, step=2), Real("r", 0.1, 10.0, log=True), Categorical("c", ["a", "b"]),
                      Ordinal("o", [1, 4, 9]), PowerOfTwo("p", 1, 64)])
    st = Storage(str(tmp_path / "s.db"))
    st.create_or_load_study("k", {"space": sp.to_dict(), "n_objectives": 2, "directions": ["minimize", "maximize"]},
                            "fp")
    cfg = {"i": 4, "r": 0.5, "c": "b", "o": 9, "p": 16}
    st.add_done_trial("k", cfg, "k1", Result.success(1.0, values=[1.0, 2.0]), "measured")
    st.add_done_trial("k", {**cfg, "i": 6}, "k2", Result.success(1.5), "measured")  # one value: not a 2-objective point
    # an Optuna storage object works as well as a URL: here Optuna's journal file
    target = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "o.log")))
    to_optuna(st, "k", target, optuna_study="copy")
    o = optuna.load_study(study_name="copy", storage=target)
    d = o.trials[0].distributions
    assert d["i"] == optuna.distributions.IntDistribution(0, 10, step=2)
    assert d["r"] == optuna.distributions.FloatDistribution(0.1, 10.0, log=True)
    assert d["c"].choices == ("a", "b") and d["o"].choices == (1, 4, 9) and d["p"].choices == (1, 2, 4, 8, 16, 32, 64)
    assert o.trials[0].values == [1.0, 2.0] and o.trials[0].params == cfg
    assert o.trials[1].state == optuna.trial.TrialState.FAIL
    assert o.directions == [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
