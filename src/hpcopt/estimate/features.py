"""Submit-time features for runtime prediction, maintained incrementally.

:class:`OnlineFeatures` sees the submit-time job table once (outcome columns are -1, see
:func:`hpcopt.estimate.protocol.submit_view`) and then the same events as an online
estimator: a submission (``at_submit`` returns the job's feature vector) and a completion
(``on_complete`` records the runtime). Everything a feature knows about runtimes comes
from completions it was told of, so a vector built for a job submitted at t depends only on
jobs that completed before t.

Features (names in :attr:`OnlineFeatures.names`):

- the request: processors, requested time (log, NaN when missing), requested memory;
- categories: user, group, executable, queue, partition, and string columns known at
  submit time (Alea's ``queue_name`` and ``resource_spec``, a CSV's ``job_name``) coded in
  order of first appearance -- codes carry no runtime information;
- calendar: hour of day and day of week (from the header's ``UnixStartTime`` when present);
- the user's completed jobs: last two runtimes, Tsafrir's estimate, mean and spread of the
  last ``history`` log runtimes, mean runtime/request ratio, count, the last runtime of the
  user's jobs with the same request, time since the user's last submission and last
  completion, the user's jobs still outstanding;
- the system: jobs submitted and not yet completed (queued or running: the events do not
  say which), their processors and their requested work.

Features whose source field is absent from the trace (no user ids, no requested times,
...) or constant are dropped; :attr:`OnlineFeatures.dropped` names each with its reason.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

# Integer SWF columns used as categories.
CATEGORICAL_COLUMNS = ("user", "group", "executable", "queue", "partition")
# String columns known at submit time -> the integer column they would duplicate.
STRING_COLUMNS = {"queue_name": "queue", "resource_spec": None, "job_name": "executable"}

REQUEST_FEATURES = ("req_procs", "log_req_time", "log_req_mem")
CALENDAR_FEATURES = ("hour_of_day", "day_of_week")
USER_FEATURES = (
    "user_last_runtime",
    "user_last2_runtime",
    "user_tsafrir",
    "user_mean_log_runtime",
    "user_std_log_runtime",
    "user_mean_ratio",
    "user_completed",
    "user_same_request_runtime",
    "user_since_submit",
    "user_since_complete",
    "user_outstanding",
)
SYSTEM_FEATURES = ("sys_outstanding_jobs", "sys_outstanding_procs", "sys_outstanding_work")
# Features that need the requested time / user ids.
NEEDS_REQUEST = ("log_req_time", "user_mean_ratio", "user_same_request_runtime")
NEEDS_USER = USER_FEATURES


class _User:
    __slots__ = ("runtimes", "ratios", "count", "last_submit", "last_complete", "outstanding", "same_req")

    def __init__(self, history: int) -> None:
        self.runtimes: deque = deque(maxlen=history)
        self.ratios: deque = deque(maxlen=history)
        self.count = 0
        self.last_submit = np.nan
        self.last_complete = np.nan
        self.outstanding = 0
        self.same_req: dict[float, float] = {}


class OnlineFeatures:
    """Submit-time feature vectors for the rows of one job table.

    ``vocab`` maps string columns' values to codes (a saved model passes its own so that
    codes mean the same on another trace); new values get new codes.
    """

    def __init__(self, jobs: pd.DataFrame, header: dict[str, str] | None = None, history: int = 5,
                 vocab: dict[str, dict[str, int]] | None = None, keep: tuple[str, ...] | None = None) -> None:
        header = header or {}
        self.history = history
        n = len(jobs)
        self.n = n
        self.req_time = jobs["req_time"].to_numpy(dtype=np.float64)
        self.has_request = self.req_time > 0
        req_procs = jobs["req_procs"].to_numpy(dtype=np.float64)
        alloc = jobs["alloc_procs"].to_numpy(dtype=np.float64)
        # Requested processors; the allocation where a trace gives no request (the
        # simulator does the same: SWF logs often fill only one of the two).
        self.procs = np.where(req_procs > 0, req_procs, np.where(alloc > 0, alloc, np.nan))
        req_mem = jobs["req_mem"].to_numpy(dtype=np.float64)
        self.user = jobs["user"].to_numpy(dtype=np.int64)
        self.dropped: dict[str, str] = {}
        self.vocab: dict[str, dict[str, int]] = {k: dict(v) for k, v in (vocab or {}).items()}

        static: dict[str, np.ndarray] = {}
        static["req_procs"] = self.procs
        static["log_req_time"] = np.where(self.has_request, np.log1p(np.maximum(self.req_time, 0)), np.nan)
        static["log_req_mem"] = np.where(req_mem > 0, np.log1p(np.maximum(req_mem, 0)), np.nan)
        if not self.has_request.any():
            for f in NEEDS_REQUEST:
                self.dropped[f] = "the trace has no requested times (field 9)"
        if not np.isfinite(static["log_req_mem"]).any():
            self.dropped["log_req_mem"] = "the trace has no requested memory (field 10)"
        if not np.isfinite(self.procs).any():
            self.dropped["req_procs"] = "the trace has no processor counts (fields 5 and 8)"

        epoch = 0
        for k, v in header.items():
            if k.lower() == "unixstarttime":
                try:
                    epoch = int(float(str(v).split()[0]))
                except (ValueError, IndexError):
                    epoch = 0
        t = jobs["submit"].to_numpy(dtype=np.float64) + epoch
        static["hour_of_day"] = np.mod(t, 86400.0) / 3600.0
        # 1970-01-01 was a Thursday: shift so that 0 is Monday.
        static["day_of_week"] = np.floor(np.mod(t / 86400.0 + 3.0, 7.0))

        self.categorical: list[str] = []
        for c in CATEGORICAL_COLUMNS:
            v = jobs[c].to_numpy(dtype=np.int64)
            known = v[v >= 0]
            if len(known) == 0:
                self.dropped[c] = f"the trace has no {c} ids"
            elif len(np.unique(known)) < 2:
                self.dropped[c] = f"{c} is the same for every job"
            static[c] = np.where(v >= 0, v, np.nan).astype(np.float64)
            self.categorical.append(c)
        for c, twin in STRING_COLUMNS.items():
            if c not in jobs.columns:
                continue
            if twin is not None and twin not in self.dropped:
                continue  # the integer column already codes it
            codes = self._codes(c, jobs[c].astype(str).to_numpy())
            known = codes[np.isfinite(codes)]
            if len(np.unique(known)) < 2:
                self.dropped[c] = f"{c} is the same for every job"
            static[c] = codes
            self.categorical.append(c)
        if self.user.max(initial=-1) < 0:
            for f in NEEDS_USER:
                self.dropped[f] = "the trace has no user ids (field 12)"

        names = [*REQUEST_FEATURES, *CALENDAR_FEATURES, *self.categorical, *USER_FEATURES, *SYSTEM_FEATURES]
        if keep is not None:
            # A saved model's feature list: the same columns in the same order.
            self.missing = [f for f in keep if f not in names or f in self.dropped]
            names = list(keep)
        else:
            self.missing = []
            names = [f for f in names if f not in self.dropped]
        self.names: list[str] = names
        self.categorical = [c for c in self.categorical if c in names]
        self._col = {f: i for i, f in enumerate(names)}
        self._static = np.full((n, len(names)), np.nan)
        for f, arr in static.items():
            if f in self._col and f not in self.dropped:
                self._static[:, self._col[f]] = arr
        self._user_cols = [self._col.get(f, -1) for f in USER_FEATURES]
        self._sys_cols = [self._col.get(f, -1) for f in SYSTEM_FEATURES]
        self.reset()

    def _codes(self, column: str, values: np.ndarray) -> np.ndarray:
        table = self.vocab.setdefault(column, {})
        out = np.empty(len(values))
        for i, v in enumerate(values):
            if v.strip().lower() in ("", "nan", "none", "-1"):
                out[i] = np.nan
                continue
            code = table.get(v)
            if code is None:
                code = table[v] = len(table)
            out[i] = code
        return out

    def reset(self) -> None:
        self.users: dict[int, _User] = {}
        self.out_jobs = 0
        self.out_procs = 0.0
        self.out_work = 0.0
        self.submitted = np.zeros(self.n, dtype=bool)

    def _user(self, u: int) -> _User:
        rec = self.users.get(u)
        if rec is None:
            rec = self.users[u] = _User(self.history)
        return rec

    def at_submit(self, row: int, now: float) -> np.ndarray:
        """The feature vector of job ``row`` submitted at ``now`` (and record the submission)."""
        x = self._static[row].copy()
        u = int(self.user[row])
        req = self.req_time[row]
        if u >= 0:
            rec = self._user(u)
            vals = self._user_values(rec, req, now)
            for c, v in zip(self._user_cols, vals):
                if c >= 0:
                    x[c] = v
            rec.last_submit = now
            rec.outstanding += 1
        procs = self.procs[row] if np.isfinite(self.procs[row]) else 1.0
        for c, v in zip(self._sys_cols, (self.out_jobs, self.out_procs, np.log1p(self.out_work))):
            if c >= 0:
                x[c] = v
        self.out_jobs += 1
        self.out_procs += procs
        if req > 0:
            self.out_work += procs * req
        self.submitted[row] = True
        return x

    def _user_values(self, rec: _User, req: float, now: float) -> tuple:
        nan = np.nan
        if rec.count == 0:
            tsafrir = np.log1p(req) if req > 0 else nan
            return (nan, nan, tsafrir, nan, nan, nan, 0.0, nan,
                    now - rec.last_submit, nan, float(rec.outstanding))
        runs = rec.runtimes
        logs = np.log1p(np.fromiter(runs, float, len(runs)))
        last = logs[-1]
        last2 = float(np.mean(list(runs)[-2:]))
        ts = min(last2, req) if req > 0 else last2
        ratio = float(np.mean(rec.ratios)) if rec.ratios else nan
        same = rec.same_req.get(req, nan) if req > 0 else nan
        return (last, np.log1p(last2), np.log1p(ts), float(logs.mean()), float(logs.std()) if len(logs) > 1 else nan,
                ratio, float(rec.count), np.log1p(same) if same == same else nan,
                now - rec.last_submit, now - rec.last_complete, float(rec.outstanding))

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        u = int(self.user[row])
        req = self.req_time[row]
        if u >= 0:
            rec = self._user(u)
            rec.runtimes.append(runtime)
            if req > 0:
                rec.ratios.append(runtime / req)
                rec.same_req[req] = runtime
            rec.count += 1
            rec.last_complete = now
            if self.submitted[row]:
                rec.outstanding -= 1
        if self.submitted[row]:
            procs = self.procs[row] if np.isfinite(self.procs[row]) else 1.0
            self.out_jobs -= 1
            self.out_procs -= procs
            if req > 0:
                self.out_work = max(self.out_work - procs * req, 0.0)
            self.submitted[row] = False


def trace_events(workload) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The trace's own submissions and completions, as replay_trace orders them.

    Returns (rows, submit, end, runtime) for the evaluable jobs and the event order is
    built by :func:`replay_features`.
    """
    from hpcopt.estimate.replay import evaluable_rows

    rows = evaluable_rows(workload)
    submit = workload.column("submit").astype(np.float64)[rows]
    run = workload.column("runtime").astype(np.float64)[rows]
    wait = workload.column("wait").astype(np.float64)[rows]
    end = submit + np.where(wait >= 0, wait, 0.0) + run
    return rows, submit, end, run


def replay_features(workload, history: int = 5, vocab=None, keep=None):
    """Honest features for every evaluable job of a trace (offline API).

    Replays the trace's own events (submissions before completions at equal times), so the
    vector of a job submitted at t uses only jobs that completed before t. Returns
    (features DataFrame indexed by table row, runtimes, end times, the OnlineFeatures).
    """
    from hpcopt.estimate.protocol import submit_view

    rows, submit, end, run = trace_events(workload)
    feats = OnlineFeatures(submit_view(workload), dict(workload.header), history=history, vocab=vocab, keep=keep)
    n = len(rows)
    times = np.concatenate([submit, end])
    kinds = np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)])
    idx = np.concatenate([np.arange(n), np.arange(n)])
    X = np.empty((n, len(feats.names)))
    for e in np.lexsort((idx, kinds, times)):
        k = idx[e]
        if kinds[e] == 0:
            X[k] = feats.at_submit(int(rows[k]), float(submit[k]))
        else:
            feats.on_complete(int(rows[k]), float(end[k]), float(run[k]))
    frame = pd.DataFrame(X, columns=feats.names, index=pd.Index(rows, name="row"))
    return frame, run, end, feats
