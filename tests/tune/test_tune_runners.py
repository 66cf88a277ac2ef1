import sys
import textwrap

import pytest

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.runners import CKernelRunner, CommandRunner, OutputCheck, PythonRunner, interleaved

KERNEL = textwrap.dedent("""
    #include <stdio.h>
    #ifndef N
    #define N 10
    #endif
    #ifndef BUG
    #define BUG 0
    #endif
    /* BUG != 0 is a variant that gives a wrong answer */
    int main(void) {
        long s = 0;
        for (long i = 0; i < N * 1000; i++) s += i % 7;
    #if N == 13
        return 3;           /* a crash-like exit */
    #endif
        printf("time_s=%.6f\\nresult=%ld\\n", 0.001 * N, (s >= 0 ? 42L : 0L) + BUG);
        return 0;
    }
""")


def test_python_runner_success_failure_and_wrong_answer():
    r = PythonRunner(lambda x: x * 2, timing="output")
    assert r({"x": 3}).value == 6.0
    boom = PythonRunner(lambda x: 1 / x, timing="wall", repeats=2, warmup=0)
    res = boom({"x": 0})
    assert res.status is Status.RUNTIME_ERROR and "ZeroDivisionError" in res.message
    ok = boom({"x": 2})
    assert ok.ok and len(ok.samples) == 2 and ok.value >= 0
    checked = PythonRunner(lambda x: x, timing="wall", check=lambda out: out > 0)
    assert checked({"x": -1}).status is Status.WRONG_ANSWER
    multi = PythonRunner(lambda x: (x, 10 - x), timing="output")
    assert multi({"x": 4}).values == (4.0, 6.0)
    assert PythonRunner(lambda x: float("nan"), timing="output")({"x": 1}).status is Status.RUNTIME_ERROR
    with pytest.raises(ConfigError, match="timing"):
        PythonRunner(lambda: 0, timing="cycles")


def test_command_runner_parses_output_and_checks_reference(tmp_path):
    prog = f"{sys.executable} -c \"import sys; print('t=' + str({{x}} / 10)); print('answer', {{x}} % 2)\""
    check = OutputCheck(pattern=r"answer (\d+)")
    r = CommandRunner(prog, timing="output", pattern=r"t=(\S+)", warmup=0, repeats=2, check=check,
                      reference_config={"x": 4})
    res = r({"x": 6})
    assert res.ok and res.value == pytest.approx(0.6)
    bad = r({"x": 3})
    assert bad.status is Status.WRONG_ANSWER and "differs" in bad.message
    missing = CommandRunner(f"{sys.executable} -c \"print(1)\"", timing="output", pattern=r"t=(\S+)", repeats=1)
    assert missing({}).status is Status.RUNTIME_ERROR
    with pytest.raises(InputError, match="cannot be filled"):
        r({"y": 1})


def test_command_runner_timeout_and_crash():
    slow = CommandRunner(f"{sys.executable} -c \"import time; time.sleep({{s}})\"", timeout=0.5, warmup=0, repeats=1)
    assert slow({"s": 5}).status is Status.TIMEOUT
    crash = CommandRunner(f"{sys.executable} -c \"raise SystemExit(4)\"", warmup=0, repeats=1)
    res = crash({})
    assert res.status is Status.RUNTIME_ERROR and "exit code 4" in res.message
    nothere = CommandRunner("/no/such/program", warmup=0, repeats=1)
    assert nothere({}).status is Status.RUNTIME_ERROR


def test_user_cpu_timing_counts_the_child():
    busy = CommandRunner(f"{sys.executable} -c \"s=0\nfor i in range(3000000): s+=i\"", timing="user",
                         warmup=0, repeats=1)
    res = busy({})
    assert res.ok and res.value > 0.01


def test_c_kernel_runner_typed_failures(tmp_path):
    src = tmp_path / "k.c"
    src.write_text(KERNEL)
    r = CKernelRunner(src, flags=["-O1"], timing="output", pattern=r"time_s=(\S+)", warmup=0, repeats=2,
                      check=OutputCheck(pattern=r"result=(\S+)"), reference_config={"N": 10})
    try:
        good = r({"N": 20, "BUG": 0})
        assert good.ok and good.value == pytest.approx(0.02)
        wrong = r({"N": 5, "BUG": 1})  # "faster" and wrong: never a result
        assert wrong.status is Status.WRONG_ANSWER
        crash = r({"N": 13, "BUG": 0})
        assert crash.status is Status.RUNTIME_ERROR and "exit code 3" in crash.message
        broken = r({"N": "10 +", "BUG": 0})
        assert broken.status is Status.COMPILE_ERROR and "error" in broken.message
        # the same configuration is compiled once
        n_built = len(list(r.build_dir.iterdir()))
        r({"N": 20, "BUG": 0})
        assert len(list(r.build_dir.iterdir())) == n_built
    finally:
        r.close()


def test_c_kernel_runner_bad_setup(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        CKernelRunner(tmp_path / "nope.c")
    src = tmp_path / "k.c"
    src.write_text(KERNEL)
    with pytest.raises(InputError, match="not installed"):
        CKernelRunner(src, compiler="no-such-cc")
    never = tmp_path / "never.c"
    never.write_text("int main(void) { return syntax error; }")
    r = CKernelRunner(never, check=OutputCheck(pattern="x"), reference_config={})
    try:
        assert r({}).status is Status.COMPILE_ERROR
        with pytest.raises(InputError, match="reference configuration fails"):
            r.ensure_reference()
    finally:
        r.close()


def test_output_check_tolerance():
    c = OutputCheck(pattern=r"v=(\S+)", rtol=1e-6, reference="v=1.0000000\n")
    assert c.compare("v=1.0000001") is None
    assert "beyond" in c.compare("v=1.01")
    exact = OutputCheck(pattern=r"v=(\S+)", reference="v=1.0")
    assert exact.compare("v=1.00") is not None


def test_interleaved_alternates_and_reports_spread(tmp_path):
    calls = []
    src = tmp_path / "k.c"
    src.write_text(KERNEL)
    r = CKernelRunner(src, timing="output", pattern=r"time_s=(\S+)", warmup=0, repeats=1)
    try:
        orig = r.run_once

        def spy(cfg):
            calls.append(cfg["N"])
            return orig(cfg)

        r.run_once = spy
        comp = interleaved(r, {"N": 40}, {"N": 10}, repeats=3, warmup=1)
        assert calls == [40, 10] * 4
        assert comp.speedup == pytest.approx(4.0)
        assert comp.speedup_spread() == pytest.approx((4.0, 4.0))
    finally:
        r.close()


def test_result_round_trip():
    r = Result.success(2.0, [1.0, 2.0, 3.0, 4.0])
    assert r.spread == pytest.approx(1.5)
    assert Result.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError):
        Result.failure(Status.OK, "no")


def test_interleaved_relative_objective(tmp_path):
    src = tmp_path / "k.c"
    src.write_text(KERNEL)
    r = CKernelRunner(src, timing="output", pattern=r"time_s=(\S+)", warmup=1, repeats=3,
                      check=OutputCheck(pattern=r"result=(\S+)"), reference_config={"N": 40}, interleave=True)
    try:
        res = r({"N": 10, "BUG": 0})
        assert res.ok and res.value == pytest.approx(0.25) and res.extra["reference_median"] == pytest.approx(0.04)
        assert r({"N": 10, "BUG": 1}).status is Status.WRONG_ANSWER
    finally:
        r.close()
    with pytest.raises(ConfigError, match="needs a reference"):
        CKernelRunner(src, interleave=True)
