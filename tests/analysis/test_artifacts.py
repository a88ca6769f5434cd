"""One loader for what training produced (analysis/artifacts.py), tested on a run folder and an
export written by cnn-suite 0.1.0, before analysis/ existed (tests/fixtures/digits_0_1): old
artifacts keep loading, evaluating and predicting, their flat `adversarial_*` config included."""
import json
import shutil

import numpy as np
import pytest

from analysis import artifacts, evaluation
from datasets.synthetic import bundled_digits
from project import ROOT

OLD = ROOT / "tests" / "fixtures" / "digits_0_1"
RUN, EXPORT = OLD / "run", OLD / "export" / "digits" / "1"


@pytest.fixture(scope="module")
def test_batch():
    """The first 32 bundled test digits as the model takes them (N, 8, 8, 1) float32."""
    return bundled_digits.load().splits["test"].inputs[:32].astype(np.float32)


def test_a_run_folder_and_an_export_are_told_apart():
    run, export = artifacts.open(RUN), artifacts.open(EXPORT)
    assert (run.kind, export.kind) == (artifacts.RUN, artifacts.EXPORT)
    assert run.pipeline.name == export.pipeline.name == "digits"
    assert run.class_names == export.class_names == [str(i) for i in range(10)]
    assert run.model is not None and run.saved_model is None
    assert export.model is None and export.saved_model is not None
    # the old record's flat settings are read into the config as it is now
    assert tuple(run.pipeline.config.filters) == (4, 8) and run.pipeline.config.dense_units == 8
    assert run.pipeline.config.epochs == 1


def test_run_and_export_give_the_same_probabilities(test_batch):
    run, export = artifacts.open(RUN), artifacts.open(EXPORT)
    from_run, from_export = run.predict(test_batch), export.predict(test_batch)
    assert from_run.shape == from_export.shape == (32, 10)
    np.testing.assert_allclose(from_run.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(from_run, from_export, atol=1e-5)
    np.testing.assert_allclose(np.asarray(export.probabilities(test_batch)), from_export, atol=1e-6)
    np.testing.assert_allclose(np.asarray(run.probabilities(test_batch)), from_run, atol=1e-6)


@pytest.mark.parametrize("path", [RUN, EXPORT], ids=["run", "export"])
def test_old_artifacts_evaluate_as_they_did_when_trained(path):
    """The metrics of `cnn evaluate` match the run's own metrics.json, written at training time
    on the same test split (accuracy within 3 of its 450 examples: the nearly untrained model's
    probabilities are close, and another CPU may round one argmax the other way)."""
    recorded = json.loads((RUN / "metrics.json").read_text())
    metrics = evaluation.evaluate(path, "bundled")
    assert metrics["examples"] == recorded["examples"] == 450
    assert metrics["loss"] == pytest.approx(recorded["loss"], rel=1e-4)
    assert abs(metrics["accuracy"] - recorded["accuracy"]) <= 3 / 450


def test_old_export_predicts_a_file(tmp_path, test_batch):
    image = tmp_path / "digit.png"
    index = bundled_digits.write_png(image, 0)  # the first test image of a 0
    path, label, probability = next(evaluation.predict_files(EXPORT, [image])).text().split("\t")
    expected = artifacts.open(RUN).predict(test_batch[index:index + 1])[0]
    assert path == str(image)
    assert float(probability) == pytest.approx(float(expected.max()), abs=2e-4)
    assert float(expected[int(label)]) == pytest.approx(float(expected.max()), abs=2e-4)


def test_what_is_neither_is_refused_with_one_message(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"^{tmp_path}: neither a run folder nor an export \\(SavedModel, .tflite or .onnx\\)$"):
        artifacts.open(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a run folder \\(no config.json\\)"):
        artifacts.open(EXPORT, artifacts.RUN)
    with pytest.raises(FileNotFoundError, match="not a cnn-suite export"):
        artifacts.open(RUN, artifacts.EXPORT)


def test_a_run_that_has_not_finished_is_named(tmp_path):
    unfinished = tmp_path / "run"
    unfinished.mkdir()
    shutil.copy(RUN / "config.json", unfinished / "config.json")
    with pytest.raises(FileNotFoundError, match="the run has not finished \\(no model.keras\\)"):
        artifacts.open(unfinished, artifacts.RUN)
    opened = artifacts.open(unfinished)  # a command may look at the record first ...
    assert opened.kind == artifacts.RUN and opened.pipeline.name == "digits"
    with pytest.raises(FileNotFoundError, match="the run has not finished"):
        opened.model  # ... but never gets a model
