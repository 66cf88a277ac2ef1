"""Tuning inputs: bounded constraint evaluation, bounded ranges, checked spec and cache files."""

import gzip
import itertools
import json
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcopt.errors import HpcoptError, InputError
from hpcopt.tune.expr import INT_LIMIT
from hpcopt.tune.replay import load_cache
from hpcopt.tune.space import (Categorical, Integer, Ordinal, PowerOfTwo, Real, SearchSpace, parameter_from_spec)
from hpcopt.tune.spec import example_path, load_spec


def small_space(constraints, derived=None):
    return SearchSpace([Integer("a", -3, 8), Integer("b", 0, 5), Categorical("c", (0, 1))], constraints,
                       derived or {})


# ----------------------------------------------------------------- bounded expressions


@pytest.mark.parametrize("expr", ["9**9**9**9 > 0", "2 ** (2 ** 62) > 1", "(10 ** 18) * (10 ** 18) > 0",
                                  "a ** 100 > 0", "a * 4611686018427387904 > 0"])
def test_huge_integer_results_are_refused_before_computing(expr):
    t0 = time.perf_counter()
    with pytest.raises(InputError) as e:
        small_space([expr]).valid_points()
    assert time.perf_counter() - t0 < 1.0
    msg = str(e.value)
    assert repr(expr) in msg and "limit" in msg and "2**62" in msg or "62 bits" in msg


def test_the_failing_point_is_named_and_a_guard_avoids_the_error():
    with pytest.raises(InputError, match=r"at \{'a': 19, 'b': 0, 'c': 0\}"):
        SearchSpace([Integer("a", 0, 70), Integer("b", 0, 1), Categorical("c", (0,))], ["10 ** a > 5"]).valid_points()
    # Python's short-circuit: the power is not looked at where the guard is false
    s = SearchSpace([Integer("a", 0, 100)], ["a < 60 and 2 ** a < 1000", "a if a > 62 else 2 ** a >= 1"])
    assert [p[0] for p in s.valid_points()] == list(range(10))
    assert s.is_valid({"a": 99}) is False and s.is_valid({"a": 3}) is True


def test_integer_literals_and_text_are_bounded():
    with pytest.raises(InputError, match="beyond the limit"):
        small_space([f"a < {2 ** 70}"])
    with pytest.raises(InputError, match="characters long"):
        small_space(["a + " * 400 + "1 > 0"])
    with pytest.raises(InputError, match="nested more than"):
        small_space(["abs(" * 45 + "a" + ")" * 45 + " > 0"])
    with pytest.raises(InputError, match="syntax nodes"):
        small_space([" + ".join(["a"] * 200) + " > 0"])


def test_step_budget_stops_an_expensive_evaluation(monkeypatch):
    import hpcopt.tune.expr as expr

    monkeypatch.setattr(expr, "MAX_STEPS", 1000)
    s = SearchSpace([Integer("a", 0, 999)], ["a * 2 + 1 > 3"])
    with pytest.raises(InputError, match="more than 1,000 steps"):
        s.valid_points()


def test_division_by_zero_is_invalid_the_same_way_for_one_point_and_the_whole_space():
    # the old vectorised path counted a // 0 as 0 (272 points) while the point-wise check said invalid (255)
    s = SearchSpace([Integer("a", 0, 30), Integer("b", -5, 17)],
                    ["a // (b+1) < 4 or a % 7 == 2", "not (a ** 2 > 300) and abs(b) <= 12", "max(a,b) - min(a,b) != 2"])
    brute = [p for p in itertools.product(range(31), range(-5, 18)) if s.is_valid({"a": p[0], "b": p[1]})]
    assert len(s.valid_points()) == 255 and s.valid_points() == brute
    assert s.violated({"a": 0, "b": -1}) == ["a // (b+1) < 4 or a % 7 == 2"]
    d = SearchSpace([Integer("t", 0, 4)], [], derived={"blocks": "12 // t"})
    assert [p[0] for p in d.valid_points()] == [1, 2, 3, 4]  # blocks undefined at t = 0
    assert d.with_derived({"t": 3}) == {"t": 3, "blocks": 4}
    with pytest.raises(InputError, match="undefined"):
        d.with_derived({"t": 0})


def test_known_spaces_give_the_same_counts_as_before():
    # counted with the compiled-eval implementation this replaces (matmul, stencil: bundled examples)
    assert load_spec(example_path("matmul")).space.size_report()["valid"] == 3456
    assert load_spec(example_path("stencil")).space.size_report()["valid"] == 40
    cases = [
        ([PowerOfTwo("x", 1, 64), Integer("y", 1, 20, 3), Categorical("c", (0, 1))],
         ["x * y <= 100", "(x + y + c) % 3 != 0 or c == 1"], {}, 46),
        ([Integer("tile", 1, 48)], ["blocks >= 5", "48 % tile == 0"], {"blocks": "48 // tile"}, 6),
        ([Integer("a", 0, 9), Integer("b", 0, 9)], ["not (a == 3) and (a < b or b == 0)",
                                                   "1 <= (a if a > b else b) < 8"], {}, 30),
        ([Ordinal("u", (1, 2, 4, 8, 16)), Integer("v", 1, 40)], ["sqrt(u * v) <= 12.5", "log2(u) + ceil(v / 3) >= 4",
                                                                 "floor(v/u) * u == v or v > 30"], {}, 71),
        ([Categorical("s", ("x", "y", "z")), Integer("k", 0, 10)], ["s == 'x' or k > 4", "s != 'z' or k % 2 == 0"],
         {}, 20),
    ]
    for params, cons, der, want in cases:
        s = SearchSpace(params, cons, der)
        assert len(s.valid_points()) == want
        brute = [p for p in itertools.product(*(q.values() for q in s.parameters)) if s.is_valid(s.to_config(p))]
        assert brute == s.valid_points()


_TOKENS = ["a", "b", "c", "0", "1", "2", "7", "9", "62", "1e308", "0.5", "'x'", "+", "-", "*", "/", "//", "%", "**",
           "<", "<=", "==", "!=", ">", " and ", " or ", " not ", "(", ")", " if ", " else ", ",", "min(", "max(",
           "abs(", "log2(", "sqrt(", "ceil(", "floor(", "9**9**9", "__import__", ".", "[", "]", "lambda", " "]


@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=25).map("".join))
def test_random_constraint_strings_never_hang_or_raise_anything_else(text):
    check_constraint_text(text)


def check_constraint_text(text):
    try:
        s = small_space([text])
    except InputError:
        return
    try:
        pts = s.valid_points()
    except InputError:
        return
    # one point at a time gives the same answer as the whole space at once (every 5th point)
    for p in list(itertools.product(*(q.values() for q in s.parameters)))[::5]:
        try:
            ok = s.is_valid(s.to_config(p))
        except InputError:
            return
        assert ok == (p in set(pts))


@settings(max_examples=60, deadline=3000)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=20).map("".join))
def test_random_derived_values_never_raise_anything_but_project_errors(text):
    try:
        s = small_space(["d == d or d != d"], derived={"d": text})
        s.size_report()
        for p in s.valid_points()[:5]:
            s.with_derived(s.to_config(p))
    except HpcoptError:
        pass


# ----------------------------------------------------------------- bounded ranges


def test_a_huge_integer_range_is_sized_and_sampled_without_listing():
    p = parameter_from_spec("x", {"type": "int", "low": 0, "high": 1e12})
    assert p.n_values() == 10 ** 12 + 1 and p.value_at(10 ** 12) == 10 ** 12
    with pytest.raises(InputError, match="more than 5,000,000 to list"):
        p.values()
    s = SearchSpace([p, Integer("y", 1, 4)], ["x % 2 == 0"])
    assert s.cartesian_size() == 4 * (10 ** 12 + 1) and not s.enumerable()
    rep = s.size_report()
    assert not rep["exact"] and 0.45 < rep["valid_fraction"] < 0.55
    c = s.sample_valid(np.random.default_rng(0))
    assert c["x"] % 2 == 0 and 0 <= c["x"] <= 10 ** 12


@pytest.mark.parametrize("spec,what", [
    ({"type": "int", "low": 0, "high": 1e30}, "beyond the integer limit"),
    ({"type": "int", "low": 0, "high": 2.5}, "must be an integer"),
    ({"type": "int", "low": "0", "high": 3}, "must be an integer; got '0' (a string)"),
    ({"type": "int", "low": 0, "high": 3, "log": "yes"}, "true or false"),
    ({"type": "int", "low": 0, "hgih": 3}, "did you mean 'high'"),
    ({"type": "real", "low": 0, "high": float("inf")}, "finite"),
    ({"type": "real", "low": -1e308, "high": 1e308}, "too wide"),
    ({"type": "pow2", "low": 1, "high": 2 ** 70}, "beyond the integer limit"),
    ({"type": "categorical", "choices": "abc"}, "must be a list"),
    ({"type": "categorical", "choices": [1, 2, 1]}, "listed twice"),
    ({"type": "ordinal", "values": [1, [2]]}, "not a number, string or boolean"),
    ({"type": "ordinal", "values": [1, float("nan")]}, "not a finite number"),
    ({"type": "integer", "low": 0, "high": 3}, "did you mean 'int'"),
])
def test_bad_parameter_specs_name_the_key(spec, what):
    with pytest.raises(InputError, match="parameters.x") as e:
        parameter_from_spec("x", spec, source="s.toml")
    assert what in str(e.value) and str(e.value).startswith("s.toml")


def test_real_and_integer_bounds_checked_in_python_too():
    with pytest.raises(InputError, match="beyond"):
        Integer("i", 0, 2 ** 63)
    with pytest.raises(InputError, match="finite"):
        Real("r", 0.0, float("nan"))
    assert Integer("i", -INT_LIMIT, INT_LIMIT).n_values() == 2 * INT_LIMIT + 1


# ----------------------------------------------------------------- spec files


def spec_file(tmp_path, body, name="spec.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


RUNNER = '\n[runner]\nkind = "command"\ncommand = "true"\n'


def test_constraint_errors_name_the_spec_file(tmp_path):
    p = spec_file(tmp_path, 'constraints = ["9**9**9**9 > 0"]\n[parameters]\nx = [1, 2]\n' + RUNNER)
    t0 = time.perf_counter()
    with pytest.raises(InputError) as e:
        load_spec(p)
    assert time.perf_counter() - t0 < 2.0
    assert str(e.value).startswith(str(p)) and "'9**9**9**9 > 0'" in str(e.value) and "bits" in str(e.value)


def test_spec_with_a_huge_range_loads_and_reports_an_estimate(tmp_path):
    p = spec_file(tmp_path, '[parameters]\nx = { type = "int", low = 0, high = 1e12 }\n' + RUNNER)
    rep = load_spec(p).space.size_report()
    assert rep["cartesian_size"] == 1e12 + 1 and rep["valid"] == 1e12 + 1 and rep["exact"] is True  # counted
    p = spec_file(tmp_path, 'constraints = ["x % 4 == 0"]\n[parameters]\nx = { type = "int", low = 0, high = 1e12 }\n'
                  + RUNNER)
    rep = load_spec(p).space.size_report()
    assert rep["exact"] is False and 0.23 < rep["valid_fraction"] < 0.27


def test_non_utf8_toml_is_read_with_the_latin1_fallback(tmp_path):
    p = tmp_path / "spec.toml"
    p.write_bytes(b'# r\xe9glage \xff\n[parameters]\nx = [1, 2]\n' + RUNNER.encode())
    assert load_spec(p).space.names == ["x"]
    p.write_bytes(b'[parameters]\nx = ["caf\xe9"]\n' + RUNNER.encode())
    assert load_spec(p).space.parameters[0].values() == ["caf\u00e9"]
    p.write_bytes(b'[parameters]\nx = [1]\x00\n')
    with pytest.raises(InputError, match="NUL"):
        load_spec(p)


@pytest.mark.parametrize("body,where,what", [
    ('[parameters]\nx = [1, 2\n', "line 3", "Unclosed array"),
    ('[parameters]\nx = [1, 2]\ny = 3 4\n', "line 3", "column 7"),
    ('[parameters]\nx = [1, 2]\ny = \n', "line 3", "not valid TOML"),
    ('[parameters]\nx = [1]\n[parameters]\n', "line 3", "not valid TOML"),
])
def test_toml_syntax_errors_give_line_and_column(tmp_path, body, where, what):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(InputError) as e:
        load_spec(p)
    assert str(e.value).startswith(f"{p} {where}") and what in str(e.value)


@pytest.mark.parametrize("body,what", [
    ('[paramters]\nx = [1]\n', "unknown key 'paramters' (did you mean 'parameters'?)"),
    ('[parameters]\nx = [1]\n[study]\nbuget = 3\n' + RUNNER, "unknown key 'study.buget' (did you mean 'budget'?)"),
    ('[parameters]\nx = [1]\n[study]\nbudget = "x"\n' + RUNNER, "study.budget must be an integer; got 'x'"),
    ('[parameters]\nx = [1]\n[study]\nbudget = 0\n' + RUNNER, "study.budget must be between 1"),
    ('[parameters]\nx = [1]\n[study]\nstrategy = "bayes"\n' + RUNNER, "unknown strategy 'bayes'"),
    ('[parameters]\nx = [1]\n[study]\nrandom_state = -1\n' + RUNNER, "study.random_state must be between 0"),
    ('[parameters]\nx = [1]\n[runner]\nkind = "comand"\n', "did you mean 'command'"),
    ('[parameters]\nx = [1]\n', "no [runner] table"),
    ('[parameters]\nx = [1]\n' + RUNNER + 'repeats = 0\n', "runner.repeats must be between 1"),
    ('[parameters]\nx = [1]\n' + RUNNER + 'timeout = "5"\n', "runner.timeout must be a number"),
    ('[parameters]\nx = [1]\n' + RUNNER + 'timing = "cpu"\n', "runner.timing must be one of wall, user, output"),
    ('[parameters]\nx = [1]\n' + RUNNER + 'timing = "output"\npattern = "("\n', "not a valid regular expression"),
    ('[parameters]\nx = [1]\n' + RUNNER + 'timing = "output"\n', "needs a 'pattern'"),
    ('[parameters]\nx = [1]\n' + RUNNER + 'repeat = 3\n', "unknown key 'runner.repeat' (did you mean 'repeats'?)"),
    ('[parameters]\nx = [1]\n[runner]\nkind = "c"\nsource = "k.c"\nflags = "-O3"\n', "runner.flags must be a list"),
    ('[parameters]\nx = [1]\n[runner]\nkind = "c"\nsource = "k.c"\nflag_params = ["y"]\n', "not a parameter"),
    ('constraints = "x > 0"\n[parameters]\nx = [1]\n[derived]\nd = 3\n' + RUNNER, "derived.d must be an expression"),
    ('constraints = [1]\n[parameters]\nx = [1]\n' + RUNNER, "constraint 1 must be a string"),
    ('parameters = 3\n' + RUNNER, "declares no parameters"),
    ('[parameters]\nx = [1]\n[derived]\n"bad name" = "x"\n' + RUNNER, "not an identifier"),
])
def test_spec_keys_are_schema_checked(tmp_path, body, what):
    p = tmp_path / "spec.toml"
    p.write_text(body)
    with pytest.raises(InputError) as e:
        load_spec(p)
    assert what in str(e.value) and str(e.value).startswith(str(p))


# ----------------------------------------------------------------- Kernel Tuner caches


def cache_dict():
    return {"tune_params_keys": ["a", "b"], "tune_params": {"a": [1, 2], "b": [3, 4]},
            "cache": {"1,3": {"a": 1, "b": 3, "time": 2.0}, "2,4": {"a": 2, "b": 4, "time": "RuntimeFailedConfig"}}}


def test_a_good_cache_loads_plain_and_gzipped(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cache_dict()))
    c = load_cache(p)
    assert c.n_valid == 1 and len(c.points) == 2
    g = tmp_path / "c.json.gz"
    g.write_bytes(gzip.compress(json.dumps(cache_dict()).encode()))
    assert load_cache(g).n_valid == 1


@pytest.mark.parametrize("mutate,what", [
    (lambda d: d.pop("cache"), "missing top-level key 'cache'"),
    (lambda d: d.update(tune_params_keys="a"), "tune_params_keys must be a list of parameter names"),
    (lambda d: d.update(tune_params={"a": [1, 2]}), "parameter 'b' has no values"),
    (lambda d: d.update(tune_params={"a": 5, "b": [3]}), "tune_params.a must be a list"),
    (lambda d: d.update(cache=[1, 2]), "cache must be an object"),
    (lambda d: d["cache"].update({"9,9": "x"}), "record '9,9' must be an object"),
    (lambda d: d["cache"]["1,3"].pop("b"), "record '1,3' lacks parameter 'b'"),
    (lambda d: d["cache"]["1,3"].update(a=[1]), "record '1,3', parameter 'a'"),
    (lambda d: d["cache"]["1,3"].update(a=7), "7 is not among tune_params.a"),
    (lambda d: d.update(cache={}), "holds no configurations"),
])
def test_bad_cache_structure_names_the_key(tmp_path, mutate, what):
    d = cache_dict()
    mutate(d)
    p = tmp_path / "c.json"
    p.write_text(json.dumps(d))
    with pytest.raises(InputError) as e:
        load_cache(p)
    assert what in str(e.value) and str(p) in str(e.value)


@pytest.mark.parametrize("raw,shown", [
    # issue 10 fuzz findings: each of these was read silently as a failed configuration
    ("NaN", "NaN"), ("null", "null"), ("-5", "-5"), ("0", "0"), ("Infinity", "Infinity"),
    ("-Infinity", "-Infinity"), ("1e999", "Infinity"), ('"abc"', '"abc"'), ("true", "true"), ("[1.5]", "[1.5]"),
    ('"runtimefailedconfig"', '"runtimefailedconfig"'), ("1" + "0" * 400, "1000000000"),
])
def test_a_record_time_is_a_positive_finite_number_or_a_kernel_tuner_failure(tmp_path, raw, shown):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cache_dict()).replace('"RuntimeFailedConfig"', raw))
    with pytest.raises(InputError) as e:
        load_cache(p)
    assert e.value.field == "cache.2,4.time" and e.value.source == str(p)
    assert f"record '2,4': time is {shown}" in e.value.reason
    assert "'InvalidConfig'" in e.value.reason and "positive finite" in e.value.reason


def test_missing_objective_and_other_objectives_are_checked(tmp_path):
    d = cache_dict()
    del d["cache"]["1,3"]["time"]
    p = tmp_path / "c.json"
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match="record '1,3': time is missing") as e:
        load_cache(p)
    assert e.value.field == "cache.1,3.time"
    # another objective (GFLOP/s) need not be positive, only finite
    d = cache_dict()
    d["cache"]["1,3"]["gflops"], d["cache"]["2,4"]["gflops"] = -2.5, "InvalidConfig"
    p.write_text(json.dumps(d))
    c = load_cache(p, objective="gflops")
    assert c.values[0] == -2.5 and np.isnan(c.values[1]) and c.statuses[1].name == "INVALID"
    d["cache"]["1,3"]["gflops"] = float("nan")
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match="gflops is NaN; allowed: a finite number of gflops"):
        load_cache(p, objective="gflops")


def test_each_failure_string_kernel_tuner_writes_keeps_its_status(tmp_path):
    d = cache_dict()
    d["tune_params"]["a"] = [1, 2, 3, 4]
    d["cache"] = {f"{a},3": {"a": a, "b": 3, "time": t} for a, t in
                  [(1, 0.25), (2, "InvalidConfig"), (3, "CompilationFailedConfig"), (4, "RuntimeFailedConfig")]}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(d))
    c = load_cache(p)
    assert [s.name for s in c.statuses] == ["OK", "INVALID", "COMPILE_ERROR", "RUNTIME_ERROR"]
    assert c.summary()["valid"] == 1 and c.summary()["failed"] == 3


def test_an_integer_beyond_python_s_digit_limit_is_a_clean_error(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cache_dict()).replace("2.0", "1" * 5000))
    with pytest.raises(InputError, match="4300 digits") as e:
        load_cache(p)
    assert e.value.source == str(p)
    p.write_text(json.dumps(cache_dict()).replace("2.0", "1" * 5000)[:-3])  # unfinished, as Kernel Tuner leaves it
    with pytest.raises(InputError):
        load_cache(p)


def test_cache_json_errors_give_line_and_column_and_damaged_gzip_is_clean(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{\n  "tune_params_keys": ["a"],\n  "tune_params": {"a": [1,, 2]}\n}\n')
    with pytest.raises(InputError) as e:
        load_cache(p)
    assert str(e.value).startswith(f"{p} line 3") and "column" in str(e.value)
    g = tmp_path / "c.json.gz"
    g.write_bytes(gzip.compress(json.dumps(cache_dict()).encode())[:-12])
    with pytest.raises(InputError, match="gzip"):
        load_cache(g)
    b = tmp_path / "b.json"
    b.write_bytes(b'{"tune_params_keys": ["a"], "x": "\xff\xfe"}')
    with pytest.raises(InputError, match="missing top-level key 'tune_params'"):
        load_cache(b)
    n = tmp_path / "n.json"
    n.write_text("[1, 2]")
    with pytest.raises(InputError, match="must be a JSON object"):
        load_cache(n)


_ATOMS = st.sampled_from(["a", "b", "c", "0", "1", "2", "3", "9", "40", "62", "-1", "0.5", "1e308", "'x'"])
_EXPRS = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=", " and ",
                                          " or "]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"(not {x})"), inner.map(lambda x: f"(-{x})"),
        st.tuples(st.sampled_from(["abs", "log2", "sqrt", "ceil", "floor"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    ),
    max_leaves=12,
)


@settings(max_examples=120, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(_EXPRS)
def test_random_well_formed_constraints_agree_point_wise_or_fail_cleanly(text):
    check_constraint_text(text)


# ----------------------------------------------------------------- mutated real files


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for kind, pos, byte in edits:
        if not b:
            break
        i = pos % len(b)
        if kind == 0:
            b[i] = byte
        elif kind == 1:
            b.insert(i, byte)
        else:
            del b[i]
    return bytes(b)


_EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=6)


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_EDITS)
def test_mutated_bundled_specs_load_or_fail_with_one_input_error(tmp_path, edits):
    base = example_path("matmul")
    p = tmp_path / "matmul.toml"
    (tmp_path / "matmul.c").write_bytes((base.parent / "matmul.c").read_bytes())
    p.write_bytes(_mutate(base.read_bytes(), edits))
    try:
        sp = load_spec(p)
    except InputError as exc:
        assert str(exc).startswith(str(p)), str(exc)
        return
    sp.space.size_report()


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_EDITS)
def test_mutated_caches_load_or_fail_with_one_input_error(tmp_path, edits):
    d = cache_dict()
    d["cache"].update({"1,4": {"a": 1, "b": 4, "time": 1.5}, "2,3": {"a": 2, "b": 3, "time": 0.5}})
    p = tmp_path / "c.json"
    p.write_bytes(_mutate(json.dumps(d, indent=1).encode(), edits))
    try:
        c = load_cache(p)
    except InputError as exc:
        assert str(p) in str(exc)
        return
    c.summary()


def test_one_point_is_computed_with_the_column_type_of_the_whole_space():
    # u's column is float (2 and 2.5): 2 ** 100 is a float power there, not an integer overflow
    s = SearchSpace([Ordinal("u", (2, 2.5)), Integer("k", 0, 1)], ["u ** 100 > 0"])
    assert len(s.valid_points()) == 4 and s.is_valid({"u": 2, "k": 0})
    m = SearchSpace([Categorical("c", (0, "x"))], ["c == 0"])
    assert m.valid_points() == [(0,)] and m.is_valid({"c": 0}) and not m.is_valid({"c": "x"})


def test_integer_to_a_negative_power_is_refused_and_a_float_base_works():
    with pytest.raises(InputError, match=r"negative power at \{'a': -3"):
        small_space(["2 ** a > 0"]).valid_points()
    s = small_space(["2.0 ** a >= 0.5", "b ** 2 <= 9"])
    assert len(s.valid_points()) == 10 * 4 * 2  # a in -1..8, b in 0..3, c in {0, 1}
    assert s.is_valid({"a": -1, "b": 3, "c": 0}) and not s.is_valid({"a": -2, "b": 0, "c": 0})


# ----------------------------------------------------------------- the fuzz oracle agrees with the readers

_JSON_VALUES = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"1e308", b"-5", b"0", b"0.5", str(2 ** 70).encode(),
                b'"abc"', b"null", b"true", b'"InvalidConfig"', b'"CompilationFailedConfig"', b'"RuntimeFailedConfig"']


@pytest.mark.parametrize("raw", _JSON_VALUES)
def test_the_fuzz_oracle_for_record_times_is_what_load_cache_accepts(tmp_path, raw):
    from hpcopt.testing.fuzz_targets import _kt_time

    p = tmp_path / "c.json"
    p.write_text(json.dumps(cache_dict()).replace('"RuntimeFailedConfig"', raw.decode()))
    try:
        load_cache(p)
        accepted = True
    except InputError:
        accepted = False
    assert accepted == _kt_time(raw)


@pytest.mark.parametrize("raw", [b"-5", b"1e308", b"7", b"0", b"1e999", b"2.5", b"inf", b"nan", b"abc", b"",
                                 str(2 ** 70).encode(), b"9" * 400])
def test_the_fuzz_oracle_for_a_replaced_constraint_is_what_load_spec_accepts(tmp_path, raw):
    from hpcopt.testing.fuzz_targets import _constraint_number

    base = example_path("stencil")
    for f in base.parent.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    text = base.read_bytes()
    i = text.index(b"TIME_BLOCK * 3 * 2")
    j = text.index(b'"', i)
    (tmp_path / base.name).write_bytes(text[:i] + raw + text[j:])
    try:
        load_spec(tmp_path / base.name)
        accepted = True
    except InputError as exc:
        accepted = False
        # 0 is a valid expression that keeps no point: the error says the space is empty
        assert raw != b"0" or "empty space" in str(exc)
    assert accepted == (_constraint_number(raw) and raw != b"0")
