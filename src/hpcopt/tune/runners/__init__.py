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

The package splits along the seams: :mod:`.base` (the record of a run, output checks,
result shaping), :mod:`.process` (running and measuring a child), :mod:`.command`
(the program-measuring loop and :class:`CommandRunner`), :mod:`.kernel`
(:class:`CKernelRunner`), :mod:`.python` (:class:`PythonRunner`) and :mod:`.compare`
(:func:`interleaved`).
"""

from hpcopt.tune.runners.base import OutputCheck, Run
from hpcopt.tune.runners.command import CommandRunner
from hpcopt.tune.runners.compare import Comparison, interleaved
from hpcopt.tune.runners.kernel import CKernelRunner
from hpcopt.tune.runners.python import PythonRunner

__all__ = ["Run", "OutputCheck", "CommandRunner", "CKernelRunner", "PythonRunner", "Comparison", "interleaved"]
