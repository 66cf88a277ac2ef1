"""Regression tests of the review of the distributed tuning work (issue 5): owners and
leases, ask/tell trials, budgets counted in configurations, cached results and
objectives, interrupted measurements, energy zones, atomic starts, journal locks."""

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import textwrap
import time
import warnings

import pytest

from hpcopt.errors import InputError
from hpcopt.tune.results import Result
from hpcopt.tune.runners import PythonRunner
from hpcopt.tune.space import Integer, SearchSpace
from hpcopt.tune.storage import (ASK_PREFIX, JournalStorage, Refused, Storage, config_key, owner_is_gone,
                                 this_owner)
from hpcopt.tune.study import Study

pytest.importorskip("sklearn")
pytest.importorskip("optuna")


def small():
    return SearchSpace([Integer("x", 0, 3), Integer("y", 0, 2)])  # 12 points


def f(x, y):
    return (x - 2) ** 2 + (y - 1) ** 2 + 1.0


def runner():
    return PythonRunner(f, timing="output")


@pytest.fixture
def alarm():
    """Fail instead of hanging: a loop that never ends raises after ``s`` seconds."""
    def handler(*_):
        raise TimeoutError("did not finish")
    old = signal.signal(signal.SIGALRM, handler)
    yield lambda s: signal.alarm(s)
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- 1. a killed study can finish ---------------------------------------------------

def test_a_reused_pid_is_not_the_old_owner():
    host, me = socket.gethostname(), os.getpid()
    assert not owner_is_gone(this_owner())
    # our own pid written by a predecessor (container PID 1, Slurm requeue): gone
    assert owner_is_gone(f"{host}:{me}")
    assert owner_is_gone(f"{host}:{me}:00000000.1")
    # a live process under another start time: the pid was reused
    p = subprocess.Popen(["sleep", "5"])
    try:
        assert not owner_is_gone(f"{host}:{p.pid}")  # no start time recorded: cannot tell
        if os.path.exists(f"/proc/{p.pid}/stat"):
            assert owner_is_gone(f"{host}:{p.pid}:00000000.1")
    finally:
        p.kill()
        p.wait()
    assert not owner_is_gone(None) and not owner_is_gone(ASK_PREFIX + f"{host}:{p.pid}")


def _study_with_a_lost_trial(url, owner):
    s = Study(small(), runner(), strategy="random", name="k", storage=url, random_state=0)
    s.optimize(8)
    st = Storage(url)
    cfg = next(c for c in ({"x": x, "y": y} for x in range(4) for y in range(3))
               if config_key(c, ["x", "y"]) not in {t.key for t in st.trials("k")})
    st.start_trial("k", cfg, config_key(cfg, ["x", "y"]), owner=owner)
    return st


@pytest.mark.parametrize("where", ["other-host", "own-pid"])
def test_a_lost_trial_is_released_by_its_lease_or_on_request(tmp_path, where):
    owner = "other-host:17" if where == "other-host" else f"{socket.gethostname()}:{os.getpid()}"
    url = str(tmp_path / "k.db")
    _study_with_a_lost_trial(url, owner)
    time.sleep(0.05)
    s = Study(small(), runner(), strategy="random", name="k", storage=url, random_state=1)
    if owner.startswith("other-host"):  # alive as far as we know, lease (120 s) not over: held
        assert s.interrupted == 0
        with pytest.warns(RuntimeWarning, match="held by running trials"):
            out = s.optimize(10)
        assert s.n_done() == 9 and "fewer than the budget 10" in out["warning"]
        s = Study(small(), runner(), strategy="random", name="k", storage=url, random_state=1, lease_s=0.01)
    assert s.interrupted == 1  # our pid under another identity, or the lease ran out
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = s.optimize(10)
    assert s.n_done() == 10 and "warning" not in out


def cli(args, capsys):
    from hpcopt.cli import main

    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out + out.err


def test_release_running_from_the_cli(tmp_path, capsys, echo_spec):
    spec = echo_spec("k", [1, 2, 3, 4])
    db = str(tmp_path / "c.db")
    run = ["tune", "run", str(spec), "--storage", db, "--no-compare", "--json", "--strategy", "grid"]
    code, text = cli([*run, "--budget", "2"], capsys)
    assert code == 0, text
    Storage(db).start_trial("k", {"n": 3}, "[3]", owner="gone-node:5")  # a requeued job's trial
    code, text = cli([*run, "--budget", "4"], capsys)
    out = json.loads(text)["payload"]
    assert sum(out["status_counts"].values()) == 3 and "held by running trials" in out["warning"]
    code, text = cli([*run, "--budget", "4", "--release-running"], capsys)
    out = json.loads(text)["payload"]
    assert out["trials"] == 4 and out["interrupted_trials_redone"] == 1 and "warning" not in out


def test_the_heartbeat_is_refreshed_while_measuring(tmp_path):
    url = str(tmp_path / "h.db")
    seen = []

    def slow(config):
        time.sleep(0.3)
        seen.extend(t.heartbeat - t.started for t in Storage(url).trials("h") if t.state == "running")
        return Result.success(1.0)

    Study(small(), slow, strategy="random", name="h", storage=url, lease_s=0.08).optimize(1)
    assert len(seen) == 1 and seen[0] > 0.1  # beats every 0.02 s during the 0.3 s call


# -- 2. a told result lands on its own configuration ---------------------------------

def test_ask_tell_trials_survive_a_study_opened_normally(tmp_path):
    url = str(tmp_path / "a.db")
    asker = Study(small(), None, strategy="random", name="a", storage=url, redo_interrupted=False)
    number, cfg = asker.ask()
    assert asker.trials[0].owner.startswith(ASK_PREFIX)
    normal = Study(small(), runner(), strategy="random", name="a", storage=url)
    assert normal.interrupted == 0 and normal.n_running() == 1
    with pytest.warns(RuntimeWarning, match="held by running trials"):
        normal.optimize(3)  # the asked configuration is left to the asker
    teller = Study(small(), None, strategy="random", name="a", storage=url, redo_interrupted=False)
    teller.tell(number, Result.success(7.0))
    got = [t for t in Storage(url).trials("a") if t.number == number]
    assert got[0].config == cfg and got[0].result.value == 7.0
    assert len({t.key for t in Storage(url).trials("a")}) == 3  # the budget counted the asked one
    # with an explicit lease an abandoned ask/tell trial is released
    n2, _ = asker.ask()
    time.sleep(0.05)
    s = Study(small(), runner(), strategy="random", name="a", storage=url, ask_lease_s=0.01)
    assert s.interrupted == 1 and n2 not in {t.number for t in s.trials}


def test_tune_tell_checks_the_objective_count(tmp_path, capsys):
    spec = tmp_path / "m.toml"
    spec.write_text(textwrap.dedent("""
        [study]
        name = "m"
        objectives = ["time", "max_rss"]
        directions = ["minimize", "minimize"]
        [parameters]
        n = [1, 2, 3]
        [runner]
        kind = "command"
        command = "true {n}"
    """))
    db = str(tmp_path / "m.db")
    code, text = cli(["tune", "ask", str(spec), "--storage", db, "--json"], capsys)
    trial = json.loads(text)["payload"]["trial"]
    info = Storage(db).study_info("m")
    assert info["objective_names"] == ["time", "max_rss"] and info["strategy"] == "nsga2"
    code, text = cli(["tune", "tell", "--study", "m", "--storage", db, "--trial", str(trial), "--value", "1.5"],
                     capsys)
    assert code == 64 and "2 objectives" in text  # a usage error (the study wants --values)
    code, text = cli(["tune", "tell", "--study", "m", "--storage", db, "--trial", str(trial),
                      "--values", "1.5,40", "--json"], capsys)
    assert code == 0, text
    assert Storage(db).trials("m")[0].result.values == (1.5, 40.0)


# -- 3. budgets count configurations; ask always ends --------------------------------

def test_duplicate_rows_do_not_hang_the_study(tmp_path, alarm):
    s = Study(small(), runner(), strategy="random", name="d", storage=str(tmp_path / "d.db"))
    s.add({"x": 0, "y": 0}, Result.success(5.0))
    s.add({"x": 0, "y": 0}, Result.success(5.0))  # imported twice
    alarm(20)
    out = s.optimize(2)
    assert s.n_done() == 2 and out["configurations"] == 2


def _cached_worker(url, seed):
    s = Study(small(), runner(), strategy="random", name="b", storage=url, random_state=seed,
              fingerprint="same-runner")
    s.optimize(5)


def test_cache_hits_respect_the_budget_across_processes(tmp_path):
    url = str(tmp_path / "c.db")
    Study(small(), runner(), strategy="grid", name="a", storage=url, fingerprint="same-runner").optimize(12)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_cached_worker, args=(url, seed)) for seed in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    trials = Storage(url).trials("b")
    assert len(trials) == 5 and len({t.key for t in trials}) == 5  # not 15 rows, not 3 x 5
    assert all(t.source == "cache" for t in trials)


# -- 4. the cache knows the objectives ------------------------------------------------

def test_cached_results_match_the_objectives(tmp_path):
    one = PythonRunner(f, timing="output")
    two = PythonRunner(lambda x, y: (f(x, y), x), timing="output", objectives=["time", "max_rss"], isolate=True)
    assert one.fingerprint() != PythonRunner(f, timing="output", objectives=["time"]).fingerprint()
    url = str(tmp_path / "o.db")
    Study(small(), one, strategy="grid", name="t", storage=url, fingerprint="fp").optimize(12)
    s = Study(small(), two, strategy="nsga2", name="tm", storage=url, fingerprint="fp", n_objectives=2,
              objective_names=["time", "max_rss"])
    s.optimize(3)
    assert all(t.source == "measured" and len(t.result.values) == 2 for t in s.trials)


# -- 5. resuming checks objectives and directions -------------------------------------

def test_resume_checks_and_adopts_objectives(tmp_path):
    url = str(tmp_path / "r.db")
    Study(small(), None, name="r", storage=url, n_objectives=2, objective_names=["time", "energy"],
          directions=["minimize", "maximize"], strategy="nsga2")
    with pytest.raises(InputError, match="objectives"):
        Study(small(), None, name="r", storage=url, objective_names=["time"])
    with pytest.raises(InputError, match="directions"):
        Study(small(), None, name="r", storage=url, n_objectives=2, objective_names=["time", "energy"])
    s = Study(small(), None, name="r", storage=url)  # no objectives given: the stored ones
    assert s.objective_names == ["time", "energy"] and s.directions == ["minimize", "maximize"]


# -- 6. no process is left running ----------------------------------------------------

def _alive_with_cmdline(marker):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append(int(pid))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_an_interrupted_measurement_leaves_no_process(alarm):
    from hpcopt.tune.runners.process import _run_process

    marker = f"{time.time_ns() % 10**6 + 100}.5"

    def interrupt(*_):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            _run_process(["sleep", marker], timeout=None, memory=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    time.sleep(0.1)
    assert _alive_with_cmdline(f"sleep\0{marker}".encode()) == []


def test_submitit_executor_cancels_unfinished_jobs(tmp_path):
    pytest.importorskip("submitit")
    from hpcopt.tune.executors import get_executor

    ex = get_executor("submitit", 1, {"folder": str(tmp_path / "j"), "cluster": "local"})
    (job,) = ex.submit_many(time.sleep, [60])
    ex.close()
    t0 = time.perf_counter()
    while not job.done() and time.perf_counter() - t0 < 10:
        time.sleep(0.05)
    assert job.done() and time.perf_counter() - t0 < 10


# -- 7. energy -----------------------------------------------------------------------

def _zone(root, name, label, uj):
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(f"{label}\n")
    (z / "energy_uj").write_text(f"{uj}\n")
    (z / "max_energy_range_uj").write_text("1000000000\n")
    return z


def test_energy_counts_each_package_once_and_works_with_output_timing(tmp_path):
    from hpcopt.tune.observers import RaplEnergy

    root = tmp_path / "pc"
    _zone(root, "intel-rapl:0", "package-0", 1000)
    _zone(root, "intel-rapl:0:0", "core", 10)
    _zone(root, "intel-rapl-mmio:0", "package-0", 1000)  # the same package through MMIO
    rapl = RaplEnergy(root)
    assert [z.name for z in rapl.zones] == ["package-0"]
    r = PythonRunner(lambda x: float(x), timing="output", objectives=["time", "energy"], powercap_root=str(root))
    res = r({"x": 3})
    assert res.ok and res.values == (3.0, 0.0)  # the counters of this hand-made tree do not move


# -- 8. atomic starts through SQLAlchemy on SQLite ---------------------------------------

def test_sqlalchemy_transactions_take_the_sqlite_write_lock_at_begin(tmp_path):
    pytest.importorskip("sqlalchemy")
    import sqlite3

    path = tmp_path / "x.db"
    st = Storage(f"sqlite+pysqlite:///{path}")
    st.create_or_load_study("s", {"space": {}}, None)
    seen = []

    def check_then_probe(conn):  # what start_trial does: a check, then the insert
        conn.execute(st._sa.select(st._trials.c.number)).all()
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("INSERT INTO meta VALUES ('probe', 'x')")  # another writer in between
            seen.append("wrote")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            other.close()
    st._retry(check_then_probe, serializable=True)
    assert seen == ["database is locked"]


# -- 9. warm start in maximize studies --------------------------------------------------

def test_warm_start_respects_the_direction():
    hist = [({"x": 0, "y": 0}, 1.0), ({"x": 3, "y": 2}, 10.0)]
    up = Study(small(), None, strategy="random", directions=["maximize"], warm_start=hist)
    down = Study(small(), None, strategy="random", warm_start=hist)
    assert up.strategy.prior_[0][0] == {"x": 3, "y": 2} and down.strategy.prior_[0][0] == {"x": 0, "y": 0}


# -- 10. journal locks ----------------------------------------------------------------

def test_journal_lock_is_removed_only_by_its_holder(tmp_path):
    st = JournalStorage(f"journal:///{tmp_path / 'j.log'}")
    lock = tmp_path / "j.log.lock"
    st._lock()
    mine = lock.read_bytes()
    lock.write_bytes(b"someone-else 1.0 token")  # broken as stale meanwhile, taken by another writer
    st._unlock()
    assert lock.read_bytes() == b"someone-else 1.0 token"
    # a breaker that judged an older lock stale does not remove the newer one
    assert st._take_away(mine) is False and lock.read_bytes() == b"someone-else 1.0 token"
    assert st._take_away(b"someone-else 1.0 token") is True and not lock.exists()
    st._lock()
    st._unlock()
    assert not lock.exists()


def test_start_trial_says_why_it_refused(tmp_path):
    st = Storage(str(tmp_path / "w.db"))
    st.create_or_load_study("s", {"space": {}}, None)
    st.add_done_trial("s", {"x": 1}, "[1]", Result.success(1.0), "told")
    st.add_done_trial("s", {"x": 1}, "[1]", Result.success(1.0), "told")  # a duplicate row
    assert st.start_trial("s", {"x": 1}, "[1]", unique=True) is Refused.TAKEN
    assert st.start_trial("s", {"x": 2}, "[2]", limit=2) == 2  # 2 rows, 1 configuration: room for one
    assert st.start_trial("s", {"x": 3}, "[3]", limit=2) is Refused.BUDGET
