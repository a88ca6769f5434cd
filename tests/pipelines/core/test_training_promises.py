"""README promises about training (issue 19), from ONE tiny `cnn train digits` run:
`--set validation_fraction` keeps `checkpoints/best.keras` at the epoch of the lowest val_loss
(not the last one); `--set ema_momentum` puts the exponential moving average of the weights into
model.keras, the test metrics and the export; `--test-data` labels are matched to the training
classes by name (a test folder holding two classes, whose folder order is not the training order).
Expected values come from the weights seen after every training step (a callback added around
the command), NumPy and the Keras models the run saved."""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli

MOMENTUM = 0.8
PER_CLASS, EPOCHS = 6, 12  # 30 training and 30 validation images; val_loss lowest at epoch 6 of 12
TEST_CLASSES = ("7", "3")  # as folders "3", "7": indices 0 and 1 if matched by position


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run folder, export folder, trainable weights after each step, test images, their class ids)."""
    import keras

    from datasets.synthetic import bundled_digits

    root = tmp_path_factory.mktemp("promises")
    bundled = bundled_digits.load()
    # Few training images and a high learning rate: the model soon memorises them and its
    # validation loss rises again (confidently wrong), so the best epoch is an early one.
    train = bundled.split("train")
    chosen = np.concatenate([np.flatnonzero(train.labels == c)[:PER_CLASS] for c in range(10)])
    np.savez(root / "few.npz", x_train=train.inputs[chosen], y_train=train.labels[chosen],
             class_names=np.array([str(c) for c in range(10)]))
    test = bundled.split("test")
    images, ids = [], []
    for name in TEST_CLASSES:
        for index in np.flatnonzero(test.labels == int(name))[:12]:
            folder = root / "test" / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(test.inputs[index][..., 0]).save(folder / f"{index}.png")
            images.append(test.inputs[index])
            ids.append(int(name))

    steps = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append([v.numpy().copy() for v in self.model.trainable_weights])

    original = cli.train_and_export
    with pytest.MonkeyPatch.context() as patch:  # observe the steps; the command runs as it is
        patch.setattr(cli, "train_and_export", lambda pipeline, **options: original(
            pipeline, callbacks=[Recorder()], **options))
        result = CliRunner().invoke(cli.main, [
            "train", "digits", "--data", str(root / "few.npz"), "--test-data", str(root / "test"), "--run-dir", str(root / "run"),
            "--export-dir", str(root / "exports"), "--epochs", str(EPOCHS), "--batch-size", "8",
            "--set", "image_size=8", "--set", "filters=8,8", "--set", "dense_units=16",
            "--set", "augment_shift=0", "--set", "dropout=0", "--set", "learning_rate=0.05",
            "--set", "validation_fraction=0.5", "--set", f"ema_momentum={MOMENTUM}"])
    assert result.exit_code == 0, result.output
    export = root / "exports" / "digits" / "1"
    assert f"SavedModel: {export}" in result.output
    return root / "run", export, steps, np.stack(images).astype(np.float32), np.array(ids)


def load(path):
    import keras

    import layers  # noqa: F401  (our layer classes registered)

    return keras.models.load_model(path)


def history(run_dir):
    with open(run_dir / "history.csv") as file:
        return list(csv.DictReader(file))


def test_best_keras_holds_the_epoch_of_the_lowest_val_loss(trained):
    from pipelines.core import runs

    run_dir, _, _, _, _ = trained
    val_losses = [float(row["val_loss"]) for row in history(run_dir)]
    best_epoch = int(np.argmin(val_losses))
    assert best_epoch < len(val_losses) - 1, val_losses  # the run peaks early: best is not last
    record = runs.read_record(run_dir)
    val = runs.splits_of(runs.pipeline_from_record(record), record).val
    assert len(val) == record["splits"]["counts"]["val"] > 0
    x = val.inputs.astype(np.float32)  # (N, 8, 8, 1)

    def cross_entropy(model):
        p = model.predict(x, verbose=0)[np.arange(len(x)), val.labels]
        return float(-np.mean(np.log(np.clip(p, 1e-7, 1))))

    assert cross_entropy(load(run_dir / "checkpoints" / "best.keras")) == pytest.approx(val_losses[best_epoch], rel=1e-4)
    assert cross_entropy(load(run_dir / "checkpoints" / "last.keras")) == pytest.approx(val_losses[-1], rel=1e-4)


def test_ema_weights_reach_model_keras_the_metrics_and_the_export(trained):
    import tensorflow as tf

    run_dir, export, steps, images, ids = trained
    average = steps[0]  # Keras starts the average at the weights after the first step
    for weights in steps[1:]:
        average = [MOMENTUM * a + (1 - MOMENTUM) * w for a, w in zip(average, weights)]
    model = load(run_dir / "model.keras")
    saved = [v.numpy() for v in model.trainable_weights]
    assert len(saved) == len(average) and len(steps) > 1
    for kept, expected in zip(saved, average):
        np.testing.assert_allclose(kept, expected, atol=1e-5)
    assert max(np.abs(k - w).max() for k, w in zip(saved, steps[-1])) > 1e-3  # not the raw last weights

    served = tf.saved_model.load(str(export)).signatures["serving_default"](image=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), model.predict(images, verbose=0), atol=1e-5)


def test_test_data_labels_are_matched_by_name(trained):
    run_dir, _, _, images, ids = trained
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record = json.loads((run_dir / "config.json").read_text())
    assert record["test_data"].endswith("test") and record["splits"]["counts"]["test"] == len(ids)
    assert metrics["examples"] == len(ids)
    predicted = load(run_dir / "model.keras").predict(images, verbose=0).argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == ids), abs=1e-6)
    by_position = np.where(ids == 3, 0, 1)  # what the folders' own order would give
    assert np.mean(predicted == ids) > np.mean(predicted == by_position) + 0.3
