"""A guard against catastrophic overfitting in adversarial training (Wong et al. 2020, section
5.3): fast FGSM training can suddenly learn to defeat its own one-step attack while a multi-step
attack goes straight through, and from then on robust accuracy stays near 0.

`--set adversarial_guard=D` (0 < D <= 1): after each epoch, PGD-10 from a random start at the
full `adversarial_epsilon` attacks a fixed set of training examples (the first `CHECK_EXAMPLES`,
unaugmented). Its accuracy is logged as `adversarial_check_accuracy` (history.csv). When it falls
more than D below its best so far, training stops and the best epoch's weights are restored, so
model.keras, the checkpoints and the export carry them. Wong et al. stop at a drop of 0.2.

The best weights are kept in memory: after `--resume` the guard starts again from the first
resumed epoch. An EMA of the weights (`ema_momentum`) would not follow a restore, so the two
settings exclude each other (pipelines/extensions/adversarial.py checks).
"""
from __future__ import annotations

import keras
import numpy as np

from pipelines.extensions.attacks import Attack, perturb

CHECK_EXAMPLES = 512
CHECK_STEPS = 10


class CatastrophicOverfittingGuard(keras.callbacks.Callback):
    """Stops training and restores the best epoch's weights when PGD accuracy on `batches`
    (a list of (raw inputs, labels)) drops more than `drop` below its best."""

    def __init__(self, batches, epsilon, low, high, drop, seed=0):
        super().__init__()
        self.batches, self.low, self.high, self.drop = batches, low, high, float(drop)
        self.attack = Attack("pgd", float(epsilon), steps=CHECK_STEPS, random_start=True)
        self.seed = keras.random.SeedGenerator(seed)
        self.best_accuracy, self.best_epoch, self.best_weights = -1.0, None, None
        self.stopped_epoch = None

    def robust_accuracy(self):
        """PGD-10 accuracy over the check examples (per position for dense targets)."""
        right = total = 0
        for x, y in self.batches:
            adversarial = perturb(lambda batch: self.model(batch, training=False), x, y, self.attack,
                                  self.low, self.high, self.seed)
            predicted = np.argmax(np.asarray(self.model(adversarial, training=False)), axis=-1)
            labels = np.asarray(y).reshape(predicted.shape)
            right += int(np.sum(predicted == labels))
            total += labels.size
        return right / total

    def on_epoch_end(self, epoch, logs=None):
        accuracy = self.robust_accuracy()
        if logs is not None:
            logs["adversarial_check_accuracy"] = accuracy
        if accuracy >= self.best_accuracy:
            self.best_accuracy, self.best_epoch, self.best_weights = accuracy, epoch, self.model.get_weights()
        elif accuracy < self.best_accuracy - self.drop:
            self.model.set_weights(self.best_weights)
            self.model.stop_training = True
            self.stopped_epoch = epoch
            print(f"adversarial_guard: PGD-{CHECK_STEPS} accuracy on the check examples fell from "
                  f"{self.best_accuracy:.1%} (epoch {self.best_epoch + 1}) to {accuracy:.1%} (epoch {epoch + 1}): "
                  f"catastrophic overfitting; training stopped with epoch {self.best_epoch + 1}'s weights", flush=True)


def callbacks(pipeline, train_examples):
    """[the guard] of `pipeline`'s adversarial settings; `train_examples` the training split."""
    config, settings = pipeline.config, pipeline.config.adversarial
    low, high = pipeline.input_range()
    first = train_examples.take(range(min(CHECK_EXAMPLES, len(train_examples))))
    batches = list(pipeline.input_dataset(first, config.batch_size))  # unshuffled, unaugmented
    return [CatastrophicOverfittingGuard(batches, settings.epsilon, low, high, settings.guard, config.seed)]
