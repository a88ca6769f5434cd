"""bench/arguments.option: `--NAME=VALUE` typed by the default; a wrong value is one line."""
import pytest

from bench.arguments import option


def test_values_take_the_defaults_type():
    argv = ["--grid", "--epochs=12", "--minutes=2.5", "--only=Conv3D"]
    assert option(argv, "epochs", 40) == 12 and isinstance(option(argv, "epochs", 40), int)
    assert option(argv, "minutes", 30.0) == 2.5
    assert option(argv, "only", "") == "Conv3D"
    assert option(argv, "seed", 0) == 0  # not given: the default
    assert option(["--vocabulary=100"], "vocabulary", None) == "100"  # no default type: the text


def test_a_value_of_the_wrong_type_is_one_line():
    with pytest.raises(SystemExit) as stop:
        option(["--epochs=ten"], "epochs", 40)
    assert str(stop.value) == "--epochs=ten: expected int (as the default 40)."
