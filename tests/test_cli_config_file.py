"""`cnn train --config FILE` (issue 27, item 7): YAML or JSON settings under --epochs/--seed and
--set, over the recipe; a run's config.json trains again as it is; bad files are one line."""
import json

import pytest
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from pipelines.core import config_file, runs
from project import ROOT

OLD_RUN = ROOT / "tests" / "fixtures" / "digits_0_1" / "run"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_json_give_the_same_assignments_flat_and_nested(tmp_path):
    yaml_file = write(tmp_path, "s.yaml", "pipeline: digits\ndata: bundled\nconfig:\n  learning_rate: 0.002\n"
                                          "  filters: [4, 8]\n  augment_flip: true\n  adversarial: {epsilon: 0.5}\n")
    json_file = write(tmp_path, "s.json", json.dumps({"pipeline": "digits", "data": "bundled", "config": {
        "learning_rate": 0.002, "filters": [4, 8], "augment_flip": True, "adversarial": {"epsilon": 0.5}}}))
    expected = {"pipeline": "digits", "data": "bundled",
                "config": ["learning_rate=0.002", "filters=4,8", "augment_flip=true", "adversarial.epsilon=0.5"]}
    assert config_file.read(yaml_file) == config_file.read(json_file) == expected


def test_settings_apply_defaults_recipe_file_options_set_from_lowest(tmp_path):
    import pipelines
    from pipelines.core import recipes

    saved = {"file": "s.yaml", "config": ["learning_rate=0.005", "dense_units=12", "seed=3", "epochs=4"]}
    recipe = recipes.get("mnist", "digits")
    chosen = cli._make_pipeline("digits", None, recipe, 2, None, None, ["dense_units=20"], saved).config
    defaults = pipelines.get("digits").Config()
    assert (chosen.learning_rate, chosen.seed) == (0.005, 3)  # the file over the recipe and the defaults
    assert chosen.epochs == 2  # --epochs over the file
    assert chosen.dense_units == 20  # --set over everything
    untouched = [s.split("=")[0] for s in recipe.settings if s.split("=")[0] not in
                 ("learning_rate", "dense_units", "seed", "epochs")]
    for key in untouched:  # the recipe over the defaults where the file says nothing
        assert getattr(chosen, key) == getattr(cli._make_pipeline("digits", None, recipe, None, None, None, []).config,
                                               key)
    assert chosen != defaults


@pytest.mark.parametrize("text, message", [
    ("pipeline: digits\nconfig:\n  learning_rat: 0.01\n",
     "s.yaml: unknown key 'learning_rat' for DigitsConfig; did you mean 'learning_rate'?"),
    ("pipelin: digits\n", "s.yaml: unknown key 'pipelin'; did you mean 'pipeline'?"),
    ("pipeline: digit\n", "s.yaml: unknown pipeline 'digit'; did you mean 'digits'?"),
    ("pipeline: digits\nconfig: {learning_rate: -1}\n", "s.yaml: learning_rate=-1.0: must be greater than 0"),
    ("pipeline: digits\nconfig: {test_fraction: 1.5}\n", "s.yaml: test_fraction=1.5: must be in [0, 1)"),
    ("pipeline: digits\nconfig: {augment_flip: maybe}\n", "s.yaml: augment_flip=maybe: expected true or false"),
    ("pipeline: digits\njit: sometimes\n", "s.yaml: jit must be true or false, not 'sometimes'"),
    ("pipeline: [digits\n", "s.yaml: not valid YAML"),
    ("- digits\n", "s.yaml: expected a mapping"),
    ("config: {}\n", "give PIPELINE, or --config FILE that names one"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "s.yaml", text)
    line = one_line_error(["train", "--config", "s.yaml", "--out", str(tmp_path / "run")])
    assert line.startswith(f"Error: {message}"), line
    assert not (tmp_path / "run").exists()


def test_the_pipeline_on_the_command_line_must_agree_with_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "s.yaml", "pipeline: digits\n")
    assert one_line_error(["train", "audio", "--config", "s.yaml"]) == \
        "Error: --config s.yaml: names pipeline 'digits', not 'audio'; give one of them"


def test_a_runs_config_json_trains_again_as_it_is(tmp_path):
    """The 0.1.0 digits run (1 epoch, bundled) retrained from its config.json: the same settings,
    sources and test metrics; its record-only keys (created, splits, class_names, ...) are read."""
    old = runs.read_record(OLD_RUN)
    result = CliRunner().invoke(cli.main, ["train", "--config", str(OLD_RUN / "config.json"),
                                           "--out", str(tmp_path / "again"), "--export-dir", str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    new = runs.read_record(tmp_path / "again")
    assert runs.pipeline_from_record(new).config == runs.pipeline_from_record(old).config
    assert (new["pipeline"], new["data"], new["test_data"]) == (old["pipeline"], old["data"], old["test_data"])
    assert new["splits"]["counts"] == old["splits"]["counts"]
    recorded = json.loads((OLD_RUN / "metrics.json").read_text())
    metrics = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert metrics["examples"] == recorded["examples"]
    assert abs(metrics["accuracy"] - recorded["accuracy"]) <= 3 / 450  # another CPU may round an argmax
