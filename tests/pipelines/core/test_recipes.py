"""Named recipes: every one parses against its pipeline's config and quotes only numbers that
docs/BENCHMARKS.md records; `--recipe` sits under --epochs/--set; wrong names are one-line
errors; `cnn recipes` answers without TensorFlow."""
import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cli
import pipelines
from pipelines.core import config as configs
from pipelines.core import recipes
from project import ROOT

RECIPES = recipes.every()


def test_every_pipeline_has_recipes_and_names_are_unique():
    assert set(pipelines.RECIPE_MODULES) == set(pipelines.MODULES)
    assert all(recipes.for_pipeline(name) for name in pipelines.MODULES)
    names = [recipe.name for recipe in RECIPES]
    assert len(names) == len(set(names))
    assert {"mnist", "cifar10-resnet", "cifar10-alexnet", "fsdd", "sst2", "adrenalmnist3d",
            "hippocampus"} <= set(names)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda recipe: recipe.name)
def test_recipe_settings_parse_against_its_pipeline_config(recipe):
    cls = pipelines.get(recipe.pipeline)
    configs.override(cls.Config(), recipe.settings)  # unknown keys and bad values raise
    assert recipe.data


@pytest.mark.parametrize("recipe", [r for r in RECIPES if r.result], ids=lambda recipe: recipe.name)
def test_recipe_results_are_numbers_recorded_in_the_benchmarks(recipe):
    benchmarks = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    assert recipe.recorded.startswith("docs/BENCHMARKS.md")
    for number in re.findall(r"\d+\.\d+", recipe.result):
        assert number in benchmarks, f"{recipe.name}: {number} is not in docs/BENCHMARKS.md"


def test_objects_defaults_are_the_best_measured_cifar10_recipe():
    config = pipelines.get("objects").Config()
    best = configs.override(config, recipes.get("cifar10-resnet", "objects").settings)
    assert best == config
    alexnet = configs.override(config, recipes.get("cifar10-alexnet", "objects").settings)
    assert alexnet.network == "alexnet_cifar"


def test_options_and_set_override_the_recipe_and_the_run_records_it(tmp_path):
    run_dir = tmp_path / "run"
    # mnist: image_size=28 epochs=10 batch_size=128; --epochs and --set beat it, batch_size stays
    result = CliRunner().invoke(cli.main, [
        "train", "digits", "--recipe", "mnist", "--epochs", "3", "--set", "epochs=1",
        "--set", "image_size=8", "--run-dir", str(run_dir), "--export-dir", str(tmp_path / "exports"),
    ])
    assert result.exit_code == 0, result.output
    record = json.loads((run_dir / "config.json").read_text())
    assert record["recipe"] == "mnist"
    assert (record["config"]["epochs"], record["config"]["image_size"], record["config"]["batch_size"]) == (1, 8, 128)

    (run_dir / "model.keras").unlink()  # as if interrupted: a finished run refuses --resume
    resumed = CliRunner().invoke(cli.main, ["train", "digits", "--resume", "--run-dir", str(run_dir),
                                            "--export-dir", str(tmp_path / "exports")])
    assert resumed.exit_code == 0, resumed.output
    record = json.loads((run_dir / "config.json").read_text())
    assert record["recipe"] == "mnist" and record["config"]["batch_size"] == 128


@pytest.mark.parametrize("args, message", [
    (["digits", "--recipe", "mnst"], "unknown recipe 'mnst' (recipes of digits: digits-bundled, mnist, "
                                     "mnist-robust, mnist-robust-fast;"),
    (["digits", "--recipe", "cifar10-resnet"], "recipe 'cifar10-resnet' is for objects, not digits (recipes of digits: "),
    (["digits", "--recipe", "mnist", "--resume", "--run-dir", "x"], "drop --recipe"),
])
def test_wrong_recipe_is_a_one_line_error(args, message):
    result = CliRunner().invoke(cli.main, ["train", *args])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert message in result.output


def test_cnn_recipes_lists_them_without_importing_tensorflow():
    code = ("import sys, cli; from click.testing import CliRunner; "
            "result = CliRunner().invoke(cli.main, ['recipes']); "
            "print(result.exit_code, 'tensorflow' in sys.modules); print(result.output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    status, listing = out.split("\n", 1)
    assert status == "0 False"
    for recipe in RECIPES:
        assert f"{recipe.name} ({recipe.pipeline})" in listing
        assert f"  settings: {' '.join(recipe.settings) or '(the defaults)'}" in listing
        assert f"  measured: {recipe.result or 'none recorded'}" in listing
    assert "  recorded: docs/BENCHMARKS.md, objects" in listing


def test_cnn_recipes_of_one_pipeline():
    result = CliRunner().invoke(cli.main, ["recipes", "segment"])
    assert result.exit_code == 0 and result.output.splitlines()[0] == "hippocampus (segment)"
    assert CliRunner().invoke(cli.main, ["recipes", "nope"]).exit_code == 2
