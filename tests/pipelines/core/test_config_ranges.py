"""Every number a user can give is range-checked in the config layer, for every pipeline: one
line naming the option and what is wrong, before any run folder is made or data read."""
import pytest

import pipelines
from cli_errors import one_line_error
from pipelines.core import config as configs


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs=0: must be greater than 0"),
    (["--batch-size", "0"], "--batch-size=0: must be greater than 0"),
    (["--batch-size", "-3"], "--batch-size=-3: must be greater than 0"),
    (["--seed", "-1"], "--seed=-1: must not be negative"),
    (["--set", "learning_rate=nan"], "--set learning_rate=nan: must be a finite number"),
    (["--set", "learning_rate=-0.1"], "--set learning_rate=-0.1: must be greater than 0"),
    (["--set", "learning_rate=inf"], "--set learning_rate=inf: must be a finite number"),
    (["--set", "test_fraction=-0.2"], "--set test_fraction=-0.2: must be in [0, 1)"),
    (["--set", "validation_fraction=1"], "--set validation_fraction=1.0: must be in [0, 1)"),
    (["--set", "test_fraction=0.5", "--set", "validation_fraction=0.5"], "together they must be less than 1"),
    (["--set", "dropout=1.5"], "--set dropout=1.5: must be in [0, 1)"),
    (["--set", "image_size=0"], "--set image_size=0: must be greater than 0"),
    (["--set", "filters=32,0"], "--set filters=32,0: must be greater than 0"),
    (["--set", "augment_shift=-2"], "--set augment_shift=-2: must not be negative"),
])
def test_out_of_range_numbers_are_one_line_naming_the_option(tmp_path, args, message):
    run_dir = tmp_path / "run"
    line = one_line_error(["train", "digits", *args, "--run-dir", str(run_dir),
                           "--export-dir", str(tmp_path / "exports")])
    assert line == f"Error: {message}" or message in line, line
    assert not run_dir.exists() and not (tmp_path / "exports").exists()


@pytest.mark.parametrize("name", ["audio", "digits", "objects", "segment", "text", "volumes"])
def test_every_pipeline_checks_its_numbers(name):
    config = pipelines.get(name).Config()
    for assignment in ("epochs=0", "learning_rate=nan", "batch_size=-1", "test_fraction=1"):
        with pytest.raises(ValueError, match=assignment.split("=")[0].replace("_", "[-_]")):
            configs.override(config, [assignment])


def test_a_resumed_record_is_checked_too():
    with pytest.raises(ValueError, match="--epochs=0: must be greater than 0"):
        configs.from_dict(pipelines.get("digits").Config, {"epochs": 0})
