"""Unknown names get one line with the closest known name (issue 27, item 5), and user errors
never show a Python exception class."""
import pytest
from click.testing import CliRunner

import cli
from cli_errors import one_line_error


def _usage_error(args):
    """The `Error: ...` line of a click usage error (exit status 2)."""
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    return result.output.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [["train", "digit"], ["recipes", "digit"], ["pipelines", "digit"]])
def test_unknown_pipeline_suggests_the_closest(args):
    assert one_line_error(args) == "Error: unknown pipeline 'digit'; did you mean 'digits'?"


def test_unknown_pipeline_far_from_every_name_lists_them():
    line = _usage_error(["train", "zzzz"])
    assert line.endswith("unknown pipeline 'zzzz' (known: audio, digits, objects, segment, text, volumes)")


def test_unknown_set_key_suggests_the_closest_instead_of_listing_every_key(tmp_path):
    line = one_line_error(["train", "digits", "--set", "learning_rat=0.01", "--run-dir", str(tmp_path / "r")])
    assert line == "Error: unknown --set key 'learning_rat' for DigitsConfig; did you mean 'learning_rate'?"


def test_unknown_recipe_suggests_the_closest(tmp_path):
    line = one_line_error(["train", "digits", "--recipe", "mnist-robust-fats", "--run-dir", str(tmp_path / "r")])
    assert line == ("Error: unknown recipe 'mnist-robust-fats' (recipes of digits: digits-bundled, mnist, "
                    "mnist-robust, mnist-robust-fast; `cnn recipes` lists all); did you mean 'mnist-robust-fast'?")


@pytest.mark.parametrize("option, value, message", [
    ("--method", "pgdd", "Error: --method pgdd: unknown attack; did you mean 'pgd'?"),
    ("--norm", "info", "Error: --norm info: unknown norm; did you mean 'inf'?"),
])
def test_attack_free_text_options_suggest(tmp_path, option, value, message):
    assert one_line_error(["attack", str(tmp_path), "--data", "bundled", option, value]) == message


def test_explain_method_suggests(tmp_path):
    line = one_line_error(["explain", str(tmp_path), "x.png", "--method", "saliancy"])
    assert line == "Error: --method saliancy: unknown method; did you mean 'saliency'?"


def test_unknown_zoo_network_suggests_the_closest():
    assert one_line_error(["zoo", "resnt50"]) == "Error: unknown network 'resnt50'; did you mean 'resnet50'?"


def test_user_errors_show_the_message_without_the_exception_class():
    assert cli._user_error_message(ValueError("--set x=1: bad")) == "--set x=1: bad"
    assert cli._user_error_message(FileNotFoundError("run: no config.json")) == "run: no config.json"
    assert cli._user_error_message(TypeError("a bug")) is None  # programming errors keep their traceback
