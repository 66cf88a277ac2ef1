"""Can Optuna's own storages carry what hpcopt's study storage keeps?

For Optuna's ``RDBStorage`` (SQLite file) and ``JournalStorage`` (``JournalFileBackend``)
this measures, by running each case, whether the extras hpcopt's ``tune.storage`` keeps
can ride on trial/study attributes and states:

* ``attrs``: a trial's result dict, owner, configuration key and source as user/system
  attributes, read back by a fresh storage object; and whether a *finished* trial can
  still be marked (hpcopt marks failed trials ``retried`` after they finished);
* ``lease``: a running trial whose heartbeat stopped is failed by
  ``optuna.storages.fail_stale_trials`` (RDB only: Journal has no heartbeat), with the
  delay it took and whether a sub-second interval is accepted;
* ``typed_failure``: a failure status (``timeout``, ``wrong_answer``...) kept with a FAIL trial;
* ``cache``: a measured configuration found again by runner fingerprint across studies
  (a study system attribute + a scan), timed against hpcopt's indexed lookup;
* ``claims``: (``--rounds`` times) 3 processes race (a barrier before every claim) to claim the same
  configurations of one study with a budget of distinct configurations; duplicates
  (a configuration claimed by two processes), budget overrun, lost claims (budget left
  unfilled) and errors are counted for hpcopt's ``start_trial(unique=True, limit=...)``
  and for three ways to do it on Optuna's public storage API: check-then-create,
  enqueue-then-pop (Optuna's WAITING->RUNNING compare-and-set) and claim-then-verify
  (create, re-read, the lowest trial number of a configuration wins);
* ``timing``: per-trial write (running, then finished with its result) and open-and-read-all
  (a journal replays its file on opening) medians over repeats, hpcopt SQLite/journal against Optuna RDB/journal.

Prints one JSON document. ``python benchmarks/tune_storage_optuna.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import optuna
from optuna.distributions import IntDistribution
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial

from hpcopt.tune.results import Result, Status
from hpcopt.tune.storage import Refused, Storage, this_owner

optuna.logging.set_verbosity(optuna.logging.ERROR)
DIST = {"x": IntDistribution(0, 10_000)}
KEY = "hpcopt:key"


def optuna_storage(kind: str, d: Path, name: str = "o", **kw):
    if kind == "optuna-rdb":
        kw.setdefault("engine_kwargs", {"connect_args": {"timeout": 30}})
        return RDBStorage(f"sqlite:///{d / (name + '.db')}", **kw)
    return JournalStorage(JournalFileBackend(str(d / (name + ".log"))))


def hpcopt_storage(kind: str, d: Path, name: str = "h"):
    return Storage(str(d / (name + ".db")) if kind == "hpcopt-sqlite" else f"journal:///{d / (name + '.log')}")


def new_study(st, name="s"):
    try:
        return st.create_new_study([optuna.study.StudyDirection.MINIMIZE], name)
    except optuna.exceptions.DuplicatedStudyError:
        return st.get_study_id_from_name(name)


def running_template(x: int, owner: str = "") -> optuna.trial.FrozenTrial:
    return create_trial(state=TrialState.RUNNING, params={"x": x}, distributions=DIST,
                        system_attrs={KEY: str(x), "hpcopt:owner": owner or this_owner()})


# -- capabilities -------------------------------------------------------------------------
def case_attrs(kind: str, d: Path) -> dict:
    st = optuna_storage(kind, d, "attrs")
    sid = new_study(st)
    res = Result.failure(Status.TIMEOUT, "ran past 5 s", extra={"seconds": 5.0})
    tid = st.create_new_trial(sid, running_template(3))
    st.set_trial_user_attr(tid, "hpcopt:result", res.to_dict())
    st.set_trial_system_attr(tid, "hpcopt:source", "measured")
    st.set_trial_state_values(tid, TrialState.FAIL)
    again = optuna_storage(kind, d, "attrs")
    t = again.get_trial(tid)
    round_trip = (Result.from_dict(t.user_attrs["hpcopt:result"]) == res and t.system_attrs[KEY] == "3"
                  and t.system_attrs["hpcopt:source"] == "measured" and t.state == TrialState.FAIL)
    marks = {}
    for what, fn in (("system_attr", lambda: again.set_trial_system_attr(tid, "hpcopt:state", "retried")),
                     ("user_attr", lambda: again.set_trial_user_attr(tid, "hpcopt:state", "retried")),
                     ("state", lambda: again.set_trial_state_values(tid, TrialState.PRUNED))):
        try:
            fn()
            marks[what] = "written"
        except Exception as exc:  # noqa: BLE001 - the error type is the measurement
            marks[what] = type(exc).__name__
    study_attr_ok = True
    try:
        again.set_study_system_attr(sid, "hpcopt:retried", [t.number])
    except Exception:  # noqa: BLE001
        study_attr_ok = False
    return {"round_trip_after_reopen": round_trip, "mark_a_finished_trial": marks,
            "study_system_attr_writable": study_attr_ok,
            "typed_failure_round_trip": round_trip and t.user_attrs["hpcopt:result"]["status"] == "timeout"}


def case_lease(kind: str, d: Path) -> dict:
    if kind != "optuna-rdb":
        st = optuna_storage(kind, d, "lease")
        return {"heartbeat_supported": isinstance(st, optuna.storages._heartbeat.BaseHeartbeat)}
    try:
        RDBStorage(f"sqlite:///{d / 'l0.db'}", heartbeat_interval=0.5)
        sub_second = True
    except Exception as exc:  # noqa: BLE001
        sub_second = f"refused: {type(exc).__name__}"
    st = optuna_storage(kind, d, "lease", heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="s", storage=st)
    tid = st.create_new_trial(study._study_id, running_template(1))
    st.record_heartbeat(tid)
    t0 = time.monotonic()
    state = TrialState.RUNNING
    while time.monotonic() - t0 < 10 and state == TrialState.RUNNING:
        time.sleep(0.1)
        optuna.storages.fail_stale_trials(study)
        state = st.get_trial(tid).state
    return {"heartbeat_supported": True, "stale_trial_state": state.name,
            "released_after_s": round(time.monotonic() - t0, 2), "sub_second_interval": sub_second,
            "owner_gone_detection": False}


def case_cache(kind: str, d: Path, n_studies: int, n_trials: int, repeats: int) -> dict:
    """A measured configuration found by runner fingerprint across studies."""
    times = []
    if kind.startswith("hpcopt"):
        st = hpcopt_storage(kind, d, "cache")
        for s in range(n_studies):
            st.create_or_load_study(f"s{s}", {"space": {}}, f"fp{s % 2}")
            for i in range(n_trials):
                st.add_done_trial(f"s{s}", {"x": i}, str(i), Result.success(float(i)), "measured")
        for _ in range(repeats):
            t0 = time.perf_counter()
            got = st.cached_result("fp1", str(n_trials - 1))
            times.append(time.perf_counter() - t0)
        found = got is not None and got.value == n_trials - 1
    else:
        st = optuna_storage(kind, d, "cache")
        for s in range(n_studies):
            sid = new_study(st, f"s{s}")
            st.set_study_system_attr(sid, "hpcopt:fingerprint", f"fp{s % 2}")
            for i in range(n_trials):
                st.create_new_trial(sid, create_trial(value=float(i), params={"x": i}, distributions=DIST,
                                                      system_attrs={KEY: str(i), "hpcopt:source": "measured"}))

        def lookup(fp, key):
            for s in st.get_all_studies():
                if s.system_attrs.get("hpcopt:fingerprint") != fp:
                    continue
                for t in st.get_all_trials(s._study_id, deepcopy=False, states=(TrialState.COMPLETE,)):
                    if t.system_attrs.get(KEY) == key and t.system_attrs.get("hpcopt:source") == "measured":
                        return t.value
            return None
        for _ in range(repeats):
            t0 = time.perf_counter()
            got = lookup("fp1", str(n_trials - 1))
            times.append(time.perf_counter() - t0)
        found = got == n_trials - 1
    return {"found": found, "lookup_ms_median": round(1e3 * statistics.median(times), 3),
            "trials_stored": n_studies * n_trials}


# -- the race -----------------------------------------------------------------------------
def _claim_worker(kind, method, d, configs, budget, barrier, out_q, wid):
    claimed, errors, refused = [], 0, 0
    try:  # the parent created the storage and the study
        if kind.startswith("hpcopt"):
            st = hpcopt_storage(kind, d, "race")
        else:
            st = optuna_storage(kind, d, "race")
            sid = st.get_study_id_from_name("s")
            study = optuna.load_study(study_name="s", storage=st)
    except Exception as exc:  # noqa: BLE001
        barrier.abort()
        out_q.put({"claimed": [], "errors": len(configs), "setup_error": repr(exc)[:200]})
        return
    owner = f"w{wid}"
    for x in configs:
        try:
            barrier.wait(timeout=60)
        except Exception:  # noqa: BLE001 - a broken barrier: keep going unsynchronised
            pass
        try:
            if kind.startswith("hpcopt"):
                n = st.start_trial("s", {"x": x}, str(x), owner=owner, unique=True, limit=budget)
                ok = not isinstance(n, Refused)
            elif method == "check_then_create":
                live = st.get_all_trials(sid, deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
                keys = {t.system_attrs.get(KEY) for t in live}
                ok = str(x) not in keys and len(keys) < budget
                if ok:
                    st.create_new_trial(sid, running_template(x, owner))
            elif method == "enqueue_then_pop":
                live = st.get_all_trials(sid, deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
                keys = {str(t.params.get("x")) for t in live}
                ok = False
                if str(x) not in keys and len(keys) < budget:
                    study.enqueue_trial({"x": x}, skip_if_exists=True)
                    for t in st.get_all_trials(sid, deepcopy=False, states=(TrialState.WAITING,)):
                        if t.system_attrs.get("fixed_params", {}).get("x") == x:
                            # Optuna's compare-and-set: True for the one worker that pops it
                            if st.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                                ok = True
                                break
            else:  # claim_then_verify: create, re-read, the lowest number per key wins
                tid = st.create_new_trial(sid, running_template(x, owner))
                mine = st.get_trial(tid).number
                live = st.get_all_trials(sid, deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
                first: dict[str, int] = {}
                for t in sorted(live, key=lambda t: t.number):
                    first.setdefault(t.system_attrs.get(KEY), t.number)
                order = sorted(first.values())
                ok = first.get(str(x)) == mine and order.index(mine) < budget
                if not ok:
                    st.set_trial_system_attr(tid, "hpcopt:lost", True)
                    st.set_trial_state_values(tid, TrialState.FAIL)
        except Exception:  # noqa: BLE001 - counted: a lost claim with an error
            errors += 1
            ok = False
        if ok:
            claimed.append(x)
        else:
            refused += 1
    out_q.put({"claimed": claimed, "errors": errors})


def case_claims(kind: str, method: str, d: Path, n_configs: int, budget: int, n_proc: int = 3) -> dict:
    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(n_proc), ctx.Queue()
    configs = list(range(n_configs))
    if kind.startswith("hpcopt"):
        hpcopt_storage(kind, d, "race").create_or_load_study("s", {"space": {}}, "fp")
    else:
        new_study(optuna_storage(kind, d, "race"))
    t0 = time.perf_counter()
    ps = [ctx.Process(target=_claim_worker, args=(kind, method, d, configs, budget, barrier, q, i))
          for i in range(n_proc)]
    for p in ps:
        p.start()
    outs = [q.get(timeout=300) for _ in ps]
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    counts: dict[int, int] = {}
    for o in outs:
        for x in o["claimed"]:
            counts[x] = counts.get(x, 0) + 1
    distinct = len(counts)
    if kind.startswith("hpcopt"):
        written = len(hpcopt_storage(kind, d, "race").history("s"))
    else:
        st = optuna_storage(kind, d, "race")
        written = len(st.get_all_trials(st.get_study_id_from_name("s"), deepcopy=False))
    return {"trials_written": written, "configs": n_configs, "budget": budget, "processes": n_proc,
            "claims": sum(counts.values()), "distinct": distinct,
            "duplicates": sum(c - 1 for c in counts.values()),
            "budget_overrun": max(0, distinct - budget), "lost": max(0, min(budget, n_configs) - distinct),
            "errors": sum(o["errors"] for o in outs), "ms_per_claim": round(1e3 * wall / n_configs, 2),
            **({"setup_errors": errs} if (errs := [o["setup_error"] for o in outs if "setup_error" in o]) else {})}


def case_claims_rounds(kind: str, method: str, d: Path, n_configs: int, budget: int, rounds: int) -> dict:
    """The race ``rounds`` times on fresh storages (races depend on timing): each count
    per round, the claim time as a median."""
    runs = []
    for r in range(rounds):
        sub = d / f"round{r}"
        sub.mkdir()
        runs.append(case_claims(kind, method, sub, n_configs, budget))
    out = {k: runs[0][k] for k in ("configs", "budget", "processes")}
    for k in ("trials_written", "claims", "distinct", "duplicates", "budget_overrun", "lost", "errors"):
        out[k] = [x[k] for x in runs]
    out["ms_per_claim_median"] = statistics.median(x["ms_per_claim"] for x in runs)
    errs = [e for x in runs for e in x.get("setup_errors", [])]
    if errs:
        out["setup_errors"] = errs
    return out


def _open_worker(kind, d, barrier, out_q):
    try:
        barrier.wait(timeout=60)
        if kind.startswith("hpcopt"):
            hpcopt_storage(kind, d, "open")
        else:
            optuna_storage(kind, d, "open")
        out_q.put(None)
    except Exception as exc:  # noqa: BLE001 - the failure is the measurement
        out_q.put(type(exc).__name__)


def case_concurrent_open(kind: str, d: Path, n_proc: int = 3, rounds: int = 3) -> dict:
    """``n_proc`` processes open one new storage file at the same moment."""
    ctx = mp.get_context("fork")
    failures: list[str] = []
    for r in range(rounds):
        sub = d / f"open{r}"
        sub.mkdir()
        barrier, q = ctx.Barrier(n_proc), ctx.Queue()
        ps = [ctx.Process(target=_open_worker, args=(kind, sub, barrier, q)) for _ in range(n_proc)]
        for p in ps:
            p.start()
        failures += [e for e in (q.get(timeout=120) for _ in ps) if e]
        for p in ps:
            p.join()
    return {"opens": n_proc * rounds, "failed": len(failures), "errors": sorted(set(failures))}


# -- timing -------------------------------------------------------------------------------
def case_timing(kind: str, d: Path, n: int, repeats: int) -> dict:
    writes, reads = [], []
    for r in range(repeats):
        if kind.startswith("hpcopt"):
            st = hpcopt_storage(kind, d, f"t{r}")
            st.create_or_load_study("s", {"space": {}}, "fp")
            t0 = time.perf_counter()
            for i in range(n):
                k = st.start_trial("s", {"x": i}, str(i), owner=this_owner(), unique=True, limit=10 * n)
                st.finish_trial("s", k, Result.success(float(i), [float(i)]), key=str(i))
            writes.append((time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            fresh = hpcopt_storage(kind, d, f"t{r}")
            got = fresh.trials("s")
            reads.append(time.perf_counter() - t0)
        else:
            st = optuna_storage(kind, d, f"t{r}")
            sid = new_study(st)
            t0 = time.perf_counter()
            for i in range(n):
                tid = st.create_new_trial(sid, running_template(i))
                st.set_trial_user_attr(tid, "hpcopt:result", Result.success(float(i), [float(i)]).to_dict())
                st.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
            writes.append((time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            fresh = optuna_storage(kind, d, f"t{r}")
            got = fresh.get_all_trials(sid, deepcopy=False)
            reads.append(time.perf_counter() - t0)
        assert len(got) == n
    return {"trials": n, "repeats": repeats, "write_ms_per_trial": round(1e3 * statistics.median(writes), 3),
            "open_and_read_all_ms": round(1e3 * statistics.median(reads), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials and repeats")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--rounds", type=int, default=3, help="races per storage and method (default 3)")
    a = ap.parse_args()
    n, reps, cfgs, budget = (20, 3, 12, 8) if a.quick else (50, 5, 30, 20)
    out: dict = {"optuna": optuna.__version__, "python": platform.python_version(),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "capabilities": {}, "claims": {},
                 "concurrent_open": {}, "cache": {}, "timing": {}}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for kind in ("optuna-rdb", "optuna-journal"):
            sub = d / kind
            sub.mkdir()
            out["capabilities"][kind] = {**case_attrs(kind, sub), "lease": case_lease(kind, sub)}
        for kind in ("hpcopt-sqlite", "hpcopt-journal", "optuna-rdb", "optuna-journal"):
            methods = ["start_trial"] if kind.startswith("hpcopt") else \
                ["check_then_create", "enqueue_then_pop", "claim_then_verify"]
            for m in methods:
                sub = d / f"race-{kind}-{m}"
                sub.mkdir()
                out["claims"][f"{kind}/{m}"] = case_claims_rounds(kind, m, sub, cfgs, budget, a.rounds)
            sub = d / f"open-{kind}"
            sub.mkdir()
            out["concurrent_open"][kind] = case_concurrent_open(kind, sub)
            sub = d / f"cache-{kind}"
            sub.mkdir()
            out["cache"][kind] = case_cache(kind, sub, 6, n, reps)
            sub = d / f"time-{kind}"
            sub.mkdir()
            out["timing"][kind] = case_timing(kind, sub, n, reps)
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
