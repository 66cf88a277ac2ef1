"""Runners measure one configuration and return a typed :class:`Result`; they never raise
for a bad configuration.

* :class:`PythonRunner` -- calls a Python function with the configuration;
* :class:`CommandRunner` -- runs a shell command template (``"./app --tile {tile}"``);
* :class:`CKernelRunner` -- compiles a C/C++ file with gcc or clang, parameters as ``-D``
  macros (and optionally flags), then runs it like a command.

Measurement: ``warmup`` untimed runs, then ``repeats`` timed ones; the objective is the
median, the spread the interquartile range. Time comes from the wall clock, from the
user CPU time of the child (``timing="user"``: steadier on a shared, noisy machine), or
from a number the program prints (``timing="output"`` with a regex ``pattern`` whose
first group is the number). One measurement runs at a time.

Correctness: give ``check`` (a regex whose groups are compared) and either a
``reference`` output or a ``reference_config`` whose output becomes the reference. A
configuration whose checked values differ (exactly, or beyond ``rtol``/``atol`` when
given) is ``WRONG_ANSWER``. Compile errors, crashes, timeouts and wrong answers are
recorded as results with a message.

Objectives: ``objectives=("time",)`` by default; ``"max_rss"`` (peak resident memory of
the child in MiB, from ``wait4``) and ``"energy"`` (joules from RAPL, where readable)
may be added for multi-objective studies; see :mod:`hpcopt.tune.observers`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import pickle
import re
import resource
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.observers import RaplEnergy, aggregate, check_objectives
from hpcopt.tune.results import Result, Status

_TIMINGS = ("wall", "user", "output")


@dataclass
class Run:
    """One execution: its time(s), output and status."""

    status: Status
    wall: float = math.nan
    user: float = math.nan
    output: str = ""
    message: str = ""
    max_rss: float = math.nan   # MiB, peak resident set of the child
    energy: float = math.nan    # J, RAPL packages, when observed


class _RusagePopen(subprocess.Popen):
    """Popen that reaps its child with ``wait4`` and keeps the child's own rusage."""

    rusage = None

    def _try_wait(self, wait_flags):  # CPython's hook around waitpid (stable since 3.3)
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
        except ChildProcessError:  # pragma: no cover - SIGCHLD ignored
            return (self.pid, 0)
        if pid == self.pid:
            self.rusage = ru
        return (pid, sts)


def _rss_mib(ru) -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    import sys

    return ru.ru_maxrss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def _fresh_peak_mib() -> float:
    """In a forked child: the resident size to measure the calls' memory against (MiB).

    Freed heap pages inherited from the tuner are returned to the system first
    (glibc's ``malloc_trim``), otherwise an allocation could reuse them and never raise the
    resident size; then the peak is reset to the current size (Linux ``clear_refs`` 5), so
    the child's final peak is what its calls added on top. Where either is unavailable
    the inherited peak is the base, as before (an under-estimate when pages are reused).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, AttributeError, ValueError):
        pass
    return _rss_mib(resource.getrusage(resource.RUSAGE_SELF))


# A small launcher for runs whose peak memory is measured: the kernel charges a child
# with the resident memory of the process it was forked from, so a child forked
# directly from a tuner holding a few hundred MiB would report at least that. Forked
# from this launcher (a bare interpreter, a few MiB), the child's peak is its own. The
# launcher times the child itself and writes "status wall user maxrss_kib" to fd 3.
_LAUNCHER = r"""
import os, sys, time
fd = int(sys.argv[1])
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as exc:
        os.write(2, ("cannot run %r: %s\n" % (sys.argv[2], exc)).encode())
        os._exit(127)
_, st, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
os.write(fd, ("%d %r %r %d" % (st, wall, ru.ru_utime, ru.ru_maxrss)).encode())
"""


def _kill_tree(proc: subprocess.Popen, group: bool) -> None:
    """Kill a child (with ``group``, its whole process group: the launcher and the
    measured program) and reap it."""
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.kill()
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):  # pragma: no cover
        pass


def _run_process(argv: Sequence[str], timeout: float | None, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, energy: RaplEnergy | None = None,
                 memory: bool = False) -> Run:
    """Run a child process, measuring wall time, its user CPU time and (``memory``) its peak memory."""
    import sys

    argv = list(argv)
    report_r = report_w = None
    if memory:
        report_r, report_w = os.pipe()
        argv = [sys.executable, "-S", "-c", _LAUNCHER, str(report_w), *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    e0 = energy.read() if energy is not None else None
    t0 = time.perf_counter()
    try:
        with _RusagePopen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                          env=None if env is None else {**os.environ, **env},
                          pass_fds=(report_w,) if memory else (), start_new_session=memory) as proc:
            if report_w is not None:
                os.close(report_w)
                report_w = None
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(proc, memory)
                proc.communicate()
                return Run(Status.TIMEOUT, message=f"timed out after {timeout} s")
            except BaseException:
                # Ctrl-C or another interruption: the launcher runs in its own session
                # (it does not get the terminal's SIGINT), so end it and its child here
                _kill_tree(proc, memory)
                raise
        report = os.read(report_r, 4096).decode() if report_r is not None else ""
    except (FileNotFoundError, PermissionError, OSError) as exc:
        return Run(Status.RUNTIME_ERROR, message=f"cannot run {argv[0]!r}: {exc}")
    finally:
        for fd in (report_r, report_w):
            if fd is not None:
                os.close(fd)
    wall = time.perf_counter() - t0
    joules = energy.joules(e0, energy.read()) if energy is not None and e0 is not None else math.nan
    rss = math.nan
    returncode = proc.returncode
    if memory:
        try:
            st, wall_s, user_s, maxrss = report.split()
        except ValueError:
            return Run(Status.RUNTIME_ERROR, message=f"the measuring launcher failed: {err.strip()[-300:]}")
        st = int(st)
        wall, user = float(wall_s), float(user_s)
        rss = int(maxrss) / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)
        returncode = -os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
    elif proc.rusage is not None:
        user = proc.rusage.ru_utime
    else:  # pragma: no cover - fall back to the difference of all children
        user = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before.ru_utime
    if returncode != 0:
        tail = (err or out or "").strip()[-500:]
        how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        return Run(Status.RUNTIME_ERROR, wall, user, out, f"{how}: {tail}", rss, joules)
    return Run(Status.OK, wall, user, out + err, "", rss, joules)


_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.IGNORECASE)


@dataclass
class OutputCheck:
    """Compares program output with a reference.

    ``pattern``: a regex; all its matches' groups (or whole matches) are compared. With
    ``rtol``/``atol`` both ``None`` the comparison is exact (as text); otherwise the values
    are read as numbers and must agree within the tolerance.
    """

    pattern: str | None = None
    rtol: float | None = None
    atol: float | None = None
    reference: str | None = None

    def extract(self, output: str) -> list[str]:
        if self.pattern is None:
            return [output.strip()]
        out = []
        for m in re.finditer(self.pattern, output, flags=re.MULTILINE):
            out.extend(m.groups() if m.groups() else [m.group(0)])
        return out

    def compare(self, output: str) -> str | None:
        """None when the output matches the reference, else the reason."""
        if self.reference is None:
            return None
        got, want = self.extract(output), self.extract(self.reference)
        if len(got) != len(want):
            return f"expected {len(want)} checked values, got {len(got)}"
        if self.rtol is None and self.atol is None:
            for g, w in zip(got, want):
                if g != w:
                    return f"output {g!r} differs from the reference {w!r}"
            return None
        for g, w in zip(got, want):
            gn, wn = _NUM.findall(g), _NUM.findall(w)
            if len(gn) != len(wn):
                return f"output {g!r} does not have the reference's numbers {w!r}"
            a, b = np.array(gn, dtype=float), np.array(wn, dtype=float)
            if not np.allclose(a, b, rtol=self.rtol or 0.0, atol=self.atol or 0.0, equal_nan=False):
                return f"output {g!r} differs from the reference {w!r} beyond rtol={self.rtol}, atol={self.atol}"
        return None


def _summarise(samples: list[float], extra: dict[str, Any] | None = None) -> Result:
    return Result.success(float(np.median(samples)), samples, extra=extra)


def _with_objectives(objectives: Sequence[str], time_samples: list[float], rss: list[float],
                     energy: list[float], extra: dict[str, Any]) -> Result:
    """A Result whose values are the objectives, in order (time as the median of the samples)."""
    per = {"time": time_samples, "max_rss": rss, "energy": energy}
    if any(not math.isnan(v) for v in rss):
        extra["max_rss_mib"] = aggregate("max_rss", rss)
    if any(not math.isnan(v) for v in energy):
        extra["energy_j"] = aggregate("energy", energy)
    vals = [aggregate(o, per[o]) for o in objectives]
    missing = [o for o, v in zip(objectives, vals) if math.isnan(v)]
    if missing:
        return Result.failure(Status.RUNTIME_ERROR, f"objective(s) {', '.join(missing)} could not be observed",
                              extra=extra)
    if list(objectives) == ["time"]:
        return Result.success(vals[0], time_samples, extra=extra)
    return Result.success(vals[0], per[objectives[0]], values=vals, extra={**extra, "objectives": list(objectives)})


class _ProcessRunner:
    """Shared measurement loop for command and kernel runners."""

    def __init__(self, *, timing: str = "wall", pattern: str | None = None, warmup: int = 1,
                 repeats: int = 5, timeout: float | None = 60.0, check: OutputCheck | None = None,
                 reference_config: Mapping[str, Any] | None = None, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, interleave: bool = False,
                 objectives: Sequence[str] = ("time",), powercap_root: str | None = None) -> None:
        if timing not in _TIMINGS:
            raise ConfigError(f"timing must be one of {', '.join(_TIMINGS)}; got {timing!r}")
        if timing == "output" and not pattern:
            raise ConfigError("timing='output' needs a 'pattern' regex whose first group is the number")
        if repeats < 1 or warmup < 0:
            raise ConfigError(f"repeats must be >= 1 and warmup >= 0; got {repeats} and {warmup}")
        self.timing = timing
        self.pattern = pattern
        self.warmup = warmup
        self.repeats = repeats
        self.timeout = timeout
        self.check = check
        self.reference_config = dict(reference_config) if reference_config is not None else None
        self.cwd = cwd
        self.env = dict(env) if env else None
        if interleave and reference_config is None:
            raise ConfigError("interleave=True needs a reference configuration to interleave with")
        self.interleave = interleave
        self.objectives = list(objectives)
        kw = {"powercap_root": powercap_root} if powercap_root else {}
        self._energy = check_objectives(self.objectives, **kw)
        if interleave and self.objectives != ["time"]:
            raise ConfigError("interleave=True measures a time ratio; it cannot be combined with other objectives")

    # subclasses: return argv to run, or a Result (e.g. a compile failure)
    def prepare(self, config: Mapping[str, Any]) -> Sequence[str] | Result:  # pragma: no cover
        raise NotImplementedError

    def _sample(self, run: Run) -> float | str:
        if self.timing == "wall":
            return run.wall
        if self.timing == "user":
            return run.user
        m = re.search(self.pattern or "", run.output, flags=re.MULTILINE)
        if not m:
            return f"pattern {self.pattern!r} not found in the output"
        try:
            return float(m.group(1) if m.groups() else m.group(0))
        except ValueError:
            return f"cannot read a number from {m.group(0)!r}"

    def ensure_reference(self) -> None:
        """Run the reference configuration once to obtain the reference output."""
        if self.check is None or self.check.reference is not None or self.reference_config is None:
            return
        prep = self.prepare(self.reference_config)
        if isinstance(prep, Result):
            raise InputError(f"the reference configuration fails: {prep.message}", field="reference",
                             hint="fix the program or choose a reference configuration that works")
        run = _run_process(prep, self.timeout, self.cwd, self.env)
        if run.status is not Status.OK:
            raise InputError(f"the reference configuration fails: {run.message}", field="reference")
        self.check.reference = run.output

    def run_once(self, config: Mapping[str, Any]) -> Run:
        prep = self.prepare(config)
        if isinstance(prep, Result):
            return Run(prep.status, message=prep.message)
        return _run_process(prep, self.timeout, self.cwd, self.env)

    def __call__(self, config: Mapping[str, Any]) -> Result:
        prep = self.prepare(config)
        if isinstance(prep, Result):
            return prep
        self.ensure_reference()
        if self.interleave:
            return self._relative(config, prep)
        samples: list[float] = []
        rss: list[float] = []
        joules: list[float] = []
        for i in range(self.warmup + self.repeats):
            run = _run_process(prep, self.timeout, self.cwd, self.env, self._energy if i >= self.warmup else None,
                               memory="max_rss" in self.objectives)
            if run.status is not Status.OK:
                return Result.failure(run.status, run.message)
            if i == 0 and (wrong := self._wrong_answer(run.output)) is not None:
                return wrong
            if i >= self.warmup:
                s = self._sample(run)
                if isinstance(s, str):
                    return Result.failure(Status.RUNTIME_ERROR, s)
                samples.append(s)
                rss.append(run.max_rss)
                joules.append(run.energy)
        return _with_objectives(self.objectives, samples, rss, joules, {"timing": self.timing})

    def _wrong_answer(self, output: str) -> Result | None:
        """A WRONG_ANSWER result when the output differs from the reference's, else None."""
        why = self.check.compare(output) if self.check is not None else None
        return None if why is None else Result.failure(Status.WRONG_ANSWER, why)

    def _relative(self, config: Mapping[str, Any], prep: Sequence[str]) -> Result:
        """Reference and candidate measured alternately; the objective is the median of the
        per-pair ratios candidate / reference (dimensionless: 0.5 = twice as fast), which
        cancels slow drifts of a shared machine."""
        base = self.prepare(self.reference_config or {})
        if isinstance(base, Result):
            raise InputError(f"the reference configuration fails: {base.message}", field="reference")
        ratios: list[float] = []
        base_times: list[float] = []
        for i in range(self.warmup + self.repeats):
            b = _run_process(base, self.timeout, self.cwd, self.env)
            c = _run_process(prep, self.timeout, self.cwd, self.env)
            if b.status is not Status.OK:
                raise InputError(f"the reference configuration fails: {b.message}", field="reference")
            if c.status is not Status.OK:
                return Result.failure(c.status, c.message)
            if i == 0 and (wrong := self._wrong_answer(c.output)) is not None:
                return wrong
            if i >= self.warmup:
                sb, sc = self._sample(b), self._sample(c)
                if isinstance(sb, str) or isinstance(sc, str):
                    return Result.failure(Status.RUNTIME_ERROR, sb if isinstance(sb, str) else sc)
                if sb <= 0:
                    return Result.failure(Status.RUNTIME_ERROR, "the reference's time is zero; use another timing")
                ratios.append(sc / sb)
                base_times.append(sb)
        return _summarise(ratios, {"timing": self.timing, "relative_to": dict(self.reference_config or {}),
                                   "reference_median": float(np.median(base_times))})


class CommandRunner(_ProcessRunner):
    """Runs ``template.format(**config)`` split like a shell would (no shell involved).

    >>> r = CommandRunner("python -c 'print({x} * 2)'", timing="wall", repeats=1)  # doctest: +SKIP
    """

    name = "command"

    def __init__(self, template: str, derived: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.template = template
        self.derived = derived

    def prepare(self, config: Mapping[str, Any]) -> Sequence[str] | Result:
        env = dict(self.derived(config)) if self.derived else dict(config)
        try:
            text = self.template.format(**env)
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"command template {self.template!r} cannot be filled: {exc}", field="runner.command",
                             hint=f"available names: {', '.join(env)}") from None
        return shlex.split(text)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"command|{self.template}|{self.timing}|{self.pattern}|{self.objectives}".encode()
                              ).hexdigest()[:16]


class CKernelRunner(_ProcessRunner):
    """Compiles a C/C++ source per configuration (parameters as ``-DNAME=value``) and runs it.

    Parameters
    ----------
    source:
        the C or C++ file.
    compiler:
        ``gcc``, ``clang``, ``g++``, ``clang++`` or a path.
    flags:
        compiler flags for every build (default ``-O3``).
    flag_params:
        names of parameters whose values are compiler flags (strings, split on spaces)
        rather than macros; other parameters become ``-D`` macros.
    run_args:
        arguments of the compiled program.
    """

    name = "c"

    def __init__(self, source: str | Path, *, compiler: str = "gcc", flags: Sequence[str] = ("-O3",),
                 flag_params: Sequence[str] = (), run_args: Sequence[str] = (), libs: Sequence[str] = ("-lm",),
                 build_dir: str | Path | None = None,
                 derived: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
                 compile_timeout: float = 120.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.source = Path(source)
        if not self.source.is_file():
            raise InputError("the kernel source does not exist", source=str(self.source),
                             hint="give the path of a .c or .cpp file")
        if shutil.which(compiler) is None:
            raise InputError(f"compiler {compiler!r} is not installed", field="runner.compiler",
                             hint="install gcc or clang, or give a compiler that exists")
        self.compiler = compiler
        self.flags = list(flags)
        self.flag_params = set(flag_params)
        self.run_args = [str(a) for a in run_args]
        self.libs = list(libs)
        self.derived = derived
        self.compile_timeout = compile_timeout
        self._own_dir = build_dir is None
        self.build_dir = Path(build_dir) if build_dir else Path(tempfile.mkdtemp(prefix="hpcopt-tune-"))
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self._built: dict[str, Path | Result] = {}

    def compile_command(self, config: Mapping[str, Any], output: str | Path) -> list[str]:
        env = dict(self.derived(config)) if self.derived else dict(config)
        macros, extra_flags = [], []
        for k, v in env.items():
            if k in self.flag_params:
                extra_flags.extend(str(v).split())
            elif isinstance(v, bool):
                macros.append(f"-D{k}={int(v)}")
            elif v is None:
                continue
            else:
                macros.append(f"-D{k}={v}")
        return [self.compiler, *self.flags, *extra_flags, *macros, str(self.source), "-o", str(output), *self.libs]

    def build(self, config: Mapping[str, Any]) -> Path | Result:
        probe = self.compile_command(config, "OUT")
        digest = hashlib.sha256((" ".join(probe) + "\0").encode() + self.source.read_bytes()).hexdigest()[:20]
        if digest in self._built:
            return self._built[digest]
        exe = self.build_dir / f"k_{digest}"
        if exe.is_file():  # built by another worker sharing the build folder
            self._built[digest] = exe
            return exe
        # build under a private name, then rename: parallel workers building the same
        # configuration never write into a file another one is running ("text file busy")
        tmp = exe.with_name(f"{exe.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        cmd = self.compile_command(config, tmp)
        shown = self.compile_command(config, exe)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.compile_timeout)
        except subprocess.TimeoutExpired:
            out: Path | Result = Result.failure(Status.COMPILE_ERROR, f"compilation timed out after {self.compile_timeout} s")
        else:
            if proc.returncode != 0:
                err = (proc.stderr or proc.stdout).strip()
                first = next((ln for ln in err.splitlines() if "error" in ln), err[:300])
                out = Result.failure(Status.COMPILE_ERROR, f"{' '.join(shown[1:])}: {first}"[:1500])
            else:
                os.replace(tmp, exe)
                out = exe
        if tmp.exists():
            tmp.unlink()
        self._built[digest] = out
        return out

    def prepare(self, config: Mapping[str, Any]) -> Sequence[str] | Result:
        exe = self.build(config)
        if isinstance(exe, Result):
            return exe
        return [str(exe), *self.run_args]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(self.source.read_bytes())
        h.update(f"|{self.compiler}|{self.flags}|{self.run_args}|{self.timing}|{self.pattern}|{self.objectives}".encode())
        return h.hexdigest()[:16]

    def close(self) -> None:
        """Remove the build folder if this runner created it."""
        if self._own_dir:
            shutil.rmtree(self.build_dir, ignore_errors=True)

    def __enter__(self) -> "CKernelRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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

        The child writes one byte after each call, then ``R`` and the pickled measurements;
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
                data = b"R" + pickle.dumps(raw)
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
            # the bytes come through a pipe from the child this process forked a moment ago
            # (its own code and memory), never from a file or from a user
            raw = pickle.loads(bytes(buf))
        except Exception as exc:  # noqa: BLE001
            return Result.failure(Status.RUNTIME_ERROR, f"cannot read the child's result: {exc}")
        if isinstance(raw, dict):  # the memory the call added, not what the child inherited
            rss = max(0.0, rss - raw.pop("rss_at_fork"))
        return self._finish(raw, rss)


@dataclass
class Comparison:
    """Interleaved measurement of a candidate against a baseline."""

    baseline: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)

    @property
    def baseline_median(self) -> float:
        return float(np.median(self.baseline))

    @property
    def candidate_median(self) -> float:
        return float(np.median(self.candidate))

    @property
    def speedup(self) -> float:
        return self.baseline_median / self.candidate_median

    def speedup_spread(self) -> tuple[float, float]:
        """Interquartile range of the per-pair speedups (baseline_i / candidate_i)."""
        r = np.asarray(self.baseline) / np.asarray(self.candidate)
        q1, q3 = np.percentile(r, [25, 75])
        return float(q1), float(q3)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.speedup_spread()
        return {"baseline_median": self.baseline_median, "candidate_median": self.candidate_median,
                "speedup": self.speedup, "speedup_iqr": [lo, hi], "baseline_samples": self.baseline,
                "candidate_samples": self.candidate, "pairs": len(self.baseline)}


def interleaved(runner: _ProcessRunner, baseline: Mapping[str, Any] | Callable[[], Run],
                candidate: Mapping[str, Any] | Callable[[], Run], repeats: int = 9, warmup: int = 1) -> Comparison:
    """Measure baseline and candidate alternately (B, C, B, C, ...), so drifts of the machine
    hit both alike. Raises InputError if either fails (both were measured before)."""
    def once(what) -> Run:
        return what() if callable(what) else runner.run_once(what)

    comp = Comparison()
    for i in range(warmup + repeats):
        pair = []
        for what in (baseline, candidate):
            run = once(what)
            if run.status is not Status.OK:
                raise InputError(f"interleaved measurement failed: {run.message}", field="measurement")
            s = runner._sample(run)
            if isinstance(s, str):
                raise InputError(s, field="measurement")
            pair.append(s)
        if i >= warmup:
            comp.baseline.append(pair[0])
            comp.candidate.append(pair[1])
    if min(comp.baseline + comp.candidate) <= 0:
        raise InputError("a measured time is zero: the program runs too briefly for this timing", field="timing",
                         hint="use wall-clock timing, a larger input, or a time the program prints")
    return comp


__all__ = ["Run", "OutputCheck", "CommandRunner", "CKernelRunner", "PythonRunner", "Comparison", "interleaved"]
