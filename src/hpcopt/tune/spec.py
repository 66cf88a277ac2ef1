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
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcopt.core.files import read_text
from hpcopt.errors import InputError
from hpcopt.tune.runners import CKernelRunner, CommandRunner, OutputCheck, PythonRunner
from hpcopt.tune.space import SearchSpace, did_you_mean, parameter_from_spec

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


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _read_toml(path: Path) -> dict[str, Any]:
    src = str(path)
    text = read_text(path)  # bounded, NUL refused, UTF-8 with the stated Latin-1 fallback
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_WHERE.search(msg)
        line = col = None
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            msg = msg[:m.start()]
        elif msg.endswith("(at end of document)"):
            msg = msg[: -len("(at end of document)")].rstrip()
            line = text.count("\n") + 1
        where = f", column {col}" if col is not None else ""
        raise InputError(f"not valid TOML{where}: {msg}", source=src, line=line,
                         hint="see https://toml.io for the syntax") from None


def _kind(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "a list",
            dict: "a table"}.get(type(v), type(v).__name__)


class _Checker:
    """Type and range checks of spec keys, each failure naming the file and the key."""

    def __init__(self, src: str) -> None:
        self.src = src

    def fail(self, key: str, msg: str, hint: str | None = None) -> InputError:
        return InputError(msg, source=self.src, field=key, hint=hint)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                key = f"{where}.{k}" if where else k
                raise self.fail(key, f"unknown key {key!r}" + did_you_mean(k, allowed),
                                hint=f"allowed{' in [' + where + ']' if where else ''}: {', '.join(sorted(allowed))}")

    def table(self, raw: Mapping[str, Any], key: str) -> dict[str, Any]:
        v = raw.get(key, {})
        if not isinstance(v, Mapping):
            raise self.fail(key, f"{key!r} must be a table ([{key}]); got {_kind(v)}")
        return dict(v)

    def string(self, t: Mapping[str, Any], key: str, where: str, *, choices: tuple[str, ...] = (),
               regex: bool = False) -> None:
        if key not in t:
            return
        v, full = t[key], f"{where}.{key}"
        if not isinstance(v, str):
            raise self.fail(full, f"{full} must be a string; got {v!r} ({_kind(v)})")
        if choices and v not in choices:
            raise self.fail(full, f"{full} must be one of {', '.join(choices)}; got {v!r}" + did_you_mean(v, choices))
        if regex:
            try:
                re.compile(v)
            except re.error as exc:
                raise self.fail(full, f"{full} is not a valid regular expression: {exc}") from None

    def integer(self, t: Mapping[str, Any], key: str, where: str, *, low: int, high: int) -> None:
        if key not in t:
            return
        v, full = t[key], f"{where}.{key}"
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(full, f"{full} must be an integer; got {v!r} ({_kind(v)})")
        if not low <= v <= high:
            raise self.fail(full, f"{full} must be between {low} and {high:,}; got {v}")

    def number(self, t: Mapping[str, Any], key: str, where: str, *, low: float, high: float,
               strict_low: bool = False) -> None:
        if key not in t:
            return
        v, full = t[key], f"{where}.{key}"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(full, f"{full} must be a number; got {v!r} ({_kind(v)})")
        ok = (v > low if strict_low else v >= low) and v <= high
        if not ok:
            lo = f"more than {low:g}" if strict_low else f"at least {low:g}"
            raise self.fail(full, f"{full} must be {lo} and at most {high:g}; got {v!r}")

    def boolean(self, t: Mapping[str, Any], key: str, where: str) -> None:
        if key in t and not isinstance(t[key], bool):
            full = f"{where}.{key}"
            raise self.fail(full, f"{full} must be true or false; got {t[key]!r} ({_kind(t[key])})")

    def strings(self, t: Mapping[str, Any], key: str, where: str) -> None:
        if key not in t:
            return
        v, full = t[key], f"{where}.{key}"
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(full, f"{full} must be a list of strings; got {v!r}"[:300])


def _check_runner(ck: _Checker, runner: dict[str, Any], names: list[str]) -> None:
    if not runner:
        raise ck.fail("runner", "the spec has no [runner] table", hint="add [runner] with kind = \"c\", "
                      "\"command\" or \"python\"")
    kind = runner.get("kind")
    if kind not in _RUNNER_KEYS:
        raise ck.fail("runner.kind", f"unknown runner kind {kind!r}"
                      + (did_you_mean(kind, _RUNNER_KEYS) if isinstance(kind, str) else ""),
                      hint="one of: c, command, python")
    ck.keys(runner, _RUNNER_KEYS[kind], "runner")
    w = "runner"
    ck.string(runner, "timing", w, choices=("wall", "user", "output"))
    ck.string(runner, "pattern", w, regex=True)
    ck.string(runner, "check", w, regex=True)
    ck.integer(runner, "warmup", w, low=0, high=1000)
    ck.integer(runner, "repeats", w, low=1, high=10_000)
    ck.number(runner, "timeout", w, low=0, high=7 * 86400, strict_low=True)
    ck.number(runner, "rtol", w, low=0, high=1e300)
    ck.number(runner, "atol", w, low=0, high=1e300)
    ck.string(runner, "reference_output", w)
    ck.boolean(runner, "interleave", w)
    ck.boolean(runner, "isolate", w)
    for k in ("source", "compiler", "command", "cwd", "function"):
        ck.string(runner, k, w)
    for k in ("flags", "flag_params", "run_args", "libs"):
        ck.strings(runner, k, w)
    for p in runner.get("flag_params", []):
        if p not in names:
            raise ck.fail("runner.flag_params", f"runner.flag_params names {p!r}, which is not a parameter"
                          + did_you_mean(p, names), hint=f"parameters: {', '.join(names)}")
    ref = runner.get("reference")
    if ref is not None:
        if not isinstance(ref, Mapping):
            raise ck.fail("runner.reference", f"runner.reference must be a table of macros (e.g. {{ NAIVE = 1 }}); "
                          f"got {ref!r} ({_kind(ref)})")
        for k, v in ref.items():
            if not isinstance(v, (str, int, float, bool)):
                raise ck.fail(f"runner.reference.{k}", f"runner.reference.{k} must be a number, string or "
                              f"boolean; got {_kind(v)}")
    if runner.get("timing") == "output" and kind != "python" and "pattern" not in runner:
        raise ck.fail("runner.pattern", "timing = \"output\" needs a 'pattern' regex whose first group is the time")
    if kind == "c" and "source" not in runner:
        raise ck.fail("runner.source", "a C kernel runner needs 'source'")
    if kind == "command" and "command" not in runner:
        raise ck.fail("runner.command", "a command runner needs 'command'")
    if kind == "python" and "function" not in runner:
        raise ck.fail("runner.function", "a python runner needs 'function' (module:function)")


def _check_study(ck: _Checker, study: dict[str, Any]) -> None:
    ck.keys(study, _STUDY_KEYS, "study")
    w = "study"
    ck.string(study, "name", w)
    if "name" in study and not study["name"].strip():
        raise ck.fail("study.name", "study.name is empty")
    if "strategy" in study:
        from hpcopt.tune.strategies import STRATEGIES

        ck.string(study, "strategy", w)
        name = study["strategy"].strip().lower()
        if name not in STRATEGIES:
            raise ck.fail("study.strategy", f"unknown strategy {study['strategy']!r}" + did_you_mean(name, STRATEGIES),
                          hint=f"known: {', '.join(STRATEGIES)}")
    ck.integer(study, "budget", w, low=1, high=10_000_000)
    ck.integer(study, "random_state", w, low=0, high=2 ** 32 - 1)


def load_spec(path: str | Path) -> TuneSpec:
    path = Path(path)
    src = str(path)
    raw = _read_toml(path)
    ck = _Checker(src)
    ck.keys(raw, _TOP_KEYS, "")
    params_raw = raw.get("parameters")
    if not isinstance(params_raw, Mapping) or not params_raw:
        raise InputError("the spec declares no parameters (an empty space)", source=src, field="parameters",
                         hint="add a [parameters] table with at least one parameter")
    params = [parameter_from_spec(k, v, source=src) for k, v in params_raw.items()]
    constraints = raw.get("constraints", [])
    if isinstance(constraints, str):
        constraints = [constraints]
    if not isinstance(constraints, list):
        raise ck.fail("constraints", f"constraints must be a list of strings; got {_kind(constraints)}")
    for i, c in enumerate(constraints):
        if not isinstance(c, str):
            raise ck.fail(f"constraints[{i}]", f"constraint {i + 1} must be a string; got {c!r} ({_kind(c)})")
    derived = ck.table(raw, "derived")
    for k, v in derived.items():
        if not isinstance(v, str):
            raise ck.fail(f"derived.{k}", f"derived.{k} must be an expression in a string; got {v!r} ({_kind(v)})")
    try:
        space = SearchSpace(params, constraints, derived, source=src)
    except InputError as exc:
        if exc.source is not None:
            raise
        raise InputError(exc.reason, source=src, field=exc.field, hint=exc.hint) from None
    runner = ck.table(raw, "runner")
    _check_runner(ck, runner, space.names)
    study = ck.table(raw, "study")
    _check_study(ck, study)
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
    if (not isinstance(objs, list) or not objs or any(not isinstance(o, str) or o not in OBJECTIVES for o in objs)
            or len(set(objs)) != len(objs)):
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


def resolve_spec(spec: str | Path) -> Path:
    """A spec file's path: the file itself, or a bundled example by name (``matmul``, ``stencil``)."""
    p = Path(spec)
    if p.is_file():
        return p
    if "/" not in str(spec) and not str(spec).endswith(".toml"):
        return example_path(str(spec))
    raise InputError("the spec file does not exist", source=str(spec),
                     hint="give a TOML spec, or a bundled example name: matmul, stencil")


__all__ = ["TuneSpec", "load_spec", "example_path", "resolve_spec"]
