"""The adversarial epsilon ramp-up (`adversarial_warmup_epochs`): its schedule, the scaled
attack it makes, its settings check, and `--resume` continuing it where the run stopped."""
import csv

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import cli
from adversarial_runs import ADVERSARIAL
from factories import make_pipeline
from pipelines.engine import training
from pipelines.extensions.adversarial import warmup_scale
from pipelines.extensions.attacks import Attack, input_gradient, perturb


def test_warmup_scale_rises_linearly_to_one_batch_by_batch():
    scales = [float(warmup_scale(tf.constant(step, tf.int64), 4)) for step in range(6)]
    assert scales == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert float(warmup_scale(tf.constant(0, tf.int64), 0)) == 1.0  # no warm-up: the full epsilon


def _predict():
    """A fixed Dense(3) softmax whose logits on 60..200 pixel inputs stay within a few units: no
    probability rounds to 0 or 1, so the input gradient is far from 0 under any CPU's rounding."""
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    kernel = np.random.default_rng(1).normal(0.0, 0.002, (36, 3)).astype(np.float32)  # logits' spread ~1.6
    model.layers[-1].set_weights([kernel, np.zeros(3, np.float32)])
    return lambda batch: model(batch, training=False)


def test_a_scaled_attack_is_the_attack_at_the_scaled_epsilon():
    rng = np.random.default_rng(0)
    x = rng.uniform(60, 200, (8, 6, 6, 1)).astype(np.float32)  # away from the range's ends: no clipping
    labels = np.arange(8) % 3
    predict = _predict()
    probabilities = predict(x).numpy()
    assert 0.02 < probabilities.min() and probabilities.max() < 0.98  # well-conditioned: nothing saturates
    gradient = np.abs(input_gradient(predict, tf.constant(x), labels).numpy())
    assert gradient.min() > 1e-4 * gradient.max()  # every sign decided ~1000x above float32 precision (1.2e-7)
    scaled = perturb(predict, x, labels, Attack("fgsm", 40.0), 0.0, 255.0, scale=tf.constant(0.25))
    smaller = perturb(predict, x, labels, Attack("fgsm", 10.0), 0.0, 255.0)
    np.testing.assert_allclose(scaled.numpy(), smaller.numpy(), atol=1e-4)
    np.testing.assert_allclose(np.abs(scaled.numpy() - x), 10.0, atol=1e-4)  # every pixel moved by the budget
    attack = Attack("pgd", 40.0, steps=3, random_start=True)
    pgd = perturb(predict, x, labels, attack, 0.0, 255.0, keras.random.SeedGenerator(1), scale=tf.constant(0.5))
    assert 15.0 < np.abs(pgd.numpy() - x).max() <= 20.0 + 1e-4  # the budget is half of 40, and used


def test_warmup_settings_are_checked():
    with pytest.raises(ValueError, match="--set adversarial_warmup_epochs=-1: must not be negative"):
        make_pipeline("digits", "adversarial_warmup_epochs=-1")
    with pytest.raises(ValueError, match="adversarial_warmup_epochs=5: more than the 3 epochs, so epsilon "
                                         "would never reach adversarial_epsilon"):
        make_pipeline("digits", "epochs=3", "adversarial=fgsm", "adversarial_epsilon=40",
                      "adversarial_warmup_epochs=5")


class Interrupt(keras.callbacks.Callback):
    """A kill after the first epoch (its backup is written: Backup runs before this callback)."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def _epsilons(run_dir):
    with open(run_dir / "history.csv") as stream:
        return {int(row["epoch"]): float(row["adversarial_epsilon"]) for row in csv.DictReader(stream)}


def test_resume_continues_the_epsilon_schedule(tmp_path):
    """Interrupted after epoch 1 of 3 with epsilon rising over all 3: `cnn train --resume` takes
    the run's own settings and goes on from the second third of the ramp, not from its start."""
    run_dir = tmp_path / "run"
    pipeline = make_pipeline("digits", "image_size=8", "epochs=3", "filters=8,8", "dense_units=16",
                             *ADVERSARIAL, "adversarial_warmup_epochs=3")  # epsilon 40
    with pytest.raises(KeyboardInterrupt):
        training.train(pipeline, run_dir=run_dir, callbacks=[Interrupt()], verbose=0)
    assert _epsilons(run_dir) == {0: pytest.approx(40 / 3)}
    result = CliRunner().invoke(cli.main, ["train", "digits", "--resume", "--run-dir", str(run_dir),
                                           "--export-dir", str(tmp_path / "exports")])
    assert result.exit_code == 0, result.output
    assert _epsilons(run_dir) == {0: pytest.approx(40 / 3), 1: pytest.approx(80 / 3), 2: pytest.approx(40.0)}
    assert (run_dir / "model.keras").is_file() and (tmp_path / "exports" / "digits" / "1").is_dir()
