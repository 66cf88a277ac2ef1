"""Running one child process and measuring it: wall clock, the child's own user CPU time
(``wait4``), its peak memory (through a small launcher, so the tuner's own size is not
charged to it) and RAPL energy; timeouts kill the whole process group."""

from __future__ import annotations

import math
import os
import resource
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from hpcopt.tune.observers import RaplEnergy
from hpcopt.tune.results import Status
from hpcopt.tune.runners.base import Run


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
