"""The shipped conformance checks are importable from hpcopt.testing, lazily."""

import subprocess
import sys

import pytest

import hpcopt.testing as testing


@pytest.mark.parametrize("name", testing.__all__)
def test_each_check_is_exported_from_its_module(name):
    import importlib

    importlib.import_module(f"hpcopt.testing.checks.{name.removeprefix('check_')}")  # as other tests do
    fn = getattr(testing, name)
    assert callable(fn) and fn.__module__ == f"hpcopt.testing.checks.{name.removeprefix('check_')}" and fn.__doc__


def test_importing_one_check_does_not_import_the_other_capabilities():
    code = ("import sys; from hpcopt.testing import check_policy; "
            "print(any(m.startswith(('hpcopt.tune', 'hpcopt.detect', 'torch')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="check_nothing"):
        testing.check_nothing  # noqa: B018
