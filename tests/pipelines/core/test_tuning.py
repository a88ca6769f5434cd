"""`cnn tune`: the search spaces (valid settings, documented), the search on a validation split
carved from training with a test split that refuses to be read, its outputs (best_config.json,
trials.csv, tuning.json, report.html), resuming after an interrupt, the budget, and its errors."""
import csv
import json
import pathlib
import re

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import cli
import pipelines
from cli_errors import one_line_error
from datasets.examples import ArrayExamples, SourceData
from datasets.synthetic import bundled_digits
from pipelines.core import config as configs
from pipelines.core import search_space, settings
from pipelines.engine import tuning

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs" / "TUNING.md"
TRAIN_EXAMPLES = 240
# digits at their own 8x8, one epoch a trial: seconds per trial
QUICK = ["--epochs", "1", "--set", "image_size=8", "--set", "dense-units=64"]  # spelt as --set takes it


class UnreadableExamples(ArrayExamples):
    """A test split without its examples (its labels are counted): it records and refuses every read."""

    reads = []

    def dataset(self, decode_file=None):
        self.reads.append("dataset")
        raise AssertionError("the test split was read")

    def take(self, indices):
        self.reads.append("take")
        raise AssertionError("the test split was read")


@pytest.fixture
def guarded(monkeypatch):
    """SOURCE `guarded` for digits: 240 training digits and an unreadable test split; the reads list."""
    bundled = bundled_digits.load()
    test = bundled.split("test")
    data = SourceData({"train": bundled.split("train").take(np.arange(TRAIN_EXAMPLES)),
                       "test": UnreadableExamples(labels=test.labels, origin="guarded test")},
                      bundled.class_names, "guarded digits")
    monkeypatch.setattr(pipelines.get("digits"), "read_source",
                        lambda self, source, data_dir=None: data if source == "guarded" else None)
    UnreadableExamples.reads.clear()
    return UnreadableExamples.reads


def tune(out, *args):
    return CliRunner().invoke(cli.main, ["tune", "digits", "--data", "guarded", "--out", str(out), *QUICK, *args])


def read(out, name):
    return json.loads((out / name).read_text())


# ------------------------------------------------------------------------------ search spaces
@pytest.mark.parametrize("name", pipelines.names())
def test_every_search_space_holds_valid_settings(name):
    cls = pipelines.get(name)
    keys = [entry.key for entry in cls.search_space]
    assert len(keys) == len(set(keys)) and set(keys) <= set(configs.option_names(cls.Config))
    search_space.check(cls, cls.Config(), cls.search_space)  # each end passes `--set`'s parsing and range rules


def test_a_search_space_outside_a_range_rule_is_refused_naming_the_setting():
    digits = pipelines.get("digits")
    with pytest.raises(ValueError, match=r"search space of digits: --set dropout=1.0: must be in \[0, 1\)"):
        search_space.check(digits, digits.Config(), [search_space.Between("dropout", 0.0, 1.0)])


def test_docs_table_is_every_pipeline_search_space():
    documented = set(re.findall(r"^\| `(\w+)` \| `(\w+)` \| (.+?) \|$", DOCS.read_text(), re.M))
    spaces = {(name, entry.key, entry.describe()) for name in pipelines.names()
              for entry in pipelines.get(name).search_space}
    assert documented == spaces


# ------------------------------------------------------------------------------ the search
def test_tune_scores_on_validation_writes_best_config_and_report(tmp_path, guarded):
    out = tmp_path / "tuned"
    result = tune(out, "--trials", "2")
    assert result.exit_code == 0, result.output
    assert guarded == []  # the test split was never read
    record = read(out, "tuning.json")
    counts = record["splits"]["counts"]
    assert counts["train"] + counts["val"] == TRAIN_EXAMPLES  # the validation split is carved from training
    assert counts["val"] == pytest.approx(0.2 * TRAIN_EXAMPLES, abs=10)
    assert record["objective"] == {"name": "val_accuracy", "direction": "max"}
    trials = record["trials"]
    assert [row["status"] for row in trials] == ["COMPLETED"] * 2 and "dense_units" not in record["request"]["space"]
    assert all(row["settings"]["dropout"] in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5) for row in trials)  # steps, as written
    best = max(trials, key=lambda row: row["score"])
    assert record["best"] == best["trial"] and all(0 <= row["score"] <= 1 for row in trials)

    config = read(out, "best_config.json")
    assert set(config) == {"pipeline", "data", "config"}
    assert (config["pipeline"], config["data"]) == ("digits", "guarded")
    digits = pipelines.get("digits")
    assert set(config["config"]) <= set(configs.option_names(digits.Config))
    rebuilt = settings.flat(configs.from_dict(digits.Config, config["config"]))  # the settings validation
    assert {key: rebuilt[key] for key in config["config"]} == {
        key: tuple(value) if isinstance(value, list) else value for key, value in config["config"].items()}
    searched = {key: (",".join(map(str, value)) if isinstance(value, list) else value)
                for key, value in config["config"].items() if key in best["settings"]}
    assert searched == best["settings"]  # the best trial's settings, as --set would spell them
    assert (config["config"]["epochs"], config["config"]["image_size"], config["config"]["dense_units"]) == (1, 8, 64)

    with open(out / "trials.csv") as stream:
        table = list(csv.DictReader(stream))
    assert [(row["trial"], float(row["score"])) for row in table] == [(row["trial"], row["score"]) for row in trials]
    page = (out / "report.html").read_text()
    shown = re.findall(r'<tr[^>]*data-trial="(\w+)"><td>\d+</td><td>\w+</td><td><span class="score" '
                       r'data-value="([^"]+)"', page)
    assert [float(score) for _, score in shown] == sorted((row["score"] for row in trials), reverse=True)
    assert shown[0][0] == best["trial"] and 'class="best"' in page and "best_config.json" in page

    error = one_line_error(["tune", "digits", "--data", "guarded", "--out", str(out), "--trials", "2", "--epochs", "2"])
    assert error == (f"Error: --out {out}: holds a search with other settings (digits on guarded, hyperband); "
                     "give the same options to continue it, or another --out")
    assert read(out, "tuning.json")["trials"] == trials  # refused, and nothing of the search changed

    # `cnn train --config` takes best_config.json as it is (--data on the command line wins over the file's)
    run = tmp_path / "run"
    result = CliRunner().invoke(cli.main, ["train", "--config", str(out / "best_config.json"), "--data", "bundled",
                                           "--out", str(run)])
    assert result.exit_code == 0, result.output
    trained = read(run, "config.json")
    assert (trained["pipeline"], trained["data"]) == ("digits", "bundled")
    assert {key: trained["config"][key] for key in config["config"]} == config["config"]


class Interrupt(keras.callbacks.Callback):
    """Ctrl-C in the middle of a trial's first epoch."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:
            raise KeyboardInterrupt


def test_an_interrupted_search_continues_and_keeps_finished_trials(tmp_path, guarded, monkeypatch):
    out = tmp_path / "tuned"
    callbacks = tuning.extensions.callbacks
    monkeypatch.setattr(tuning.extensions, "callbacks", lambda pipeline, train: [Interrupt()])
    assert tune(out, "--trials", "3", "--tuner", "bayesian").exit_code != 0  # interrupted in the first trial
    cut = json.loads((out / "trials" / "trial_0" / "trial.json").read_text())
    assert cut["status"] == "RUNNING" and "trials" not in read(out, "tuning.json")
    monkeypatch.setattr(tuning.extensions, "callbacks", callbacks)
    assert tune(out, "--trials", "1", "--tuner", "bayesian").exit_code == 0  # the same search, continued
    first = (out / "trials" / "trial_0" / "trial.json").read_text()
    assert json.loads(first)["hyperparameters"]["values"] == cut["hyperparameters"]["values"]
    assert json.loads(first)["status"] == "COMPLETED"

    monkeypatch.setattr(tuning.extensions, "callbacks", lambda pipeline, train: [Interrupt()])
    assert tune(out, "--trials", "3", "--tuner", "bayesian").exit_code != 0  # interrupted in trial 1
    interrupted = json.loads((out / "trials" / "trial_1" / "trial.json").read_text())
    assert interrupted["status"] == "RUNNING"
    assert (out / "trials" / "trial_0" / "trial.json").read_text() == first
    assert [row["trial"] for row in read(out, "tuning.json")["trials"]] == ["0"] and (out / "best_config.json").exists()

    monkeypatch.setattr(tuning.extensions, "callbacks", callbacks)
    result = tune(out, "--trials", "3", "--tuner", "bayesian")
    assert result.exit_code == 0, result.output
    trials = read(out, "tuning.json")["trials"]
    assert [(row["trial"], row["status"]) for row in trials] == [("0", "COMPLETED"), ("1", "COMPLETED"),
                                                                  ("2", "COMPLETED")]
    assert (out / "trials" / "trial_0" / "trial.json").read_text() == first  # a finished trial is not run again
    resumed = json.loads((out / "trials" / "trial_1" / "trial.json").read_text())
    assert resumed["hyperparameters"]["values"] == interrupted["hyperparameters"]["values"]  # the cut-off trial, again
    assert sorted(re.findall(r'data-trial="(\w+)"', (out / "report.html").read_text())) == ["0", "1", "2"]
    assert tune(out, "--trials", "3", "--tuner", "bayesian").exit_code == 0
    assert read(out, "tuning.json")["trials"] == trials  # all 3 done: nothing more runs


def test_budget_stops_starting_trials(tmp_path, guarded):
    result = tune(tmp_path / "tuned", "--trials", "5", "--budget", "0.001")
    assert result.exit_code == 0, result.output
    assert len(read(tmp_path / "tuned", "tuning.json")["trials"]) == 1  # the budget was spent by the first


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "--trials 0: must be at least 1"),
    (["--trials", "-2"], "--trials -2: must be at least 1"),
    (["--trials", "2", "--budget", "0"], "--budget 0: must be a positive number of minutes"),
    (["--trials", "2", "--budget", "nan"], "--budget nan: must be a positive number of minutes"),
    (["--trials", "2", "--budget", "-3"], "--budget -3: must be a positive number of minutes"),
])
def test_nonsense_limits_are_one_line_errors(tmp_path, args, message):
    assert one_line_error(["tune", "digits", "--data", "bundled", "--out", str(tmp_path), *args]) == f"Error: {message}"
    assert not any(tmp_path.iterdir())


def test_fixing_every_searched_setting_leaves_nothing_to_tune(tmp_path):
    fixed = [arg for entry in pipelines.get("audio").search_space
             for arg in ("--set", f"{entry.key}={entry.extremes()[0]}")]
    error = one_line_error(["tune", "audio", "--data", "bundled", "--trials", "2", "--out", str(tmp_path), *fixed])
    assert error == ("Error: --set fixes every setting audio searches (learning_rate, batch_size, dropout, width); "
                     "nothing to tune")
