import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.errors import InputError
from hpcopt.tune.space import (
    Categorical,
    Integer,
    Ordinal,
    PowerOfTwo,
    Real,
    SearchSpace,
    parameter_from_spec,
    space_from_dict,
)


def test_parameter_values():
    assert Integer("a", 2, 10, step=3).values() == [2, 5, 8]
    assert PowerOfTwo("t", 4, 64).values() == [4, 8, 16, 32, 64]
    assert Ordinal("u", (1, 2, 4)).values() == [1, 2, 4]
    assert Categorical("c", ("x", "y")).values() == ["x", "y"]
    with pytest.raises(InputError, match="not a power of two"):
        PowerOfTwo("t", 3, 64)
    with pytest.raises(InputError, match="below low"):
        Integer("a", 5, 1)
    with pytest.raises(InputError, match="cannot be enumerated"):
        Real("r", 0.0, 1.0).values()


def test_hand_counted_constraint():
    # tile_i, tile_j in {1, 2, 4, 8}; tile_i * tile_j <= 8: pairs (1,1..8)=4, (2,1..4)=3, (4,1..2)=2, (8,1)=1
    s = SearchSpace([PowerOfTwo("tile_i", 1, 8), PowerOfTwo("tile_j", 1, 8)], ["tile_i * tile_j <= 8"])
    rep = s.size_report()
    assert rep["cartesian_size"] == 16 and rep["valid"] == 10 and rep["exact"]
    assert (8, 1) in s.valid_points() and (8, 2) not in s.valid_points()


def test_modulo_constraint_and_derived_value():
    s = SearchSpace([Integer("tile", 1, 12)], ["48 % tile == 0"],
                    derived={"blocks": "48 // tile"})
    assert [p[0] for p in s.valid_points()] == [1, 2, 3, 4, 6, 8, 12]
    assert s.with_derived({"tile": 6})["blocks"] == 8
    s2 = SearchSpace([Integer("tile", 1, 12)], ["blocks >= 5"], derived={"blocks": "48 // tile"})
    assert [p[0] for p in s2.valid_points()] == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_unknown_name_in_constraint_is_a_clear_error():
    with pytest.raises(InputError) as e:
        SearchSpace([Integer("a", 1, 4)], ["a * b <= 4"])
    msg = str(e.value)
    assert "unknown parameter 'b'" in msg and "known names: a" in msg


@pytest.mark.parametrize("expr,what", [("__import__('os')", "not allowed"), ("a.real > 1", "unsupported"),
                                       ("a <= ", "not a valid expression"), ("[a][0] > 1", "unsupported")])
def test_unsafe_or_broken_expressions_are_rejected(expr, what):
    with pytest.raises(InputError, match=what):
        SearchSpace([Integer("a", 1, 4)], [expr])


def test_empty_space_and_duplicates():
    with pytest.raises(InputError, match="no parameters"):
        SearchSpace([])
    with pytest.raises(InputError, match="declared twice"):
        SearchSpace([Integer("a", 1, 2), Integer("a", 1, 3)])
    s = SearchSpace([Integer("a", 1, 4)], ["a > 10"])
    assert s.valid_points() == []
    with pytest.raises(InputError, match="no valid configuration"):
        s.sample_valid(np.random.default_rng(0))


def test_boolean_ops_ifexp_chained_compare_vectorised_like_scalar():
    s = SearchSpace([Integer("a", 0, 9), Integer("b", 0, 9)],
                    ["not (a == 3) and (a < b or b == 0)", "1 <= (a if a > b else b) < 8", "max(a, b) - min(a, b) != 2"])
    brute = [p for p in itertools.product(range(10), range(10)) if s.is_valid({"a": p[0], "b": p[1]})]
    assert s.valid_points() == brute
    assert len(brute) > 0


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 300), mod=st.integers(1, 7), hi=st.integers(2, 6))
def test_vectorised_enumeration_equals_pointwise(limit, mod, hi):
    s = SearchSpace([PowerOfTwo("x", 1, 2 ** hi), Integer("y", 1, 20, 3), Categorical("c", (0, 1))],
                    [f"x * y <= {limit}", f"(x + y + c) % {mod} != 0 or c == 1"])
    brute = [p for p in itertools.product(*(q.values() for q in s.parameters)) if s.is_valid(s.to_config(p))]
    assert s.valid_points() == brute
    assert s.size_report()["valid"] == len(brute)


def test_sampling_with_real_parameter_respects_constraints():
    s = SearchSpace([Real("r", 0.0, 1.0), Integer("k", 1, 4)], ["r * k < 1.0"])
    assert not s.enumerable() and math.isinf(s.cartesian_size())
    rng = np.random.default_rng(3)
    for _ in range(50):
        c = s.sample_valid(rng)
        assert c["r"] * c["k"] < 1.0
    rep = s.size_report()
    assert not rep["exact"] and 0.4 < rep["valid_fraction"] < 0.6  # exact value 25/48 ~ 0.52


def test_check_and_encode():
    s = SearchSpace([PowerOfTwo("t", 1, 8), Categorical("c", ("a", "b"))])
    assert s.check({"t": 4, "c": "b"}) == {"t": 4, "c": "b"}
    with pytest.raises(InputError, match="unknown parameter 'zz'"):
        s.check({"t": 4, "c": "b", "zz": 1})
    with pytest.raises(InputError, match="not a value"):
        s.check({"t": 3, "c": "b"})
    X = s.encode([{"t": 8, "c": "b"}])
    assert X.tolist() == [[3.0, 1.0]]


def test_round_trip_through_dict_and_spec_parsing():
    s = SearchSpace([parameter_from_spec("t", {"type": "pow2", "low": 2, "high": 16}),
                     parameter_from_spec("u", [1, 2, 4]),
                     parameter_from_spec("k", {"type": "int", "low": 0, "high": 6, "step": 2})], ["t * u <= 16"])
    s2 = space_from_dict(s.to_dict())
    assert s2.valid_points() == s.valid_points()
    with pytest.raises(InputError, match="unknown parameter type"):
        parameter_from_spec("z", {"type": "complex"})
