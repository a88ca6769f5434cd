"""`cnn ensemble`: several runs of one recipe served as one SavedModel averaging probabilities."""
import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import cli

TINY = ["--epochs", "1", "--set", "image_size=8"]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    run_dirs = []
    for seed in (0, 1):
        run_dir = root / f"run{seed}"
        result = CliRunner().invoke(cli.main, [
            "train", "digits", "--seed", str(seed), "--run-dir", str(run_dir),
            "--export-dir", str(root / "single"), *TINY,
        ])
        assert result.exit_code == 0, result.output
        run_dirs.append(run_dir)
    return root, run_dirs


def test_ensemble_export_averages_the_members(members):
    import keras
    import tensorflow as tf

    import layers  # noqa: F401
    import pipelines  # noqa: F401
    from pipelines.core import runs

    root, run_dirs = members
    result = CliRunner().invoke(cli.main, ["ensemble", *map(str, run_dirs), "--export-dir", str(root / "exports")])
    assert result.exit_code == 0, result.output
    export = root / "exports" / "digits" / "1"
    assert f"SavedModel: {export}" in result.output
    assert result.output.count("test metrics:") == 3 and "ensemble of 2:" in result.output
    metadata = json.loads((export / "assets.extra" / "cnn_suite.json").read_text())
    assert metadata["ensemble_of"] == [str(r.resolve()) for r in run_dirs]
    assert (export / "assets.extra" / "tf_serving_warmup_requests").is_file()

    # The served probabilities are the mean of the members' own, on every test image.
    record = runs.read_record(run_dirs[0])
    pipeline = runs.pipeline_from_record(record)
    examples = runs.splits_of(pipeline, record).test
    images, labels = next(iter(pipeline.input_dataset(examples, len(examples))))
    images, labels = images.numpy().astype(np.float32), labels.numpy().astype(int)  # as served
    assert len(labels) == 450
    expected = np.mean([keras.models.load_model(r / "model.keras").predict(images, verbose=0) for r in run_dirs], axis=0)
    served = tf.saved_model.load(str(export)).signatures["serving_default"](image=tf.constant(images[:16]))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected[:16], atol=1e-5)
    np.testing.assert_array_equal(served["class_id"].numpy(), expected[:16].argmax(axis=1))

    # The printed ensemble accuracy is that of the mean probabilities (NumPy) on the test split.
    line = result.output.split("ensemble of 2:")[1]
    printed = float(re.search(r"accuracy=([0-9.]+)", line).group(1))
    assert printed == pytest.approx(np.mean(expected.argmax(1) == labels), abs=1e-4)


def _altered_copy(run_dir, target, change):
    shutil.copytree(run_dir, target)
    record = json.loads((target / "config.json").read_text())
    change(record)
    (target / "config.json").write_text(json.dumps(record))
    return target


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(pipeline="objects"), "pipeline objects, but .* is digits"),
    (lambda r: r["config"].update(dropout=0.1), "config differs from .* in dropout .members may differ only in seed"),
    (lambda r: r.update(class_names=list("abcdefghij")), "classes .* differ from"),
    (lambda r: r.update(data="tfds:mnist"), "trained on data tfds:mnist"),
    (lambda r: r["splits"].update(test="stratified hold-out of 0.2 (seed 3)", test_indices=[1, 2]),
     "its test split .stratified hold-out of 0.2 .seed 3.. is not"),
])
def test_members_must_share_recipe_data_and_test_split(members, tmp_path, change, message):
    _, run_dirs = members
    other = _altered_copy(run_dirs[1], tmp_path / "other", change)
    result = CliRunner().invoke(cli.main, ["ensemble", str(run_dirs[0]), str(other), "--export-dir", str(tmp_path / "e")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "e").exists()


def test_copies_of_the_same_data_file_count_as_the_same_data(members, tmp_path):
    from pipelines.extensions import ensemble

    _, run_dirs = members
    first, same, other = tmp_path / "a" / "train.npz", tmp_path / "b" / "train.npz", tmp_path / "c" / "train.npz"
    for path, content in ((first, b"same bytes"), (same, b"same bytes"), (other, b"other byte")):
        path.parent.mkdir()
        path.write_bytes(content)

    def moved_to(path):
        def change(record):
            record["data"] = str(path)
            record["splits"]["test"] = f"stratified hold-out of {path}"
        return change

    a = _altered_copy(run_dirs[0], tmp_path / "run_a", moved_to(first))
    b = _altered_copy(run_dirs[1], tmp_path / "run_b", moved_to(same))
    c = _altered_copy(run_dirs[1], tmp_path / "run_c", moved_to(other))
    records, _ = ensemble.check_members([str(a), str(b)])
    assert [r["data"] for r in records] == [str(first), str(same)]
    with pytest.raises(ValueError, match=f"trained on data {other}"):
        ensemble.check_members([str(a), str(c)])
    assert ensemble.same_source("tfds:mnist", "tfds:mnist") and not ensemble.same_source("tfds:mnist", str(first))


def test_one_run_or_an_unfinished_run_is_refused(members, tmp_path):
    _, run_dirs = members
    result = CliRunner().invoke(cli.main, ["ensemble", str(run_dirs[0])])
    assert result.exit_code == 2 and "an ensemble needs at least two run folders" in result.output
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_dirs[1], unfinished)
    (unfinished / "model.keras").unlink()
    result = CliRunner().invoke(cli.main, ["ensemble", str(run_dirs[0]), str(unfinished)])
    assert result.exit_code == 2 and f"{unfinished}: the run has not finished (no model.keras)" in result.output
