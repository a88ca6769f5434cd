"""The catastrophic-overfitting guard (`adversarial_guard`): it logs a PGD check accuracy each
epoch, stops when that accuracy falls more than the allowed drop below its best, and restores the
best epoch's weights; its settings are checked."""
import csv

import keras
import numpy as np
import pytest

from adversarial_runs import ADVERSARIAL
from factories import make_pipeline
from pipelines.engine import training
from pipelines.extensions.adversarial_guard import CatastrophicOverfittingGuard

LABELS = np.array([0] * 6 + [1] * 4)  # a constant answer 0 is 60% right, 1 is 40%, 2 is 0%


def _constant_model():
    """A softmax over a zero-weight dense layer: its answer is its bias, whatever the input, so
    PGD cannot move it and its check accuracy is known exactly."""
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros")])
    return model


def _answer(model, label):
    kernel, _ = model.get_weights()
    model.set_weights([kernel, np.eye(3, dtype=np.float32)[label] * 5])


def test_the_guard_stops_at_a_larger_drop_and_restores_the_best_epoch(capsys):
    model = _constant_model()
    x = np.random.default_rng(0).uniform(0, 255, (10, 6, 6, 1)).astype(np.float32)
    guard = CatastrophicOverfittingGuard([(x, LABELS)], epsilon=20.0, low=0.0, high=255.0, drop=0.25)
    guard.set_model(model)
    logs = []
    for epoch, label in enumerate((0, 1, 2)):  # 60%, 40% (a drop of 0.2: allowed), 0% (0.6: too much)
        _answer(model, label)
        model.stop_training = False
        logs.append({})
        guard.on_epoch_end(epoch, logs[-1])
        if model.stop_training:
            break
    assert [entry["adversarial_check_accuracy"] for entry in logs] == pytest.approx([0.6, 0.4, 0.0])
    assert model.stop_training and guard.stopped_epoch == 2 and guard.best_epoch == 0
    np.testing.assert_array_equal(np.argmax(model.predict_on_batch(x), axis=-1), np.zeros(10))  # epoch 1's
    assert ("fell from 60.0% (epoch 1) to 0.0% (epoch 3): catastrophic overfitting; training stopped "
            "with epoch 1's weights") in capsys.readouterr().out


def _history(run_dir):
    with open(run_dir / "history.csv") as stream:
        return list(csv.DictReader(stream))


def test_a_guarded_run_logs_its_check_accuracy_each_epoch(tmp_path):
    pipeline = make_pipeline("digits", "image_size=8", "epochs=2", "filters=8,8", "dense_units=16",
                             *ADVERSARIAL, "adversarial_guard=0.2")
    training.train(pipeline, run_dir=tmp_path / "run", verbose=0)
    rows = _history(tmp_path / "run")
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert all(0.0 <= float(row["adversarial_check_accuracy"]) <= 1.0 for row in rows)
    assert (tmp_path / "run" / "model.keras").is_file()


@pytest.mark.parametrize("settings, message", [
    (["adversarial_guard=0.2"], "--set adversarial_guard=0.2: guards adversarial training; give --set "
                                "adversarial=fgsm|pgd too"),
    ([*ADVERSARIAL, "adversarial_guard=1.5"], "--set adversarial_guard=1.5: must be in [0, 1]"),
    ([*ADVERSARIAL, "adversarial_guard=0.2", "ema_momentum=0.99"],
     "--set adversarial_guard=0.2: restores an epoch's weights, which the moving average of "
     "ema_momentum=0.99 would not follow; use one of them"),
])
def test_guard_settings_are_checked(settings, message):
    with pytest.raises(ValueError) as error:
        make_pipeline("digits", *settings)
    assert str(error.value) == message
