"""The measurement loop of runners that execute programs, and :class:`CommandRunner`
(a command template filled with the configuration, split like a shell, no shell)."""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.observers import check_objectives
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners.base import _TIMINGS, OutputCheck, Run, _summarise, _with_objectives
from hpcopt.tune.runners.process import _run_process


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
