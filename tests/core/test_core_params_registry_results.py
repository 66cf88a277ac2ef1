"""hpcopt.core: parameter validation, get/set/clone, registries, results and provenance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpcopt.core.params import Interval, Options, ParamsMixin, clone, validate_params
from hpcopt.core.provenance import file_sha256, version_record
from hpcopt.core.registry import Registry, did_you_mean
from hpcopt.core.results import Provenance, Result, json_safe
from hpcopt.errors import ConfigError, InputError, MissingDependencyError


class Toy(ParamsMixin):
    _parameter_constraints = {
        "window": [Interval(int, 1, None)],
        "rate": [Interval(float, 0, 1, closed="neither")],
        "threshold": [Options("pot", "far")],
        "random_state": [None, int],
    }

    def __init__(self, window=5, rate=0.1, threshold="pot", random_state=0):
        self.window = window
        self.rate = rate
        self.threshold = threshold
        self.random_state = random_state

    def fit(self):
        validate_params(self)
        self.fitted_ = True
        return self


def test_messages_have_scikit_learn_shape():
    with pytest.raises(ConfigError) as e:
        Toy(window=0).fit()
    assert str(e.value) == "The 'window' parameter of Toy must be an int in the range [1, inf); got 0 instead."
    with pytest.raises(ConfigError, match=r"'rate' parameter of Toy must be a float in the range \(0, 1\); got 1"):
        Toy(rate=1.0).fit()
    with pytest.raises(ConfigError, match="must be one of 'pot', 'far'; got 'fra' instead"):
        Toy(threshold="fra").fit()
    with pytest.raises(ConfigError, match="must be None or an int; got 'x' instead"):
        Toy(random_state="x").fit()
    with pytest.raises(ConfigError):
        Toy(window=True).fit()  # a bool is not an int here
    with pytest.raises(ConfigError):
        Toy(rate=float("nan")).fit()
    Toy(window=np.int64(3), rate=np.float32(0.5)).fit()


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_interval_agrees_with_arithmetic(x):
    iv = Interval(float, 0, 1, closed="left")
    assert iv.accepts(x) == (math.isfinite(x) and 0 <= x < 1)


def test_get_set_clone_and_repr():
    t = Toy(window=7).fit()
    assert t.get_params() == {"window": 7, "rate": 0.1, "threshold": "pot", "random_state": 0}
    c = clone(t, rate=0.2)
    assert c.get_params()["rate"] == 0.2 and c.window == 7 and not hasattr(c, "fitted_")
    assert t.set_params(window=9) is t and t.window == 9
    with pytest.raises(ConfigError, match="has no parameter 'windw'; did you mean 'window'?"):
        t.set_params(windw=3)
    assert repr(Toy()) == "Toy(window=5, rate=0.1, threshold='pot', random_state=0)"


def test_registry_lists_suggests_and_refuses_duplicates():
    reg: Registry = Registry("detector", load_plugins=False)
    reg.register("mad", Toy, help="median absolute deviation")

    @reg.register("pca")
    class P(Toy):
        """principal components"""

    assert reg.names() == ["mad", "pca"] and "mad" in reg and len(reg) == 2
    assert reg.describe() == {"mad": "median absolute deviation", "pca": "principal components"}
    assert isinstance(reg.create("mad", window=2), Toy)
    with pytest.raises(ConfigError, match=r"unknown detector 'mda'; did you mean 'mad'\?; choose one of: mad, pca"):
        reg.get("mda")
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("mad", Toy)
    assert did_you_mean("zzz", ["mad"]) == ""


def test_result_round_trip_and_json_safety(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("abc")
    prov = Provenance.start(parameters={"order": "sjf"}, inputs={"trace": f}, seed=3).finish()
    r = Result("schedule.simulate", 1, {"wait": np.float64(1.5), "bad": float("nan"), "a": np.arange(3)}, prov)
    d = json.loads(r.to_json())
    assert d["schema"] == "schedule.simulate/1" and d["payload"] == {"wait": 1.5, "bad": None, "a": [0, 1, 2]}
    assert d["provenance"]["inputs"]["trace"] == file_sha256(f)
    assert d["provenance"]["inputs"]["trace"].startswith("ba7816bf")  # SHA-256 of 'abc'
    assert d["provenance"]["seed"] == 3 and d["provenance"]["finished_at"] >= d["provenance"]["started_at"]
    back = Result.from_dict(d, expect="schedule.simulate")
    assert back.to_dict() == d
    with pytest.raises(InputError, match="expected a 'detect.evaluate' result"):
        Result.from_dict(d, expect="detect.evaluate")
    with pytest.raises(InputError):
        Result.from_dict({"schema": "x"})
    assert json_safe({1: (np.int32(2), float("inf"))}) == {"1": [2, None]}


def test_version_record_and_optional_imports():
    v = version_record("numba", "no_such_module_xyz")
    assert {"python", "hpcopt", "numpy", "pandas", "numba"} <= set(v) and "no_such_module_xyz" not in v
    from hpcopt.core.optional import require

    with pytest.raises(MissingDependencyError, match=r"pip install 'hpcopt\[detect\]'"):
        require("torch.no_such_submodule")
