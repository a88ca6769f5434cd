"""The CLI is a thin layer: one `RunOptions` per run, recorded in config.json and returned by
`runs.resume`; option choices come from the code's own tables, without loading TensorFlow."""
import dataclasses
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import analysis.explanations
import cli
import pipelines
from pipelines.core import runs
from pipelines.engine import distribute
from pipelines.extensions import attacks
from project import ROOT

OLD_RUN = ROOT / "tests" / "fixtures" / "digits_0_1" / "run"


@pytest.fixture
def interrupted(tmp_path):
    """A run folder as 0.1.0 left it before training ended: its config.json only."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = json.loads((OLD_RUN / "config.json").read_text())
    record.update(data="bundled", test_data=None, data_dir="tfds-here", recipe="digits-bundled", jit=True)
    (run_dir / "config.json").write_text(json.dumps(record))
    return run_dir


def test_the_record_keeps_the_options_as_0_1_wrote_them():
    record = json.loads((OLD_RUN / "config.json").read_text())
    options = runs.RunOptions(data=None, run_dir="elsewhere", strategy="mirrored")
    assert set(options.record()) <= set(record)
    assert {key: record[key] for key in options.record()} == options.record()  # bundled, no recipe, no XLA ...


def test_resume_returns_the_recorded_options_under_the_given_ones(interrupted):
    given = runs.RunOptions(run_dir=str(interrupted), resume=True, mixed_precision=True, strategy="default")
    options, config = runs.resume(given, "digits")
    assert (options.data, options.test_data, options.data_dir, options.recipe) == ("bundled", None, "tfds-here",
                                                                                  "digits-bundled")
    assert options.jit and options.mixed_precision  # recorded XLA kept, mixed precision switched on
    assert (options.run_dir, options.resume, options.strategy) == (str(interrupted), True, "default")
    assert tuple(config.filters) == (4, 8) and config.epochs == 1
    other = runs.resume(dataclasses.replace(given, data="tfds:mnist"), "digits")[0]
    assert other.data == "tfds:mnist"


def test_resume_refuses_by_name(interrupted, tmp_path):
    with pytest.raises(ValueError, match=f"^{interrupted}: is a run of digits, not objects$"):
        runs.resume(runs.RunOptions(run_dir=str(interrupted), resume=True), "objects")
    with pytest.raises(ValueError, match="--resume needs the --out \\(run folder\\) of the interrupted run"):
        runs.resume(runs.RunOptions(resume=True), "digits")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        runs.resume(runs.RunOptions(run_dir=str(tmp_path / "none"), resume=True), "digits")


def _help(*command):
    result = CliRunner().invoke(cli.main, [*command, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    return result.output


def test_choices_come_from_the_code_tables():
    train = _help("train")
    assert all(name in train for name in pipelines.names())
    assert "|".join(distribute.STRATEGIES) in train
    assert "|".join(analysis.explanations.METHODS) in _help("explain")
    attack = _help("attack")
    assert "|".join(attacks.METHODS) in attack and "|".join(attacks.NORMS) in attack
    for command in ("evaluate", "attack", "train"):
        assert "--data SOURCE" in _help(command) and "--data-dir" in _help(command)
    for command in ("export", "ensemble"):  # the export root is their main output: --out (docs/cli.md)
        assert "--out ROOT" in _help(command) and "--export-dir" not in _help(command)
    assert "--export-dir ROOT" in train and "--out RUN" in train
    result = CliRunner().invoke(cli.main, ["train", "spreadsheets"])
    assert result.exit_code == 2
    assert f"unknown pipeline 'spreadsheets' (known: {', '.join(pipelines.names())})" in result.output


def test_help_loads_no_tensorflow(tmp_path):
    probe = ("import sys, cli\n"
             "for command in ([], ['train'], ['attack'], ['explain'], ['recipes']):\n"
             "    try:\n"
             "        cli.main([*command, '--help'])\n"
             "    except SystemExit:\n"
             "        pass\n"
             "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("TF False False"), done.stdout[-300:]


def test_old_option_spellings_still_train(tmp_path):
    """--recipe, --set with an extension's flat name and --resume's record: a run records them."""
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli.main, [
        "train", "digits", "--recipe", "digits-bundled", "--epochs", "1", "--set", "image_size=8",
        "--set", "filters=4,4,4", "--set", "dense_units=8", "--set", "ema_momentum=0.5", "--run-dir", str(run_dir),
        "--export-dir", str(tmp_path / "exports")])
    assert result.exit_code == 0, result.output
    record = json.loads((run_dir / "config.json").read_text())
    assert record["recipe"] == "digits-bundled" and record["data"] == "bundled" and record["jit"] is False
    assert record["config"]["ema"] == {"momentum": 0.5}
    assert record["export"] == str(tmp_path / "exports" / "digits" / "1")
    assert {"config.json", "model.keras", "metrics.json", "report.html", "history.csv"} <= {
        path.name for path in run_dir.iterdir()}
