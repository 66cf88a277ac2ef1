"""The one derivation every face uses: a task's parameters model, path roles and Result model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pytest
from pydantic import ValidationError

from hpcopt.core.tasks import task
from hpcopt.errors import ConfigError
from hpcopt.faces.paths import PathRefused, check_paths
from hpcopt.faces.schema import parameters_model, path_parameters, task_schema


class _Thing:  # an in-process object: no JSON form
    pass


@task("testing.faces_all", inputs=("data",), outputs=("out",))
def _all(data: str | Path, how: Literal["sum", "max"] = "sum", scale: float = 1.0, tags: tuple[str, ...] = ("a",),
         out: str | Path | None = None, scratch: Path | None = None, schema: str = "x", thing: _Thing | None = None,
         seed: int = 0, progress=None) -> dict:
    """Combine numbers.

    how: which combination.
    scale: a factor applied
            to the result.
    """
    return {"n": 1}


@task("testing.faces_needs_object", seed=None)
def _needs(thing: _Thing) -> dict:
    """Needs an object."""
    return {}


SPEC = _all


def test_parameter_fields_types_defaults_descriptions():
    s = parameters_model(SPEC).model_json_schema()
    props = s["properties"]
    assert s["required"] == ["data"] and s["additionalProperties"] is False
    assert list(props) == ["data", "how", "scale", "tags", "out", "scratch", "schema", "seed"]  # no progress, thing
    assert props["data"] == {"type": "string", "title": "Data", "description": props["data"]["description"]}
    assert "SHA-256" in props["data"]["description"] and "artifact" in props["out"]["description"]
    assert props["how"]["enum"] == ["sum", "max"] and props["how"]["description"] == "which combination."
    assert props["scale"]["description"] == "a factor applied to the result."  # continuation line joined
    assert props["tags"]["default"] == ["a"]  # a tuple default as JSON
    assert "replayed" in props["seed"]["description"]
    assert task_schema(SPEC).hidden == {"thing": "_Thing | None"}


def test_validation_refuses_unknown_keys_bad_types_and_non_finite_numbers():
    m = parameters_model(SPEC)
    ok = m.model_validate({"data": "d.txt", "schema": "y", "how": "max"})
    assert ok.model_dump(by_alias=True, exclude_unset=True) == {"data": "d.txt", "schema": "y", "how": "max"}
    for bad in ({"data": "d", "dat": 1}, {"data": 5}, {"data": "d", "how": "mean"}, {"data": "d", "scale": math.nan},
                {"data": "d", "scale": math.inf}, {"data": "d", "thing": {}}, {}):
        with pytest.raises(ValidationError):
            m.model_validate(bad)


def test_path_roles_and_their_check(tmp_path):
    assert path_parameters(SPEC) == {"data": "input", "out": "output", "scratch": "output"}  # scratch: a Path
    (tmp_path / "d.txt").write_text("1")
    got = check_paths({"data": "d.txt", "scratch": "new/x", "how": "sum"}, path_parameters(SPEC), (tmp_path,))
    assert got == {"data": str(tmp_path / "d.txt"), "scratch": str(tmp_path / "new" / "x"), "how": "sum"}
    with pytest.raises(PathRefused):
        check_paths({"data": "d.txt", "out": "../x"}, path_parameters(SPEC), (tmp_path,))


def test_derived_once_per_task_and_anew_for_a_re_registered_one():
    assert task_schema(SPEC) is task_schema(SPEC) and parameters_model(SPEC) is parameters_model(SPEC)

    @task("testing.faces_all", seed=None)
    def again(x: int = 1) -> dict:
        """Replaces the first."""
        return {}

    assert list(parameters_model(again).model_fields) == ["x"] and parameters_model(SPEC) is not parameters_model(again)


def test_result_model_is_the_result_shape():
    s = task_schema(SPEC).result_model.model_json_schema()
    assert s["properties"]["schema"]["const"] == "testing.faces_all/1"
    assert s["properties"]["payload"]["type"] == "object" and set(s["required"]) >= {"schema", "payload"}


def test_a_required_object_parameter_makes_the_task_unservable():
    sch = task_schema(_needs)
    assert sch.unusable == {"thing": "_Thing"} and "no JSON form" in sch.refusal
    with pytest.raises(ConfigError, match="required parameter 'thing'"):
        parameters_model(_needs)
    assert task_schema(SPEC).refusal is None
