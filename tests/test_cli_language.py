"""One language across commands (issue 27, items 6 and 7): `--out` for every command's main output
with the old names kept as unlisted aliases, `--version-label` for version labels, an example in
every `--help`, and `cnn evaluate RUN` on the run's recorded test split without --data."""
import json
import re
import shutil

import pytest
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from project import ROOT

OLD = ROOT / "tests" / "fixtures" / "digits_0_1"
RUN, EXPORT = OLD / "run", OLD / "export" / "digits" / "1"
OLD_NAMES = {"train": "--run-dir", "export": "--export-dir", "ensemble": "--export-dir",
             "serving-config": "--output-dir"}


def help_of(command):
    result = CliRunner().invoke(cli.main, [command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", sorted(cli.main.commands))
def test_every_help_has_an_example_that_runs_this_command(command):
    text = help_of(command)
    heading = re.search(r"^  Examples?:\n((?:    cnn .+\n)+)", text, re.MULTILINE)
    assert heading, text
    for line in heading.group(1).splitlines():
        assert line.split()[:2] == ["cnn", command], line


@pytest.mark.parametrize("command", ["train", "export", "ensemble", "serving-config", "attack", "explain", "visualize"])
def test_the_main_output_is_out_and_the_old_names_are_not_listed(command):
    text = help_of(command)
    assert re.search(r"^  --out \w+", text, re.MULTILINE), text
    if command in OLD_NAMES:
        assert OLD_NAMES[command] not in text.replace("--export-dir ROOT", "") or command == "train"
    assert "--output-dir" not in text and "--run-dir" not in text


@pytest.mark.parametrize("option", ["--out", "--run-dir"])
def test_train_takes_its_run_folder_by_either_name(tmp_path, option):
    missing = tmp_path / "missing"
    assert one_line_error(["train", "digits", option, str(missing), "--resume"]) == \
        f"Error: {missing}: not a run folder (no config.json)"


@pytest.mark.parametrize("option", ["--out", "--export-dir"])
def test_export_writes_into_the_root_given_by_either_name(tmp_path, option):
    run = shutil.copytree(RUN, tmp_path / "run")  # export records itself in the run folder: not in the fixture
    result = CliRunner().invoke(cli.main, ["export", str(run), option, str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"SavedModel: {tmp_path / 'models' / 'digits' / '1'}"
    assert (tmp_path / "models" / "digits" / "1" / "saved_model.pb").is_file()


@pytest.mark.parametrize("out, label", [("--out", "--version-label"), ("--output-dir", "--label")])
def test_serving_config_takes_its_folder_and_labels_by_either_name(tmp_path, out, label):
    root = tmp_path / "models"
    shutil.copytree(EXPORT, root / "digits" / "1")
    result = CliRunner().invoke(cli.main, ["serving-config", str(root), out, str(tmp_path / "conf"),
                                           label, "digits:stable=1"])
    assert result.exit_code == 0, result.output
    config = (tmp_path / "conf" / "models.config").read_text()
    assert "stable" in config and not (root / "models.config").exists()
    assert "--version-label 'nolabel': expected MODEL:LABEL=VERSION" in one_line_error(
        ["serving-config", str(root), out, str(tmp_path / "conf2"), label, "nolabel"])


def test_evaluate_without_data_uses_the_runs_recorded_test_split():
    """The 0.1.0 run's test split is bundled digits' given test split: the metrics it recorded."""
    result = CliRunner().invoke(cli.main, ["evaluate", str(RUN)])
    assert result.exit_code == 0, result.output
    recorded = json.loads((RUN / "metrics.json").read_text())
    lines = result.output.splitlines()
    assert lines[0] == "data: the run's test split, given split bundled sklearn digits (test, 25% stratified, seed 0)"
    assert f"examples={recorded['examples']}" in lines[-1]
    accuracy = float(re.search(r"accuracy=([0-9.]+)", lines[-1]).group(1))
    assert abs(accuracy - recorded["accuracy"]) <= 3 / 450


def test_evaluate_without_data_uses_a_hold_out_as_the_run_made_it(tmp_path):
    """A run whose test split was a seeded hold-out: the same examples again (evaluation.evaluate)."""
    from analysis import evaluation
    from pipelines.core import runs

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    record = runs.read_record(run)
    record["data"] = str(tmp_path / "digits.npz")
    import numpy as np
    from datasets.synthetic import bundled_digits

    train = bundled_digits.load().splits["train"]
    np.savez(tmp_path / "digits.npz", x_train=train.inputs[:200], y_train=train.labels[:200])
    runs.write_record(run, record)
    metrics = evaluation.evaluate(run)
    assert metrics["split"] == "stratified hold-out of 0.2 (seed 0)"
    from datasets.examples import stratified_split

    _, held = stratified_split(train.labels[:200], 0.2, 0)  # the hold-out training made with seed 0
    assert metrics["examples"] == len(held) < 200


def test_an_export_without_its_run_folder_asks_for_data(tmp_path):
    export = tmp_path / "digits" / "1"
    shutil.copytree(EXPORT, export)
    metadata = export / "assets.extra" / "cnn_suite.json"
    record = json.loads(metadata.read_text())
    record["run_dir"] = str(tmp_path / "gone")
    metadata.write_text(json.dumps(record))
    assert one_line_error(["evaluate", str(export)]) == (
        f"Error: {export}: this export records no data source (its run folder is not here); pass --data SOURCE")
