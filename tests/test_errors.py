import pytest

from hpcopt.errors import HpcoptError, InputError


def test_input_error_names_file_line_and_field():
    err = InputError("'abc' is not a number", source="trace.swf", line=4123, field="field 5 (allocated processors)")
    assert str(err) == "trace.swf line 4123, field 5 (allocated processors): 'abc' is not a number"
    assert isinstance(err, ValueError) and isinstance(err, HpcoptError)


def test_input_error_without_location_is_just_the_message():
    assert str(InputError("empty trace", hint="give a file with at least one job")) == (
        "empty trace (give a file with at least one job)"
    )
    with pytest.raises(ValueError):
        raise InputError("x")
