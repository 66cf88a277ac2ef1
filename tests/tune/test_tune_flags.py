import textwrap

import pytest

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.flags import baseline_config, flag_space, flags_of, tune_flags

# these tests need the 'tune' extra: pip install -e '.[test,tune]'
pytest.importorskip("sklearn")

TRAP = textwrap.dedent("""
    #include <stdio.h>
    int main(void) {
        volatile double s = 0;
    #ifdef __FAST_MATH__
        long n = 1000;          /* "fast" ... */
        double answer = 2.0;    /* ... and wrong */
    #else
        long n = 3000000;
        double answer = 1.0;
    #endif
        for (long i = 0; i < n; i++) s += 1e-9;
        printf("v=%.3f\\n", answer);
        return 0;
    }
""")


def test_fast_math_is_searched_only_with_a_tolerance_and_never_wins_with_a_wrong_answer(tmp_path):
    src = tmp_path / "trap.c"
    src.write_text(TRAP)
    assert "fast_math" not in flag_space("gcc").names
    assert "fast_math" in flag_space("gcc", allow_fast_math=True).names
    rep = tune_flags(src, strategy="grid", budget=6, repeats=1, final_repeats=3, rtol=1e-6, timing="wall")
    assert rep["status_counts"].get("wrong_answer", 0) >= 1  # the fast-math builds were measured ...
    assert "-ffast-math" not in rep["best_flags"] and "-Ofast" not in rep["best_flags"]  # ... and rejected
    assert rep["fast_math_allowed"] and rep["tolerance"] == {"rtol": 1e-6, "atol": None}


def test_baseline_is_plain_O3():
    sp = flag_space("gcc")
    assert flags_of(baseline_config(sp)) == ["-O3"]
    assert sp.size_report()["valid"] > 1000


def test_bad_flag_tuning_input(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        tune_flags(tmp_path / "none.c")
    broken = tmp_path / "b.c"
    broken.write_text("int main(void) { return nope; }")
    with pytest.raises(InputError, match="baseline build fails"):
        tune_flags(broken, budget=3)
    ok = tmp_path / "ok.c"
    ok.write_text("int main(void) { return 0; }")
    with pytest.raises(ConfigError, match="budget"):
        tune_flags(ok, budget=1)
