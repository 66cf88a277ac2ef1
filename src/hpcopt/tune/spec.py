"""Tuning specs in TOML: the space, the runner and the study settings in one file.

```toml
constraints = ["TILE_I * TILE_K + TILE_K * TILE_J <= 131072"]

[study]
name = "matmul"
strategy = "bo"        # any registered strategy
budget = 60
random_state = 0
# objectives = ["time", "max_rss"]       # optional, several -> multi-objective (nsga2)
# directions = ["minimize", "minimize"]  # optional; time, max_rss (MiB), energy (J, RAPL)

[parameters]
TILE_I = { type = "pow2", low = 8, high = 512 }
UNROLL = [1, 2, 4, 8]                    # an ordered list
LOOP_ORDER = { type = "categorical", choices = [0, 1] }

[derived]               # optional: name = expression, usable in constraints and as -D macros
TILE_AREA = "TILE_I * TILE_J"

[runner]
kind = "c"              # c | command | python
source = "matmul.c"     # relative to this file
compiler = "gcc"
flags = ["-O3"]
run_args = ["512"]
timing = "output"       # wall | user | output
pattern = 'time_s=(\\S+)'
warmup = 1
repeats = 5
timeout = 60
check = '(checksum|probe|sumsq)=(\\S+)'   # compared with the reference's output
reference = { NAIVE = 1 }                 # macros of the reference (and baseline) build
interleave = false      # true: measure reference and candidate alternately, objective =
                        # median ratio candidate / reference
```

For ``kind = "command"`` give ``command = "./app --tile {TILE_I}"``; for
``kind = "python"`` give ``function = "package.module:function"``.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcopt.errors import InputError
from hpcopt.tune.runners import CKernelRunner, CommandRunner, OutputCheck, PythonRunner
from hpcopt.tune.space import SearchSpace, parameter_from_spec

_TOP_KEYS = {"constraints", "study", "parameters", "derived", "runner"}
_RUNNER_COMMON = {"kind", "timing", "pattern", "warmup", "repeats", "timeout", "check", "rtol", "atol",
                  "reference", "reference_output", "interleave"}
_RUNNER_KEYS = {
    "c": _RUNNER_COMMON | {"source", "compiler", "flags", "flag_params", "run_args", "libs"},
    "command": _RUNNER_COMMON | {"command", "cwd"},
    "python": {"kind", "function", "timing", "warmup", "repeats", "timeout", "isolate"},
}
_STUDY_KEYS = {"name", "strategy", "budget", "random_state", "objectives", "directions"}


class _WithDerived:
    """Adds the derived values to a full configuration (picklable, for worker processes)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def __call__(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if all(n in config for n in self.space.names):
            return self.space.with_derived(config)
        return dict(config)


@dataclass
class TuneSpec:
    """A parsed spec; ``runner`` is built lazily by :meth:`make_runner`."""

    path: Path
    space: SearchSpace
    study: dict[str, Any]
    runner_spec: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.study.get("name") or self.path.stem)

    @property
    def objectives(self) -> list[str]:
        return list(self.study.get("objectives") or ["time"])

    @property
    def directions(self) -> list[str]:
        return list(self.study.get("directions") or ["minimize"] * len(self.objectives))

    @property
    def baseline(self) -> dict[str, Any] | None:
        ref = self.runner_spec.get("reference")
        return dict(ref) if isinstance(ref, Mapping) else None

    def _derived(self) -> "_WithDerived":
        return _WithDerived(self.space)

    def make_runner(self, **overrides: Any):
        r = {**self.runner_spec, **{k: v for k, v in overrides.items() if v is not None}}
        kind = r.get("kind")
        src = str(self.path)
        common: dict[str, Any] = {}
        for k in ("timing", "pattern", "warmup", "repeats", "timeout"):
            if k in r:
                common[k] = r[k]
        if kind in ("c", "command") and r.get("interleave"):
            common["interleave"] = True
        if self.objectives != ["time"]:
            common["objectives"] = self.objectives
        check = None
        if kind in ("c", "command") and "check" in r:
            check = OutputCheck(pattern=r["check"], rtol=r.get("rtol"), atol=r.get("atol"),
                                reference=r.get("reference_output"))
        if kind == "c":
            if "source" not in r:
                raise InputError("a C kernel runner needs 'source'", source=src, field="runner.source")
            source = (self.path.parent / r["source"]).resolve()
            if not source.is_file():
                raise InputError(f"kernel source {r['source']!r} does not exist", source=src, field="runner.source",
                                 hint=f"looked for {source}")
            return CKernelRunner(source, compiler=r.get("compiler", "gcc"), flags=r.get("flags", ["-O3"]),
                                 flag_params=r.get("flag_params", ()), run_args=r.get("run_args", ()),
                                 libs=r.get("libs", ["-lm"]), derived=self._derived(), check=check,
                                 reference_config=self.baseline, **common)
        if kind == "command":
            if "command" not in r:
                raise InputError("a command runner needs 'command'", source=src, field="runner.command")
            cwd = str((self.path.parent / r.get("cwd", ".")).resolve())
            return CommandRunner(r["command"], derived=self._derived(), check=check,
                                 reference_config=self.baseline, cwd=cwd, **common)
        if kind == "python":
            target = r.get("function", "")
            mod, _, attr = target.partition(":")
            if not mod or not attr:
                raise InputError(f"function {target!r} is not 'module:function'", source=src, field="runner.function")
            try:
                fn = getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as exc:
                raise InputError(f"cannot import {target!r}: {exc}", source=src, field="runner.function") from None
            if "isolate" in r:
                common["isolate"] = bool(r["isolate"])
            return PythonRunner(fn, **common)
        raise InputError(f"unknown runner kind {kind!r}", source=src, field="runner.kind",
                         hint="one of: c, command, python")


def load_spec(path: str | Path) -> TuneSpec:
    path = Path(path)
    src = str(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read the spec: {exc.strerror}", source=src) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", source=src) from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise InputError(f"unknown top-level key {unknown[0]!r}", source=src, field=unknown[0],
                         hint=f"allowed: {', '.join(sorted(_TOP_KEYS))}")
    params_raw = raw.get("parameters")
    if not isinstance(params_raw, Mapping) or not params_raw:
        raise InputError("the spec declares no parameters (an empty space)", source=src, field="parameters",
                         hint="add a [parameters] table with at least one parameter")
    params = [parameter_from_spec(k, v, source=src) for k, v in params_raw.items()]
    constraints = raw.get("constraints", [])
    if isinstance(constraints, str):
        constraints = [constraints]
    derived = raw.get("derived", {})
    try:
        space = SearchSpace(params, constraints, derived)
    except InputError as exc:
        raise InputError(exc.reason, source=src, field=exc.field, hint=exc.hint) from None
    runner = dict(raw.get("runner") or {})
    kind = runner.get("kind")
    if kind not in _RUNNER_KEYS:
        raise InputError(f"unknown runner kind {kind!r}", source=src, field="runner.kind",
                         hint="one of: c, command, python")
    bad = sorted(set(runner) - _RUNNER_KEYS[kind])
    if bad:
        raise InputError(f"unknown runner key {bad[0]!r} for kind {kind!r}", source=src, field=f"runner.{bad[0]}",
                         hint=f"allowed: {', '.join(sorted(_RUNNER_KEYS[kind]))}")
    study = dict(raw.get("study") or {})
    bad = sorted(set(study) - _STUDY_KEYS)
    if bad:
        raise InputError(f"unknown study key {bad[0]!r}", source=src, field=f"study.{bad[0]}",
                         hint=f"allowed: {', '.join(sorted(_STUDY_KEYS))}")
    _check_objectives(study, src)
    if space.enumerable() and space.size_report()["valid"] == 0:
        raise InputError("no configuration satisfies the constraints (an empty space)", source=src,
                         field="constraints", hint="relax the constraints or widen the parameter ranges")
    return TuneSpec(path=path, space=space, study=study, runner_spec=runner, raw=raw)


def _check_objectives(study: dict[str, Any], src: str) -> None:
    from hpcopt.tune.observers import OBJECTIVES

    objs = study.get("objectives", ["time"])
    if isinstance(objs, str):
        objs = study["objectives"] = [objs]
    if not isinstance(objs, list) or not objs or any(o not in OBJECTIVES for o in objs) or len(set(objs)) != len(objs):
        raise InputError(f"objectives must be distinct names among {', '.join(OBJECTIVES)}; got {objs!r}",
                         source=src, field="study.objectives")
    dirs = study.get("directions", ["minimize"] * len(objs))
    if isinstance(dirs, str):
        dirs = study["directions"] = [dirs]
    if (not isinstance(dirs, list) or len(dirs) != len(objs)
            or any(d not in ("minimize", "maximize") for d in dirs)):
        raise InputError(f"directions must give 'minimize' or 'maximize' for each of the {len(objs)} objective(s); "
                         f"got {dirs!r}", source=src, field="study.directions")


def example_path(name: str) -> Path:
    """Path of a bundled example spec (``matmul`` or ``stencil``)."""
    p = Path(__file__).parent / "examples" / f"{name}.toml"
    if not p.is_file():
        avail = sorted(q.stem for q in p.parent.glob("*.toml"))
        raise InputError(f"no bundled example {name!r}", field="example", hint=f"available: {', '.join(avail)}")
    return p


__all__ = ["TuneSpec", "load_spec", "example_path"]
