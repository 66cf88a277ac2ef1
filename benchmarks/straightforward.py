"""A straightforward pure-Python simulator, the speed baseline of benchmarks/simulate.py.

It is the straightforward implementation: a heap of completions, a list as the queue
(kept in order by insertion for static orders, sorted at each pass for time-dependent
ones), and a sort of the running jobs at each pass that needs a shadow time. It follows the same default semantics as hpcopt's
engines (benchmarks/simulate.py checks that the start times agree), so the speed ratio
compares equal work. Conservative backfilling's straightforward form is hpcopt's own
generic engine, which rebuilds the free-processor profile at every pass.
"""

from __future__ import annotations

import bisect
import heapq
import math

from hpcopt.schedule.policies import f1_score, unicep_score, wfp3_score


def simulate_straightforward(submit, duration, est, procs, P, order, backfill):
    submit, duration, est, procs = (list(map(float, submit)), list(map(float, duration)),
                                    list(map(float, est)), list(map(int, procs)))
    n = len(submit)
    if order == "fcfs":
        key = lambda j, now: j  # noqa: E731
    elif order == "sjf":
        key = lambda j, now: (est[j], j)  # noqa: E731
    elif order == "f1":
        key = lambda j, now: (f1_score(est[j], procs[j], submit[j]), j)  # noqa: E731
    elif order == "wfp3":
        key = lambda j, now: (wfp3_score(now - submit[j], est[j], procs[j]), j)  # noqa: E731
    else:
        key = lambda j, now: (unicep_score(now - submit[j], est[j], procs[j]), j)  # noqa: E731
    static = order in ("fcfs", "sjf", "f1")  # kept sorted by insertion; others sorted per pass
    start = [-1.0] * n
    heap: list[tuple[float, int]] = []
    queue: list[int] = []
    running: dict[int, float] = {}
    free = P
    i = 0
    while i < n or heap:
        now = min(submit[i] if i < n else math.inf, heap[0][0] if heap else math.inf)
        first = True
        while first or (heap and heap[0][0] == now):
            while heap and heap[0][0] == now:
                _, j = heapq.heappop(heap)
                free += procs[j]
                del running[j]
            if first:
                while i < n and submit[i] == now:
                    if static:
                        bisect.insort(queue, i, key=lambda j: key(j, now))
                    else:
                        queue.append(i)
                    i += 1
            first = False
            if not queue:
                continue
            if not static:
                queue.sort(key=lambda j: key(j, now))
            started = []
            k = 0
            while k < len(queue) and procs[queue[k]] <= free:
                started.append(queue[k])
                free -= procs[queue[k]]
                running[queue[k]] = now + est[queue[k]]
                k += 1
            if backfill == "easy" and k < len(queue):
                head = queue[k]
                ends = sorted((max(e, now), r) for r, e in running.items())
                avail, shadow = free, math.inf
                for e, r in ends:
                    avail += procs[r]
                    if avail >= procs[head]:
                        shadow = e
                        break
                extra = free + sum(procs[r] for e, r in ends if e <= shadow) - procs[head]
                for j in queue[k + 1:]:
                    p = procs[j]
                    if p > free:
                        continue
                    if now + est[j] <= shadow:
                        pass
                    elif p <= extra:
                        extra -= p
                    else:
                        continue
                    started.append(j)
                    free -= p
                    running[j] = now + est[j]
            if started:
                for j in started:
                    start[j] = now
                    heapq.heappush(heap, (now + duration[j], j))
                if len(started) == k:
                    del queue[:k]  # only the front of the queue started
                else:
                    done = set(started)
                    queue = [j for j in queue if j not in done]
    return start
