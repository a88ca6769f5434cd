"""Adversarial training for any pipeline with a continuous input: each training batch is (in
part) replaced by adversarial examples of the current model before the usual step.

Its settings are nested in every config as `adversarial.*` (`Settings`), set by their flat
names. `--set adversarial=pgd`: PGD training (Madry et al. 2018): `adversarial_steps` steps of
2.5 epsilon / steps from a random start. `--set adversarial=fgsm`: "fast" FGSM (Wong et al.
2020): one step of 1.25 epsilon from a uniform random start. `adversarial_epsilon` is in raw-input
units (the pipeline's `input_range`), `adversarial_fraction` the share of each batch replaced.
`adversarial_warmup_epochs=N` raises epsilon (and the step with it) linearly from 0 to its
value over the first N epochs, batch by batch: MNIST at 0.3 of the range trains more reliably
that way (Madry- and Wong-style training otherwise risks collapse or catastrophic overfitting).
The schedule is read from the optimizer's step count, so `--resume` continues it; each epoch's
last epsilon is logged as `adversarial_epsilon` (history.csv). `adversarial_guard=D` stops
training at catastrophic overfitting (pipelines/extensions/adversarial_guard.py).

It wraps the model's own `train_step` (the model's class stays keras.Model, so model.keras,
checkpoints, --resume, mixed precision and the export are those of standard training); the
attack runs the model in inference mode, so it moves no BatchNorm statistics.
"""
from __future__ import annotations

import dataclasses

from pipelines.core.settings import ExtensionSettings, positive, unit
from pipelines.extensions.attacks import Attack, perturb

CHOICES = ("none", "fgsm", "pgd")


@dataclasses.dataclass
class Settings(ExtensionSettings):
    """`adversarial.*` in every config; by their flat names `--set adversarial=pgd`,
    `adversarial_epsilon=...`, as config.json records before 0.2 have them."""

    NAME = "adversarial"
    FLAT = {"method": "adversarial"}
    method: str = "none"  # none, fgsm (fast, random start) or pgd
    epsilon: float = 0.0  # the L-inf budget in raw-input units (pixels 0..255, amplitude)
    steps: int = positive(10)  # PGD steps per training batch
    fraction: float = unit(1.0)  # share of each batch replaced by its adversarial examples
    warmup_epochs: int = 0  # epsilon rises linearly from 0 over these first epochs
    guard: float = unit(0.0)  # > 0: stop at this drop of a PGD check (adversarial_guard.py)

    @property
    def enabled(self):
        return self.method != "none"

    def validate(self):
        if self.method not in CHOICES:
            raise ValueError(f"--set adversarial={self.method}: expected one of {', '.join(CHOICES)}")
        if not self.enabled:
            if self.guard:
                raise ValueError(f"--set adversarial_guard={self.guard}: guards adversarial training; "
                                 "give --set adversarial=fgsm|pgd too")
            return
        if self.epsilon <= 0:
            raise ValueError(f"--set adversarial={self.method} needs --set adversarial_epsilon=E > 0 (raw-input units)")
        if self.fraction <= 0:
            raise ValueError(f"--set adversarial_fraction={self.fraction}: must be in (0, 1]")


def check_pipeline(pipeline):
    """Raise a ValueError naming the setting unless `pipeline` can train adversarially as asked:
    a continuous input, an epsilon ramp shorter than the training, no EMA beside the guard."""
    config, settings = pipeline.config, pipeline.config.adversarial
    if not settings.enabled:
        return
    if pipeline.input_range() is None:
        raise ValueError(f"--set adversarial={settings.method}: pipeline {pipeline.name} has no continuous input "
                         "(gradient attacks on tokens are out of scope)")
    if settings.guard and config.ema.momentum:
        raise ValueError(f"--set adversarial_guard={settings.guard}: restores an epoch's weights, which "
                         f"the moving average of ema_momentum={config.ema.momentum} would not follow; use one of them")
    if settings.warmup_epochs > config.epochs:
        raise ValueError(f"--set adversarial_warmup_epochs={settings.warmup_epochs}: more than the "
                         f"{config.epochs} epochs, so epsilon would never reach adversarial_epsilon")


def keras_fit_only(pipeline):
    settings = pipeline.config.adversarial
    if settings.enabled:
        return (f"--set adversarial={settings.method}: adversarial training runs in Keras fit, not in the "
                "multiworker loop; use --strategy default or mirrored")
    return None


def training_attack(settings):
    """The attack that makes the training examples."""
    if settings.method == "fgsm":
        return Attack("fgsm", settings.epsilon, random_start=True)
    return Attack("pgd", settings.epsilon, steps=int(settings.steps), random_start=True)


def warmup_scale(iterations, warmup_steps):
    """The share of epsilon used at optimizer step `iterations` (0-based): (iterations + 1) /
    warmup_steps, at most 1; always 1 without warm-up (warmup_steps 0)."""
    import tensorflow as tf

    if not warmup_steps:
        return tf.constant(1.0)
    done = tf.cast(iterations, tf.float32) + 1.0
    return tf.minimum(1.0, done / float(warmup_steps))


def attach(model, pipeline, steps_per_epoch=1):
    """Make `model.fit` train on adversarial examples when the config asks for it (after
    `compile`, before `fit`); the model unchanged otherwise. `steps_per_epoch` (batches of an
    epoch) times `adversarial_warmup_epochs` is the length of the epsilon ramp."""
    settings = pipeline.config.adversarial
    if not settings.enabled:
        return model
    import keras
    import tensorflow as tf

    attack, fraction = training_attack(settings), float(settings.fraction)
    low, high = pipeline.input_range()
    seed = keras.random.SeedGenerator(pipeline.config.seed)  # not an attribute: the saved model stays plain
    standard_step = model.train_step
    warmup_steps = int(round(settings.warmup_epochs * steps_per_epoch))

    def adversarial_train_step(data):
        x, y, weights = keras.utils.unpack_x_y_sample_weight(data)
        scale = warmup_scale(model.optimizer.iterations, warmup_steps)
        adversarial = perturb(lambda batch: model(batch, training=False), x, y, attack, low, high, seed, scale)
        count = tf.shape(x)[0]
        chosen = tf.range(count) < tf.cast(tf.math.ceil(fraction * tf.cast(count, tf.float32)), tf.int32)
        chosen = tf.reshape(chosen, tf.concat([[count], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
        mixed = tf.where(chosen, adversarial, tf.cast(x, adversarial.dtype))  # the first `fraction` of the batch
        logs = standard_step((mixed, y) if weights is None else (mixed, y, weights))
        return {**logs, "adversarial_epsilon": scale * attack.epsilon}

    model.train_step = adversarial_train_step
    return model


def callbacks(pipeline, train_examples):
    """The catastrophic-overfitting guard when `adversarial_guard` > 0 (adversarial_guard.py)."""
    if not pipeline.config.adversarial.guard:
        return []
    from pipelines.extensions import adversarial_guard

    return adversarial_guard.callbacks(pipeline, train_examples)
