""":class:`PythonRunner`: a Python callable measured in this process, or in a forked child
when it has a timeout (a call that overruns is killed; a crashed interpreter is a result)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import json
import os
import select
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError
from hpcopt.tune.observers import check_objectives
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners.base import _TIMINGS, _summarise, _with_objectives
from hpcopt.tune.runners.process import _fresh_peak_mib, _rss_mib


class PythonRunner:
    """Calls ``fn(**config)``.

    ``timing="wall"`` or ``"user"`` times the call (perf_counter / process_time);
    ``timing="output"`` takes the number ``fn`` returns as the objective (for a sequence,
    every element is an objective: multi-objective). ``check(returned) -> bool`` marks a
    wrong answer.

    With a ``timeout`` (or ``isolate=True``) the calls run in a forked child process: a
    call that does not return within ``timeout`` seconds is killed with the child and
    recorded as TIMEOUT, a crash of the interpreter (a segfault in an extension, a
    ``sys.exit``) as RUNTIME_ERROR, and peak memory can be an objective
    (``objectives=("time", "max_rss")``): for a callable it is the resident memory the
    calls added to the child (its peak minus its size right after the fork, which is the
    tuner's own and varies with it). Without, the calls run in this process.
    """

    name = "python"

    def __init__(self, fn: Callable[..., Any], *, timing: str = "wall", warmup: int = 1, repeats: int = 5,
                 timeout: float | None = None, check: Callable[[Any], bool] | None = None,
                 isolate: bool | None = None, objectives: Sequence[str] | None = None,
                 powercap_root: str | None = None) -> None:
        if timing not in _TIMINGS:
            raise ConfigError(f"timing must be one of {', '.join(_TIMINGS)}; got {timing!r}")
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds; got {timeout!r}")
        self.fn = fn
        self.timing = timing
        self.warmup = warmup if timing != "output" else 0
        self.repeats = repeats if timing != "output" else 1
        self.timeout = timeout
        self.check = check
        self.isolate = bool(timeout is not None if isolate is None else isolate)
        if self.isolate and not hasattr(os, "fork"):  # pragma: no cover - Windows
            raise ConfigError("timeouts and isolation of Python callables need os.fork (POSIX)")
        self.objectives = list(objectives) if objectives is not None else None
        kw = {"powercap_root": powercap_root} if powercap_root else {}
        self._energy = (check_objectives(self.objectives, python_isolated=self.isolate, **kw)
                        if self.objectives is not None else None)

    def fingerprint(self) -> str:
        fn = getattr(self.fn, "__qualname__", repr(self.fn))
        return hashlib.sha256(f"python|{fn}|{self.timing}|{self.objectives}".encode()).hexdigest()[:16]

    def __call__(self, config: Mapping[str, Any]) -> Result:
        if self.isolate:
            return self._in_child(config)
        return self._finish(self._measure(config), math.nan)

    def _measure(self, config: Mapping[str, Any], tick: Callable[[], None] | None = None) -> Result | dict[str, Any]:
        """The repetitions: a failure Result, or the raw measurements."""
        samples: list[float] = []
        joules: list[float] = []
        for i in range(self.warmup + self.repeats):
            e0 = self._energy.read() if self._energy is not None else None
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                out = self.fn(**config)
            except Exception as exc:  # noqa: BLE001 - a failing configuration is a result
                return Result.failure(Status.RUNTIME_ERROR, f"{type(exc).__name__}: {exc}")
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if tick is not None:
                tick()
            if self.timeout is not None and wall > self.timeout:
                return Result.failure(Status.TIMEOUT, f"took {wall:.3g} s, more than {self.timeout} s")
            if i == 0 and self.check is not None:
                try:
                    good = bool(self.check(out))
                except Exception as exc:  # noqa: BLE001
                    return Result.failure(Status.WRONG_ANSWER, f"check raised {type(exc).__name__}: {exc}")
                if not good:
                    return Result.failure(Status.WRONG_ANSWER, "the check rejected the output")
            if self.timing == "output":
                vals = list(out) if isinstance(out, (list, tuple, np.ndarray)) else [out]
                try:
                    vals = [float(v) for v in vals]
                except (TypeError, ValueError):
                    return Result.failure(Status.RUNTIME_ERROR, f"returned {out!r}, not a number")
                if not all(math.isfinite(v) for v in vals):
                    return Result.failure(Status.RUNTIME_ERROR, f"returned a non-finite objective {vals}")
                joules_out = (self._energy.joules(e0, self._energy.read())
                              if self._energy is not None and e0 is not None else math.nan)
                return {"output": vals, "energy": [joules_out]}
            if i >= self.warmup:
                samples.append(wall if self.timing == "wall" else cpu)
                if self._energy is not None and e0 is not None:
                    joules.append(self._energy.joules(e0, self._energy.read()))
        return {"samples": samples, "energy": joules}

    def _finish(self, raw: Result | dict[str, Any], max_rss: float) -> Result:
        if isinstance(raw, Result):
            if not math.isnan(max_rss) and not raw.ok:
                return dataclasses.replace(raw, extra={**raw.extra, "max_rss_mib": max_rss})
            return raw
        if "output" in raw:
            vals = raw["output"]
            if self.objectives is not None and self.objectives != ["time"]:
                rss = [max_rss]  # energy: of the one call that returned the number
                return _with_objectives(self.objectives, [vals[0]], rss, raw.get("energy") or [math.nan],
                                        {"timing": "output"})
            extra = {"max_rss_mib": max_rss} if not math.isnan(max_rss) else {}
            return Result.success(vals[0], values=vals, extra=extra)
        samples = raw["samples"]
        if self.objectives is None:
            extra: dict[str, Any] = {"timing": self.timing}
            if not math.isnan(max_rss):
                extra["max_rss_mib"] = max_rss
            return _summarise(samples, extra)
        energy = raw["energy"] or [math.nan]
        return _with_objectives(self.objectives, samples, [max_rss], energy, {"timing": self.timing})

    def _in_child(self, config: Mapping[str, Any]) -> Result:
        """Run :meth:`_measure` in a forked child; the parent enforces the timeout per call.

        The child writes one byte after each call, then ``R`` and the measurements as JSON (a
        failure as its ``Result.to_dict()``; no pickle);
        the parent waits at most ``timeout`` (plus a little for the fork) between bytes."""
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: measure, report, leave without running any cleanup
            code = 0
            try:
                os.close(rfd)
                # resident size right after the fork: the pages shared with the tuner
                base = _fresh_peak_mib()
                raw = self._measure(config, tick=lambda: os.write(wfd, b"."))
                if isinstance(raw, dict):
                    raw["rss_at_fork"] = base
                body = {"result": raw.to_dict()} if isinstance(raw, Result) else {"raw": raw}
                data = b"R" + json.dumps(body).encode()  # NaN travels as JSON's NaN token
                while data:
                    data = data[os.write(wfd, data):]
            except BaseException:  # noqa: BLE001 - reported as a crash by the parent
                code = 70
            finally:
                os._exit(code)
        os.close(wfd)
        buf = bytearray()
        got_result = False
        timed_out = False
        per_call = (self.timeout or 0.0) + 0.25  # + the fork and the pipe
        calls = 0
        try:
            while True:
                ready, _, _ = select.select([rfd], [], [], per_call if self.timeout is not None else None)
                if not ready:
                    timed_out = True
                    break
                chunk = os.read(rfd, 1 << 16)
                if not chunk:
                    break
                if got_result:
                    buf.extend(chunk)
                    continue
                head, sep, tail = chunk.partition(b"R")
                calls += len(head)
                if sep:
                    got_result = True
                    buf.extend(tail)
        finally:
            os.close(rfd)
            if timed_out:
                os.kill(pid, signal.SIGKILL)
            _, status, ru = os.wait4(pid, 0)
        rss = _rss_mib(ru)
        if timed_out:
            return Result.failure(Status.TIMEOUT, f"call {calls + 1} did not return within {self.timeout} s; "
                                  "the child process was killed", extra={"max_rss_mib": rss})
        if not got_result:
            how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit code {os.WEXITSTATUS(status)}")
            return Result.failure(Status.RUNTIME_ERROR, f"the child process running the call died ({how})",
                                  extra={"max_rss_mib": rss})
        try:
            body = json.loads(bytes(buf))
            raw = Result.from_dict(body["result"]) if "result" in body else body["raw"]
        except Exception as exc:  # noqa: BLE001
            return Result.failure(Status.RUNTIME_ERROR, f"cannot read the child's result: {exc}")
        if isinstance(raw, dict):  # the memory the call added, not what the child inherited
            rss = max(0.0, rss - raw.pop("rss_at_fork"))
        return self._finish(raw, rss)
