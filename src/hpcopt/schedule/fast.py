"""The built-in orders and backfilling rules, compiled with numba.

Same semantics, to the last digit, as :mod:`hpcopt.schedule.engine` with the objects in
:mod:`hpcopt.schedule.policies` (a property test checks it on random workloads); this
one is for speed. Data structures are chosen so that no event costs work proportional
to the whole workload:

- completions: a binary heap keyed on (end time, job index);
- the queue, for static orders (FCFS, SJF, F1) without conservative backfilling: a
  segment tree over each job's precomputed rank, so arrival, start, the head and EASY's
  next backfill candidate cost O(log n); time-dependent orders (WFP3, UNICEP) keep an
  array, score it once per pass (skipped when no queued job fits) and sort only the jobs
  that fit now; conservative backfilling keeps the array in priority order;
- running jobs: an array kept sorted by expected end, so EASY's shadow time is a walk
  from the front;
- conservative backfilling: an incrementally maintained free-processor profile; the
  queue is re-placed only when a job ends before its estimate.

Runtime estimates must be static here (requested or actual runtimes, or predictions
made before the simulation starts); online predictors run in the generic engine.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hpcopt.schedule.policies import MIN_RESERVATION

ORDER_CODES = {"fcfs": 0, "sjf": 1, "wfp3": 2, "unicep": 3, "f1": 4}
BACKFILL_CODES = {"none": 0, "easy": 1, "conservative": 2}
INF = np.inf


# ------------------------------------------------------------------ completion heap


@njit(cache=True, inline="always")
def _less(t1, j1, t2, j2):
    return t1 < t2 or (t1 == t2 and j1 < j2)


@njit(cache=True)
def _heap_push(ht, hj, size, t, j):
    k = size
    ht[k] = t
    hj[k] = j
    while k > 0:
        parent = (k - 1) >> 1
        if _less(ht[k], hj[k], ht[parent], hj[parent]):
            ht[k], ht[parent] = ht[parent], ht[k]
            hj[k], hj[parent] = hj[parent], hj[k]
            k = parent
        else:
            break
    return size + 1


@njit(cache=True)
def _heap_pop(ht, hj, size):
    size -= 1
    ht[0] = ht[size]
    hj[0] = hj[size]
    k = 0
    while True:
        left = 2 * k + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and _less(ht[right], hj[right], ht[left], hj[left]):
            child = right
        if _less(ht[child], hj[child], ht[k], hj[k]):
            ht[k], ht[child] = ht[child], ht[k]
            hj[k], hj[child] = hj[child], hj[k]
            k = child
        else:
            break
    return size


# ------------------------------------------------------------------ scores


@njit(cache=True)
def _log10(x):
    if x > 0:
        return math.log10(x)
    return -INF


@njit(cache=True)
def _dynamic_score(order, wait, est, procs, denom):
    if order == 2:  # WFP3
        if est <= 0:
            return -INF if wait > 0 else 0.0
        x = wait / est
        return -(x * x * x) * procs
    # UNICEP; denom = log2(procs) * est, computed once per job
    if denom <= 0:
        return -INF if wait > 0 else 0.0
    return -wait / denom


# ------------------------------------------------------------------ profile


@njit(cache=True)
def _prof_point(PT, PF, m, t):
    lo, hi = 0, m
    while lo < hi:  # first index with PT > t
        mid = (lo + hi) >> 1
        if PT[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    k = lo - 1
    if PT[k] == t:
        return k, m
    for q in range(m, k + 1, -1):
        PT[q] = PT[q - 1]
        PF[q] = PF[q - 1]
    PT[k + 1] = t
    PF[k + 1] = PF[k]
    return k + 1, m + 1


@njit(cache=True)
def _prof_add(PT, PF, m, s, e, delta):
    if s < PT[0]:
        s = PT[0]
    if e <= s:
        return m
    i, m = _prof_point(PT, PF, m, s)
    j, m = _prof_point(PT, PF, m, e)
    for k in range(i, j):
        PF[k] += delta
    return m


@njit(cache=True)
def _prof_earliest(PT, PF, m, now, p, d):
    k = 0
    while k + 1 < m and PT[k + 1] <= now:
        k += 1
    while k < m:
        s = PT[k] if PT[k] > now else now
        e = s + d
        q = k
        ok = True
        while q < m and (q == k or PT[q] < e):
            if PF[q] < p:
                ok = False
                break
            q += 1
        if ok:
            return s
        k = q + 1
    return INF


@njit(cache=True)
def _prof_forget_past(PT, PF, m, now):
    k = 0
    while k + 1 < m and PT[k + 1] <= now:
        k += 1
    if k > 0:
        for q in range(k, m):
            PT[q - k] = PT[q]
            PF[q - k] = PF[q]
        m -= k
    PT[0] = now
    return m


@njit(cache=True)
def _prof_room(PT, PF, m):
    """Make room for two more breakpoints: merge equal neighbours, else grow."""
    if m + 2 < PT.shape[0]:
        return PT, PF, m
    m = _prof_compact(PT, PF, m)
    if m + 2 * (PT.shape[0] // 4) + 2 < PT.shape[0]:
        return PT, PF, m
    PT2 = np.empty(2 * PT.shape[0] + 8)
    PF2 = np.empty(2 * PT.shape[0] + 8, dtype=np.int64)
    PT2[:m] = PT[:m]
    PF2[:m] = PF[:m]
    return PT2, PF2, m


@njit(cache=True)
def _prof_compact(PT, PF, m):
    w = 1
    for q in range(1, m):
        if PF[q] != PF[w - 1]:
            PT[w] = PT[q]
            PF[w] = PF[q]
            w += 1
    return w



# ------------------------------------------------------------------ queue tree
# Static orders (FCFS, SJF, F1) fix every job's place in the queue in advance (its rank),
# so the queue is a segment tree over ranks holding, per subtree, the smallest processor
# count and the smallest estimate of the jobs waiting there. Arrival, start, the head,
# and "the next waiting job that EASY may backfill" each cost O(log n), however long the
# queue grows.

BIGP = np.int64(1) << 62


@njit(cache=True)
def _tree_set(tp, te, size, pos, p, e):
    k = size + pos
    tp[k] = p
    te[k] = e
    k >>= 1
    while k >= 1:
        a, b = 2 * k, 2 * k + 1
        tp[k] = tp[a] if tp[a] < tp[b] else tp[b]
        te[k] = te[a] if te[a] < te[b] else te[b]
        k >>= 1


@njit(cache=True)
def _tree_first(tp, te, size, lo, f, now, shadow, extra, stack):
    """First rank >= lo of a waiting job with procs <= f and (now + est <= shadow or
    procs <= extra); -1 if none. Subtrees are pruned on their minima."""
    top = 0
    stack[0, 0] = 1
    stack[0, 1] = 0
    stack[0, 2] = size
    top = 1
    while top > 0:
        top -= 1
        node = stack[top, 0]
        nlo = stack[top, 1]
        nhi = stack[top, 2]
        if nhi <= lo or tp[node] > f:
            continue
        if not (now + te[node] <= shadow or tp[node] <= extra):
            continue
        if node >= size:
            return node - size
        mid = (nlo + nhi) >> 1
        stack[top, 0] = 2 * node + 1
        stack[top, 1] = mid
        stack[top, 2] = nhi
        top += 1
        stack[top, 0] = 2 * node
        stack[top, 1] = nlo
        stack[top, 2] = mid
        top += 1
    return -1


@njit(cache=True)
def _running_pos(re, rj, rn, ee, j):
    """Position of (expected end ee, job j) in the running array sorted on that pair."""
    lo, hi = 0, rn
    while lo < hi:
        mid = (lo + hi) >> 1
        if _less(re[mid], rj[mid], ee, j):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _launch(j, now, duration, est, ht, hj, hsize, re, rj, rn):
    """Start job j now: its completion into the heap, its expected end into the running array."""
    hsize = _heap_push(ht, hj, hsize, now + duration[j], j)
    ee = now + est[j]
    lo = _running_pos(re, rj, rn, ee, j)
    for kk in range(rn, lo, -1):
        re[kk] = re[kk - 1]
        rj[kk] = rj[kk - 1]
    re[lo] = ee
    rj[lo] = j
    return hsize, rn + 1

# ------------------------------------------------------------------ the kernel


@njit(cache=True)
def simulate_kernel(submit, duration, est, procs, P, order, backfill):
    n = submit.shape[0]
    start = np.full(n, -1.0)
    # time series, one entry per instant: time, queue length, busy processors
    # instants: arrivals, completions and reservation wake-ups, at most 3n
    ts_t = np.empty(3 * n + 3)
    ts_q = np.empty(3 * n + 3, dtype=np.int64)
    ts_b = np.empty(3 * n + 3, dtype=np.int64)
    nts = 0
    ht = np.empty(n + 1)
    hj = np.empty(n + 1, dtype=np.int64)
    hsize = 0
    # queue: job indices in priority order (static orders) or index order (dynamic)
    q = np.empty(n, dtype=np.int64)
    qn = 0
    static = order == 0 or order == 1 or order == 4
    skey = np.zeros(n)
    if order == 1:
        for j in range(n):
            skey[j] = est[j]
    elif order == 4:
        for j in range(n):
            skey[j] = _log10(est[j]) * procs[j] + 870.0 * _log10(submit[j])
    tree = static and backfill != 2
    size = 1
    while size < max(n, 1):
        size <<= 1
    tp = np.full(2 * size, BIGP, dtype=np.int64)
    te = np.full(2 * size, INF)
    rank = np.empty(n, dtype=np.int64)
    byrank = np.empty(n, dtype=np.int64)
    stack = np.empty((128, 3), dtype=np.int64)
    if tree:
        if order == 0:
            for j in range(n):
                byrank[j] = j
        else:
            byrank[:] = np.argsort(skey, kind="mergesort")  # ties: job index (file order)
        for r_ in range(n):
            rank[byrank[r_]] = r_
    cj = np.empty(n, dtype=np.int64)
    denom = np.zeros(n)
    if order == 3:
        for j in range(n):
            denom[j] = math.log2(procs[j]) * est[j]
    # running jobs sorted by (expected end, job)
    re = np.empty(n + 1)
    rj = np.empty(n + 1, dtype=np.int64)
    rn = 0
    # conservative: reservations and the profile
    res = np.full(n, -1.0)
    PT = np.empty(2 * n + 8)
    PF = np.empty(2 * n + 8, dtype=np.int64)
    m = 1
    PT[0] = submit[0] if n > 0 else 0.0
    PF[0] = P
    early = False
    # scratch
    chosen = np.zeros(n, dtype=np.bool_)
    cand = np.empty(n, dtype=np.int64)
    cscore = np.empty(n)
    free = P
    i = 0
    wake = INF
    while i < n or hsize > 0 or qn > 0:
        t_arr = submit[i] if i < n else INF
        t_done = ht[0] if hsize > 0 else INF
        now = t_arr if t_arr < t_done else t_done
        if wake < now:
            now = wake
        if now == INF:
            break  # cannot happen with a valid profile; the caller checks every job started
        first = True
        while first or (hsize > 0 and ht[0] == now):
            # completions
            while hsize > 0 and ht[0] == now:
                j = hj[0]
                hsize = _heap_pop(ht, hj, hsize)
                free += procs[j]
                ee = start[j] + est[j]
                lo = _running_pos(re, rj, rn, ee, j)  # remove it from the running array
                for k in range(lo, rn - 1):
                    re[k] = re[k + 1]
                    rj[k] = rj[k + 1]
                rn -= 1
                d = est[j] if est[j] > MIN_RESERVATION else MIN_RESERVATION
                if now < start[j] + d:
                    early = True
                    if backfill == 2:
                        PT, PF, m = _prof_room(PT, PF, m)
                        m = _prof_add(PT, PF, m, now, start[j] + d, procs[j])
            # arrivals
            if first:
                while i < n and submit[i] == now:
                    if tree:
                        _tree_set(tp, te, size, rank[i], procs[i], est[i])
                    elif static and order != 0:
                        lo, hi = 0, qn
                        while lo < hi:
                            mid = (lo + hi) >> 1
                            jm = q[mid]
                            if skey[jm] < skey[i] or (skey[jm] == skey[i] and jm < i):
                                lo = mid + 1
                            else:
                                hi = mid
                        for k in range(qn, lo, -1):
                            q[k] = q[k - 1]
                        q[lo] = i
                    else:
                        q[qn] = i
                    qn += 1
                    i += 1
            first = False
            nstart = 0
            if qn > 0:
                if backfill == 2:
                    # ---------------- conservative
                    m = _prof_forget_past(PT, PF, m, now)
                    compress = early
                    if not compress:
                        for k in range(qn):
                            if res[q[k]] >= 0 and res[q[k]] < now:
                                compress = True
                                break
                    # The jobs to place, in priority order: all of them when compressing,
                    # else only those without a reservation (the new arrivals).
                    npl = 0
                    for k in range(qn):
                        if compress or res[q[k]] < 0:
                            cand[npl] = q[k]
                            npl += 1
                    if not static and npl > 1:
                        for c in range(npl):
                            j = cand[c]
                            cscore[c] = _dynamic_score(order, now - submit[j], est[j], procs[j], denom[j])
                        idx = np.argsort(cscore[:npl], kind="mergesort")
                        tmp = cand[:npl].copy()
                        for c in range(npl):
                            cand[c] = tmp[idx[c]]
                    for c in range(npl):
                        j = cand[c]
                        p = procs[j]
                        d = est[j] if est[j] > MIN_RESERVATION else MIN_RESERVATION
                        if res[j] >= 0:
                            PT, PF, m = _prof_room(PT, PF, m)
                            m = _prof_add(PT, PF, m, res[j], res[j] + d, p)
                        s = _prof_earliest(PT, PF, m, now, p, d)
                        PT, PF, m = _prof_room(PT, PF, m)
                        m = _prof_add(PT, PF, m, s, s + d, -p)
                        res[j] = s
                    f = free
                    for k in range(qn):
                        j = q[k]
                        if res[j] == now and procs[j] <= f:
                            chosen[j] = True
                            f -= procs[j]
                            nstart += 1
                    if m > 4 * (qn + rn) + 64:
                        m = _prof_compact(PT, PF, m)
                elif tree:
                    # ---------------- none / EASY, static order: the queue tree
                    f = free
                    nc = 0
                    head = -1
                    hpos = -1
                    while True:
                        pos = _tree_first(tp, te, size, 0, BIGP - 1, now, INF, BIGP, stack)
                        if pos < 0:
                            break
                        j = byrank[pos]
                        if procs[j] > f:
                            head = j
                            hpos = pos
                            break
                        cj[nc] = j
                        nc += 1
                        f -= procs[j]
                        _tree_set(tp, te, size, pos, BIGP, INF)
                    if backfill == 1 and head >= 0 and f > 0:
                        shadow, extra = _shadow(head, now, f, procs, est, re, rj, rn, cj, nc)
                        cursor = hpos + 1
                        while f > 0:
                            pos = _tree_first(tp, te, size, cursor, f, now, shadow, extra, stack)
                            if pos < 0:
                                break
                            j = byrank[pos]
                            if not (now + est[j] <= shadow):
                                extra -= procs[j]
                            f -= procs[j]
                            cj[nc] = j
                            nc += 1
                            _tree_set(tp, te, size, pos, BIGP, INF)
                            cursor = pos + 1
                    for c in range(nc):
                        j = cj[c]
                        start[j] = now
                        free -= procs[j]
                        hsize, rn = _launch(j, now, duration, est, ht, hj, hsize, re, rj, rn)
                    qn -= nc
                else:
                    # ---------------- none / EASY, time-dependent order
                    f = free
                    minp = procs[q[0]]
                    for k in range(1, qn):
                        if procs[q[k]] < minp:
                            minp = procs[q[k]]
                    # when nothing fits, neither the head nor a backfill candidate can start
                    if f >= minp:
                        _dynamic_pass(order, backfill, now, f, qn, q, submit, est, procs, denom, cscore, cand,
                                      chosen, re, rj, rn, cj)
                        for k in range(qn):
                            if chosen[q[k]]:
                                nstart += 1
                if nstart > 0:
                    w = 0
                    for k in range(qn):
                        j = q[k]
                        if chosen[j]:
                            chosen[j] = False
                            start[j] = now
                            free -= procs[j]
                            hsize, rn = _launch(j, now, duration, est, ht, hj, hsize, re, rj, rn)
                            if backfill == 2:
                                res[j] = -1.0
                        else:
                            q[w] = j
                            w += 1
                    qn = w
                early = False
            if nts > 0 and ts_t[nts - 1] == now:
                nts -= 1
            ts_t[nts] = now
            ts_q[nts] = qn
            ts_b[nts] = P - free
            nts += 1
        wake = INF
        if backfill == 2:
            for k in range(qn):
                r = res[q[k]]
                if r > now and r < wake:
                    wake = r
    return start, ts_t[:nts], ts_q[:nts], ts_b[:nts]


@njit(cache=True)
def _dynamic_pass(order, backfill, now, f, qn, q, submit, est, procs, denom, cscore, cand, chosen, re, rj, rn, cj):
    """One pass of none/EASY under a time-dependent order: marks the jobs to start."""
    for k in range(qn):
        cscore[k] = _dynamic_score(order, now - submit[q[k]], est[q[k]], procs[q[k]], denom[q[k]])
    head = -1
    while True:
        best = -1
        for k in range(qn):
            if chosen[q[k]]:
                continue
            if best < 0 or cscore[k] < cscore[best]:
                best = k
        if best < 0:
            break
        if procs[q[best]] <= f:
            chosen[q[best]] = True
            f -= procs[q[best]]
        else:
            head = best
            break
    if backfill != 1 or head < 0 or f == 0:
        return
    nc = 0
    for k in range(qn):
        if chosen[q[k]]:
            cj[nc] = q[k]
            nc += 1
    shadow, extra = _shadow(q[head], now, f, procs, est, re, rj, rn, cj, nc)
    nc = 0
    for k in range(qn):
        j = q[k]
        if k != head and not chosen[j] and procs[j] <= f:
            cand[nc] = k
            nc += 1
    sub = np.empty(nc)
    for c in range(nc):
        sub[c] = cscore[cand[c]]
    idx = np.argsort(sub, kind="mergesort")
    for c in range(nc):
        k = cand[idx[c]]
        j = q[k]
        p = procs[j]
        if p > f:
            continue
        if now + est[j] <= shadow:
            chosen[j] = True
            f -= p
        elif p <= extra:
            chosen[j] = True
            f -= p
            extra -= p


@njit(cache=True)
def _shadow(head, now, free, procs, est, re, rj, rn, cj, nc):
    """Shadow time and extra processors for the blocked head. Running jobs are walked in
    order of expected end (the array is kept sorted); the nc jobs chosen earlier in this
    pass (cj) count as running from now and are merged in."""
    need = procs[head]
    ce = np.empty(nc)
    cp = np.empty(nc, dtype=np.int64)
    for c in range(nc):
        ce[c] = now + est[cj[c]]
        cp[c] = procs[cj[c]]
    idx = np.argsort(ce, kind="mergesort")
    avail = free
    shadow = INF
    a, b = 0, 0
    while a < rn or b < nc:
        ea = re[a] if a < rn else INF
        if ea < now:
            ea = now
        eb = ce[idx[b]] if b < nc else INF
        if a < rn and (b >= nc or ea <= eb):
            avail += procs[rj[a]]
            e = ea
            a += 1
        else:
            avail += cp[idx[b]]
            e = eb
            b += 1
        if avail >= need:
            shadow = e
            break
    at = free
    for k in range(rn):
        e = re[k] if re[k] > now else now
        if e > shadow:
            break
        at += procs[rj[k]]
    for k in range(nc):
        if ce[k] <= shadow:
            at += cp[k]
    return shadow, at - need
