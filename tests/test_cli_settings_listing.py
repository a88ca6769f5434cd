"""`cnn pipelines` is one line per pipeline; `cnn pipelines NAME` shows one setting per line, its
default as `--set` takes it back, its range and its comment (issue 27, item 7)."""
import dataclasses

import pytest
from click.testing import CliRunner

import cli
import pipelines
from pipelines.core import config as configs
from pipelines.core import setting_docs


def _cnn(*args):
    result = CliRunner().invoke(cli.main, list(args))
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_pipelines_is_one_short_line_per_pipeline():
    lines = _cnn("pipelines")
    names = pipelines.names()
    assert [line.split()[0] for line in lines[:len(names)]] == names
    assert lines[len(names):] == ["`cnn pipelines NAME` shows a pipeline's sources and settings."]
    assert all(len(line) <= 100 for line in lines), lines


def test_pipeline_settings_one_per_line_in_set_syntax_with_range_and_meaning():
    lines = _cnn("pipelines", "digits")
    assert lines[0].startswith("digits: handwritten digits") and "tfds:mnist" in lines[2]
    settings_lines = {line.split()[0].split("=")[0]: line for line in lines[4:]}
    assert settings_lines["filters"].split() == ["filters=32,64,128", ">", "0", "lecun1989:", "one", "strided",
                                                 "5x5", "convolution", "each"]
    assert settings_lines["network"].split()[0] == "network=lecun1989"
    assert settings_lines["dropout"].split() == ["dropout=0.3", "in", "[0,", "1)"]  # no comment: no meaning
    assert settings_lines["augment_flip"].split()[0] == "augment_flip=false"
    assert settings_lines["validation_fraction"].endswith("in [0, 1)          held out of training for "
                                                          "validation; 0 = none")
    assert settings_lines["fine_tune_factor"].split()[1:] == [">", "0", "and", "in", "[0,", "1]"]
    assert settings_lines["adversarial_epsilon"].split()[:3] == ["adversarial_epsilon=0.0", ">=", "0"]
    defaults = configs.option_names(pipelines.get("digits").Config)
    assert sorted(settings_lines) == sorted(defaults)  # every --set key, once
    assert not any("(" in line.split()[0] for line in lines[4:])  # no Python tuple reprs


@pytest.mark.parametrize("name", pipelines.names())
def test_every_default_round_trips_through_set(name):
    """What `cnn pipelines NAME` prints as KEY=VALUE, given back to --set, is the default config."""
    config_class = pipelines.get(name).Config
    defaults = config_class()
    printed = _cnn("pipelines", name)
    rows = setting_docs.rows(defaults)
    assignments = [f"{key}={value}" for key, value, _, _ in rows]
    for assignment in assignments:
        assert any(line.split()[0] == assignment for line in printed), assignment
    assert dataclasses.asdict(configs.override(defaults, assignments)) == dataclasses.asdict(defaults)


def test_set_syntax_values():
    assert setting_docs.as_set_value((32, 64, 128)) == "32,64,128"
    assert setting_docs.as_set_value(()) == ""
    assert setting_docs.as_set_value(True) == "true"
    assert setting_docs.as_set_value(0.001) == "0.001"
