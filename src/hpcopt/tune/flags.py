"""Compiler-flag tuning: search gcc/clang flags against the ``-O3`` baseline.

The space has one categorical parameter per flag family (optimisation level,
``-march``, unrolling, vectorisation cost model, inlining, loop transformations,
prefetching, ``--param max-unroll-times``, ...); the empty string means "leave the
compiler's default". ``-ffast-math`` (and ``-Ofast``) join the space only when an output
tolerance is given, because they may change results: every candidate's checked output is
compared with the baseline's, exactly or within the tolerance, and a mismatch is a
``WRONG_ANSWER``, never a speedup.

After the search the best flag set and the baseline are measured again, interleaved
(B, C, B, C, ...), and the speedup is the ratio of the medians with the interquartile
range of the per-pair ratios as its spread.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.results import Status
from hpcopt.tune.runners import CKernelRunner, OutputCheck, interleaved
from hpcopt.tune.space import Categorical, SearchSpace
from hpcopt.tune.study import Study

from hpcopt.core.progress import ProgressFn as Progress


def flag_space(compiler: str = "gcc", *, allow_fast_math: bool = False) -> SearchSpace:
    """The flag families searched (gcc and clang spellings where they differ)."""
    gcc = "clang" not in Path(compiler).name
    fams: list[tuple[str, list[str]]] = [
        ("opt", ["-O3", "-O2"] + (["-Ofast"] if allow_fast_math else [])),
        ("march", ["", "-march=native", "-march=native -mtune=native"]),
        ("unroll", ["", "-funroll-loops", "-funroll-all-loops"] if gcc else ["", "-funroll-loops", "-fno-unroll-loops"]),
        ("inline", ["", "-finline-functions", "-fno-inline-functions"]),
        ("prefetch", ["", "-fprefetch-loop-arrays"] if gcc else [""]),
        ("frame", ["", "-fomit-frame-pointer", "-fno-omit-frame-pointer"]),
    ]
    if gcc:
        fams += [
            ("vect_cost", ["", "-fvect-cost-model=unlimited", "-fvect-cost-model=cheap", "-fno-tree-vectorize"]),
            ("loop_opts", ["", "-floop-interchange -floop-unroll-and-jam", "-fpeel-loops", "-fipa-pta",
                           "-ftree-loop-distribution"]),
            ("max_unroll", ["", "--param=max-unroll-times=4", "--param=max-unroll-times=16"]),
            ("align", ["", "-falign-loops=32", "-falign-loops=64"]),
        ]
    if allow_fast_math:
        fams.append(("fast_math", ["", "-ffast-math"]))
    params = [Categorical(name, tuple(vals)) for name, vals in fams if len(vals) > 1]
    return SearchSpace(params)


def baseline_config(space: SearchSpace) -> dict[str, Any]:
    return {p.name: ("-O3" if p.name == "opt" else "") for p in space.parameters}


def flags_of(config: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for v in config.values():
        out.extend(str(v).split())
    return out


def tune_flags(
    source: str | Path,
    *,
    compiler: str = "gcc",
    compile_args: Sequence[str] = (),
    run_args: Sequence[str] = (),
    timing: str = "user",
    pattern: str | None = None,
    check: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    budget: int = 40,
    strategy: str | None = None,
    repeats: int = 3,
    final_repeats: int = 11,
    timeout: float = 60.0,
    random_state: int = 0,
    storage: str = ":memory:",
    study_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Search flags for ``source``; returns a JSON-ready report (see the module docstring)."""
    source = Path(source)
    if not source.is_file():
        raise InputError("the source file does not exist", source=str(source), hint="give a .c or .cpp file")
    if shutil.which(compiler) is None:
        raise InputError(f"compiler {compiler!r} is not installed", field="--compiler")
    if budget < 2:
        raise ConfigError(f"budget must be at least 2 (the baseline and one candidate), got {budget}")
    tolerant = rtol is not None or atol is not None
    space = flag_space(compiler, allow_fast_math=tolerant)
    base = baseline_config(space)
    # by default every output line that does not mention time is checked
    out_check = OutputCheck(pattern=check or r"(?m)^(?!.*time).*\S.*$", rtol=rtol, atol=atol)
    runner = CKernelRunner(source, compiler=compiler, flags=list(compile_args), flag_params=[p.name for p in space.parameters],
                           run_args=run_args, timing=timing, pattern=pattern, warmup=1, repeats=repeats,
                           timeout=timeout, check=out_check, reference_config=base)
    try:
        first = runner.build(base)
        if not isinstance(first, Path):
            raise InputError(f"the baseline build fails: {first.message}", source=str(source),
                             hint="fix the source or the --compile-args first")
        runner.ensure_reference()
        study = Study(space, runner, strategy=strategy, name=study_name or f"flags:{source.name}", storage=storage,
                      random_state=random_state, extra_info={"kind": "flags", "source": str(source)})
        if study.key(base) not in study._taken():  # another process may be measuring it already
            study.add(base, runner(base), unique=True)
        summary = study.optimize(budget, progress=progress)
        trials = study.trials
        base_trial = next(t for t in trials if t.key == study.key(base))
        if base_trial.result is None or not base_trial.result.ok:
            raise InputError(f"the -O3 baseline does not run: {base_trial.result.message if base_trial.result else ''}",
                             source=str(source))
        best = study.best_trial()
        assert best is not None
        counts = summary["status_counts"]
        if best.key == base_trial.key:
            comp = interleaved(runner, base, base, repeats=final_repeats)
        else:
            comp = interleaved(runner, base, best.config, repeats=final_repeats)
            # the final runs are checked again: a wrong answer can never become the speedup
            last = runner.run_once(best.config)
            why = out_check.compare(last.output) if last.status is Status.OK else last.message
            if why:
                raise InputError(f"the best flags gave a different answer on re-run: {why}", source=str(source))
        lo, hi = comp.speedup_spread()
        improved = best.key != base_trial.key and comp.speedup > 1.0
        return {
            "schema": "hpcopt.tune.flags/1",
            "source": str(source),
            "compiler": compiler,
            "compile_args": list(compile_args),
            "timing": timing,
            "baseline_flags": [*compile_args, *flags_of(base)],
            "baseline_seconds": comp.baseline_median,
            "best_flags": [*compile_args, *flags_of(best.config if improved else base)],
            "best_seconds": comp.candidate_median if improved else comp.baseline_median,
            "candidate_flags": [*compile_args, *flags_of(best.config)],
            "candidate_seconds": comp.candidate_median,
            "speedup": comp.speedup if improved else 1.0,
            "measured_speedup": comp.speedup,
            "speedup_iqr": [lo, hi],
            "final_pairs": len(comp.baseline),
            "evaluations": summary["trials"],
            "status_counts": counts,
            "tolerance": {"rtol": rtol, "atol": atol} if tolerant else None,
            "fast_math_allowed": tolerant,
            "strategy": study.strategy.name,
            "random_state": random_state,
            "search_best_seconds": best.result.value if best.result else math.nan,
        }
    finally:
        runner.close()


__all__ = ["tune_flags", "flag_space", "baseline_config", "flags_of"]
