"""Executors (process pool, Dask, submitit), timeouts of Python callables, observers
(peak memory, RAPL energy) and multi-objective studies from specs."""

import json
import sys
import textwrap
import time

import pytest

from hpcopt.errors import ConfigError, MissingDependencyError
from hpcopt.tune.executors import get_executor
from hpcopt.tune.observers import RaplEnergy, observer_status
from hpcopt.tune.results import Status
from hpcopt.tune.runners import CommandRunner, PythonRunner
from hpcopt.tune.space import Categorical, Integer, SearchSpace
from hpcopt.tune.study import Study

pytest.importorskip("sklearn")
pytest.importorskip("optuna")


def det(x, y):
    """A deterministic objective with one crashing configuration."""
    if (x, y) == (1, 1):
        raise RuntimeError("crash")
    return (x - 3) ** 2 + 2 * (y - 1) ** 2 + 0.5


def space():
    return SearchSpace([Integer("x", 0, 6), Integer("y", 0, 4)], ["x + y <= 8"])


def measured(executor, n_workers, tmp_path, **opts):
    # grid: the first 10 points in order include the crashing (1, 1), whatever the seed
    s = Study(space(), PythonRunner(det, timing="output"), strategy="grid", random_state=11)
    out = s.optimize(10, n_workers=n_workers, executor=executor, executor_options=opts or None)
    got = {t.key: (t.result.status.value, t.result.value) for t in s.trials}
    return out, got


def test_executors_give_the_process_pool_results(tmp_path):
    _, serial = measured(None, 1, tmp_path)
    out, pool = measured("process", 2, tmp_path)
    assert out["executor"] == "process" and pool == serial and len(serial) == 10
    assert serial["[1,1]"] == ("runtime_error", None)
    pytest.importorskip("submitit")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # jobs run where tests/ is not importable
    out, debug = measured("submitit", 2, tmp_path, folder=str(tmp_path / "dbg"), cluster="debug")
    assert out["executor"] == "submitit" and debug == serial
    out, local = measured("submitit", 2, tmp_path, folder=str(tmp_path / "loc"), cluster="local")
    assert local == serial
    assert list((tmp_path / "loc").glob("*_result.pkl"))  # really ran as submitit jobs


def test_dask_executor_gives_the_process_pool_results(tmp_path):
    pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    _, serial = measured(None, 1, tmp_path)
    out, dask = measured("dask", 2, tmp_path)
    assert out["executor"] == "dask" and dask == serial


def test_executor_names_and_missing_extra(monkeypatch):
    with pytest.raises(ConfigError, match="unknown executor 'ray'"):
        get_executor("ray", 2)
    with pytest.raises(ConfigError, match="unknown dask executor option"):
        get_executor("dask", 2, {"colour": "red"})
    with pytest.raises(ConfigError, match="takes no options"):
        get_executor("process", 2, {"address": "x"})
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"hpcopt\[tune-dist\]"):
        get_executor("dask", 2)
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(MissingDependencyError, match=r"hpcopt\[tune-dist\]"):
        get_executor("submitit", 2)


# ---------------------------------------------------------------- timeouts of callables
def sleepy(s):
    time.sleep(s)
    return s


def exits(code):
    import os

    os._exit(code)


def test_a_hanging_callable_is_killed_and_recorded_as_timeout():
    r = PythonRunner(sleepy, timing="wall", warmup=0, repeats=2, timeout=0.3)
    assert r.isolate
    t0 = time.perf_counter()
    res = r({"s": 30})
    assert time.perf_counter() - t0 < 3  # not 30 s
    assert res.status is Status.TIMEOUT and "killed" in res.message
    ok = r({"s": 0.01})
    assert ok.ok and len(ok.samples) == 2 and 0.01 <= ok.value < 0.3 and 0 <= ok.extra["max_rss_mib"] < 20
    dead = PythonRunner(exits, timing="wall", warmup=0, repeats=1, timeout=5)({"code": 3})
    assert dead.status is Status.RUNTIME_ERROR and "exit code 3" in dead.message
    boom = PythonRunner(det, timing="output", timeout=5)({"x": 1, "y": 1})
    assert boom.status is Status.RUNTIME_ERROR and "crash" in boom.message
    with pytest.raises(ConfigError, match="timeout must be"):
        PythonRunner(sleepy, timeout=0)


def test_timeouts_inside_a_study_are_typed_results():
    sp = SearchSpace([Categorical("s", [0.0, 0.01, 20.0])])
    s = Study(sp, PythonRunner(sleepy, timing="wall", warmup=0, repeats=1, timeout=0.3), strategy="grid")
    t0 = time.perf_counter()
    out = s.optimize(3)
    assert time.perf_counter() - t0 < 5
    assert out["status_counts"] == {"ok": 2, "timeout": 1} and s.best["config"] == {"s": 0.0}


# ---------------------------------------------------------------- observers
ALLOC = f"{sys.executable} -c \"x = b'a' * ({{mib}} << 20); print(len(x))\""


def test_peak_memory_of_a_child_is_its_own():
    r = CommandRunner(ALLOC, timing="wall", warmup=0, repeats=1, objectives=["time", "max_rss"])
    small, big = r({"mib": 20}), r({"mib": 220})
    assert small.ok and big.ok and small.values[0] == small.value
    # the second child allocates 200 MiB more; getrusage(RUSAGE_CHILDREN) would report the
    # larger peak for both, wait4 reports each child's own
    assert 190 <= big.values[1] - small.values[1] <= 215
    again = r({"mib": 20})
    assert abs(again.values[1] - small.values[1]) < 10


def allocate(mib):
    x = b"a" * (mib << 20)
    return len(x)


def test_peak_memory_of_an_isolated_callable():
    r = PythonRunner(allocate, timing="wall", warmup=0, repeats=1, isolate=True, objectives=["time", "max_rss"])
    small, big = r({"mib": 10}), r({"mib": 160})
    # the memory the call added to the child, whatever the tuner's own size
    assert 9 <= small.values[1] <= 25 and 159 <= big.values[1] <= 175
    with pytest.raises(ConfigError, match="child process"):
        PythonRunner(allocate, objectives=["time", "max_rss"])
    with pytest.raises(ConfigError, match="unknown objective 'watts'"):
        CommandRunner(ALLOC, objectives=["time", "watts"])


def fake_powercap(root, packages):
    for i, (uj, rng) in enumerate(packages):
        z = root / f"intel-rapl:{i}"
        (z / f"intel-rapl:{i}:0").mkdir(parents=True)  # a sub-zone (core), not counted
        (z / "name").write_text(f"package-{i}\n")
        (z / "energy_uj").write_text(f"{uj}\n")
        (z / "max_energy_range_uj").write_text(f"{rng}\n")
    return root


def test_rapl_reading_and_wrap_around(tmp_path):
    root = fake_powercap(tmp_path / "powercap", [(1000, 10_000_000), (9_999_000, 10_000_000)])
    rapl = RaplEnergy(root)
    assert rapl.available and [z.name for z in rapl.zones] == ["package-0", "package-1"]
    before = rapl.read()
    assert before == [1000, 9_999_000]
    (root / "intel-rapl:0" / "energy_uj").write_text("2_501_000".replace("_", ""))
    (root / "intel-rapl:1" / "energy_uj").write_text("500000")  # wrapped: 1000 + 1 + 500000 uJ
    assert rapl.joules(before, rapl.read()) == pytest.approx(2.5 + 0.501001)
    assert "available: package-0, package-1" in observer_status(root)["energy"]


def test_energy_is_unavailable_not_invented(tmp_path):
    missing = RaplEnergy(tmp_path / "none")
    assert not missing.available and "does not exist" in missing.reason
    assert observer_status(tmp_path / "none")["energy"].startswith("unavailable: ")
    with pytest.raises(ConfigError, match="'energy' is unavailable on this machine"):
        CommandRunner(ALLOC, objectives=["time", "energy"], powercap_root=str(tmp_path / "none"))
    # with counters (here a hand-made tree) energy becomes an objective
    root = fake_powercap(tmp_path / "pc", [(5, 10**9)])
    r = CommandRunner(ALLOC, warmup=0, repeats=1, objectives=["time", "energy"], powercap_root=str(root))
    res = r({"mib": 1})
    assert res.ok and res.values[1] == 0.0  # the fake counter did not move
    if not RaplEnergy().available:
        with pytest.raises(ConfigError, match="unavailable"):
            CommandRunner(ALLOC, objectives=["energy"])


# ---------------------------------------------------------------- Pareto fronts
TABLE = {"a": (1.0, 5.0), "b": (2.0, 3.0), "c": (3.0, 4.0), "d": (4.0, 1.0), "e": (2.0, 6.0)}


def lookup(p):
    return TABLE[p]


def test_nsga2_front_on_a_hand_made_case():
    sp = SearchSpace([Categorical("p", list(TABLE))])
    s = Study(sp, PythonRunner(lookup, timing="output"), strategy="nsga2", n_objectives=2, random_state=0)
    out = s.optimize(5)
    # c is dominated by b (2 < 3, 3 < 4), e by a (1 < 2, 5 < 6)
    assert sorted(p["config"]["p"] for p in out["pareto_front"]) == ["a", "b", "d"]
    up = Study(sp, PythonRunner(lookup, timing="output"), strategy="nsga2", n_objectives=2, random_state=0,
               directions=["minimize", "maximize"])
    out = up.optimize(5)
    # minimising the first and maximising the second: a has the lowest first value, e (2, 6)
    # the highest second and dominates b (2, 3), c (3, 4) and d (4, 1)
    assert sorted(p["config"]["p"] for p in out["pareto_front"]) == ["a", "e"]
    with pytest.raises(ConfigError, match="directions"):
        Study(sp, None, n_objectives=2, directions=["minimize", "up"])


MEMTIME = '''
import time


def work(k):
    x = b"a" * ((40 * k) << 20)     # 40, 80, 120, 160 MiB
    # 0.3 s between levels: wide enough that a busy 2-core box cannot reorder them
    time.sleep(0.3 * (5 - k) + (1.0 if k == 4 else 0.0))   # k = 4: most memory and slowest
    return len(x)
'''


def test_spec_objectives_through_the_cli(tmp_path, monkeypatch, capsys):
    from hpcopt.cli import main

    (tmp_path / "memtime_mod.py").write_text(MEMTIME)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent("""
        [study]
        name = "mt"
        objectives = ["time", "max_rss"]
        budget = 4
        [parameters]
        k = [1, 2, 3, 4]
        [runner]
        kind = "python"
        function = "memtime_mod:work"
        timing = "wall"
        warmup = 0
        repeats = 1
        timeout = 10
    """))
    db = f"journal:///{tmp_path / 'mt.log'}"

    def cli(args):
        with pytest.raises(SystemExit) as e:
            main(args)
        out = capsys.readouterr()
        assert e.value.code == 0, out.err
        return out.out

    rep = json.loads(cli(["tune", "run", str(spec), "--storage", db, "--json"]))["payload"]
    assert rep["strategy"] == "nsga2" and rep["objectives"] == ["time", "max_rss"]
    assert sorted(p["config"]["k"] for p in rep["pareto_front"]) == [1, 2, 3], [(t["config"], t["values"]) for t in json.loads(cli(["tune", "report", "--storage", db, "--json"]))["payload"]["pareto_front"]]
    rss = {p["config"]["k"]: p["values"][1] for p in rep["pareto_front"]}
    assert 39 <= rss[1] <= 55 and 119 <= rss[3] <= 135  # 40 and 120 MiB allocated, measured
    rep2 = json.loads(cli(["tune", "report", "--storage", db, "--json"]))["payload"]
    assert rep2["pareto_front"] == rep["pareto_front"] and rep2["objectives"] == ["time", "max_rss"]
    text = cli(["tune", "report", "--storage", db])
    assert "Pareto front (3 configurations)" in text and "max_rss" in text
    obs = json.loads(cli(["tune", "observers", "--json"]))["payload"]
    assert set(obs) == {"time", "max_rss", "energy"}
    bad = tmp_path / "bad.toml"
    bad.write_text(spec.read_text().replace('["time", "max_rss"]', '["time", "watts"]'))
    with pytest.raises(SystemExit) as e:
        main(["tune", "run", str(bad)])
    assert e.value.code == 2 and "objectives must be distinct names" in capsys.readouterr().err


def test_cli_executor_and_storage_options(tmp_path, capsys, monkeypatch, echo_spec):
    from hpcopt.cli import main

    monkeypatch.chdir(tmp_path)  # nothing may be written into the working folder
    pytest.importorskip("submitit")
    spec = echo_spec("echo", [1, 2, 3])
    with pytest.raises(SystemExit) as e:
        main(["tune", "run", str(spec), "--budget", "3", "--workers", "2", "--executor", "submitit",
              "--executor-opt", "cluster=debug", "--executor-opt", f"folder={tmp_path / 'jobs'}",
              "--storage", f"journal:///{tmp_path / 'j.log'}", "--json"])
    out = json.loads(capsys.readouterr().out)["payload"]
    assert e.value.code == 0 and out["executor"] == "submitit" and out["best"]["value"] == 0.5
    with pytest.raises(SystemExit) as e:
        main(["tune", "run", str(spec), "--executor-opt", "nonsense", "--workers", "2", "--json"])
    err = json.loads(capsys.readouterr().out)["error"]  # with --json the error is JSON on stdout
    assert e.value.code == 64 and err["exit_code"] == 64 and "KEY=VALUE" in err["message"]
    assert not (tmp_path / "hpcopt-tune.db").exists()  # options are checked before the study is created


def test_parallel_workers_building_the_same_kernel(tmp_path):
    """Two workers build the reference binary at the same moment: each writes a private
    file and renames it, so neither runs a file the other is still writing."""
    import shutil

    from hpcopt.tune.spec import example_path, load_spec

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    sp = load_spec(example_path("stencil"))
    runner = sp.make_runner(run_args=["256", "256", "2"], repeats=1, warmup=0)
    try:
        s = Study(sp.space, runner, strategy="random", random_state=1)
        out = s.optimize(4, n_workers=2)
    finally:
        runner.close()
    assert out["status_counts"] == {"ok": 4}
