""":class:`CKernelRunner`: a C/C++ source compiled per configuration (parameters as
``-D`` macros and/or flags), one build per distinct command, then run like a command."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpcopt.errors import InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners.command import _ProcessRunner


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
