"""Gradient attacks on a model's raw input: FGSM (Goodfellow et al. 2015) and PGD (Madry et al.
2018) under an L-inf or L2 budget, in the units of the served input (pixels 0..255, waveform
amplitude, intensities), clipped to the input's valid range.

Domain-free: a `predict` function (batch of raw inputs -> probabilities), the labels, and the
range. The gradient is the model's own dL/dx, through our layers' hand-written backward.

The loss that is ascended is log P(not the true class), per position for segmentation: its
gradient points where cross-entropy's does (both are increasing functions of -P(true)), and
unlike log P(true) it is still non-zero when a confident softmax rounds P(true) to exactly 1.
"""
from __future__ import annotations

import dataclasses

from pipelines.core.suggest import did_you_mean

METHODS = ("fgsm", "pgd")
NORMS = ("inf", "2")
_TINY = 1e-37  # keeps log() finite when every wrong class underflows to 0


@dataclasses.dataclass(frozen=True)
class Attack:
    """One attack: method, budget `epsilon` (raw-input units) in `norm`, iterations, step."""

    method: str = "pgd"
    epsilon: float = 0.0
    norm: str = "inf"
    steps: int = 10  # PGD iterations (FGSM: always one)
    step_size: float | None = None  # None: FGSM epsilon (1.25 epsilon from a random start), PGD 2.5 epsilon / steps
    random_start: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            hint = did_you_mean(self.method, METHODS) or f" (known: {', '.join(METHODS)})"
            raise ValueError(f"--method {self.method}: unknown attack{hint}")
        if self.norm not in NORMS:
            hint = did_you_mean(self.norm, NORMS) or f" (known: {', '.join(NORMS)})"
            raise ValueError(f"--norm {self.norm}: unknown norm{hint}")
        if not self.epsilon >= 0 or self.epsilon == float("inf"):
            raise ValueError(f"--epsilon {self.epsilon}: must be a finite number >= 0")
        if self.method == "pgd" and not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"--steps {self.steps}: PGD needs at least 1 step")
        if self.step_size is not None and not 0 < self.step_size < float("inf"):
            raise ValueError(f"--step-size {self.step_size}: must be a finite number > 0")

    @property
    def iterations(self):
        return 1 if self.method == "fgsm" else self.steps

    @property
    def step(self):
        """The step length: the given one, else Wong et al.'s 1.25 epsilon for FGSM from a random
        start (epsilon without), and Madry et al.'s 2.5 epsilon / steps for PGD."""
        if self.step_size is not None:
            return self.step_size
        if self.method == "fgsm":
            return 1.25 * self.epsilon if self.random_start else self.epsilon
        return 2.5 * self.epsilon / self.steps


def parse_epsilons(text):
    """`--epsilon 0,25.5,76.5` -> (0.0, 25.5, 76.5); a ValueError naming the bad item."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"--epsilon {text}: '{part}' is not a number (give E1,E2,... in raw-input units)") from None
        if not 0 <= value < float("inf"):
            raise ValueError(f"--epsilon {text}: {part} must be a finite number >= 0")
        values.append(value)
    return tuple(values)


def objective(probabilities, labels):
    """Per-example attack loss (N,): log P(wrong class), averaged over positions (segmentation).
    `probabilities` (N, ..., K), `labels` (N, ...) integer classes."""
    import tensorflow as tf

    probabilities = tf.cast(probabilities, tf.float32)
    right = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(probabilities)[-1], dtype=tf.float32)
    wrong = tf.reduce_sum(probabilities * (1.0 - right), axis=-1)  # (N, ...)
    loss = tf.math.log(wrong + _TINY)
    return tf.reduce_mean(tf.reshape(loss, (tf.shape(loss)[0], -1)), axis=1)


def input_gradient(predict, x, labels):
    """d objective / d x (the same shape as x): one backward pass through the model."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = objective(predict(x), labels)
    return tape.gradient(loss, x)


def _per_example(fn, x):
    """fn over each example's values -> (N, 1, ..., 1) for broadcasting against x."""
    import tensorflow as tf

    flat = tf.reshape(x, (tf.shape(x)[0], -1))
    return tf.reshape(fn(flat), tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], 0))


def _l2(x):
    import tensorflow as tf

    return _per_example(lambda flat: tf.norm(flat, axis=1), x)


def bounds(x, low, high):
    """(low, high) broadcastable to x: the given numbers, or each example's own minimum and
    maximum where a bound is None (volumes: the data's own intensity range)."""
    import tensorflow as tf

    low = _per_example(lambda f: tf.reduce_min(f, axis=1), x) if low is None else tf.constant(low, x.dtype)
    high = _per_example(lambda f: tf.reduce_max(f, axis=1), x) if high is None else tf.constant(high, x.dtype)
    return low, high


def project(delta, epsilon, norm):
    """delta moved into the epsilon ball of `norm`."""
    import tensorflow as tf

    if norm == "inf":
        return tf.clip_by_value(delta, -epsilon, epsilon)
    length = _l2(delta)
    return delta * tf.minimum(1.0, epsilon / tf.maximum(length, 1e-12))


def _ascent(gradient, norm):
    """The steepest-ascent direction of unit `norm` length: sign (inf) or g / ||g||_2."""
    import tensorflow as tf

    if norm == "inf":
        return tf.sign(gradient)
    return gradient / tf.maximum(_l2(gradient), 1e-12)


def _random_start(x, attack, seed, epsilon):
    """A uniform point of the L-inf box, or of the L2 ball (uniform direction, radius eps u^(1/d))."""
    import keras
    import tensorflow as tf

    if attack.norm == "inf":
        return keras.random.uniform(tf.shape(x), -1.0, 1.0, dtype=x.dtype, seed=seed) * epsilon
    direction = keras.random.normal(tf.shape(x), dtype=x.dtype, seed=seed)
    direction /= tf.maximum(_l2(direction), 1e-12)
    size = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), x.dtype)
    radius = keras.random.uniform(tf.shape(_l2(x)), dtype=x.dtype, seed=seed) ** (1.0 / size)
    return direction * radius * epsilon


def perturb(predict, x, labels, attack, low=None, high=None, seed=None, scale=None):
    """Adversarial versions of the batch `x` (raw inputs): every result lies within `epsilon`
    of x in `attack.norm` and inside [low, high] (None: each example's own range).
    `predict` maps raw inputs to probabilities; `seed` a keras.random.SeedGenerator (random
    start); `scale` a scalar tensor in [0, 1] multiplying epsilon and the step (an epsilon
    schedule inside a traced training step). Core TF ops only: runs eagerly and in a graph."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    low, high = bounds(x, low, high)
    x = tf.clip_by_value(x, low, high)
    if attack.epsilon == 0:
        return x
    scale = tf.constant(1.0) if scale is None else tf.cast(scale, tf.float32)
    epsilon, step = attack.epsilon * scale, attack.step * scale
    delta = tf.zeros_like(x)
    if attack.random_start:
        delta = tf.clip_by_value(x + _random_start(x, attack, seed, epsilon), low, high) - x
    for _ in range(attack.iterations):  # unrolled: a few steps, static in a traced graph
        gradient = input_gradient(predict, x + delta, labels)
        delta = project(delta + step * _ascent(gradient, attack.norm), epsilon, attack.norm)
        delta = tf.clip_by_value(x + delta, low, high) - x  # in range; still inside the ball
    return tf.stop_gradient(x + delta)
