"""The attacks' loss and its input gradient against references written out here: log P(not the
true class) per example (averaged over positions for segmentation), finite where the true class
has probability exactly 1, and its gradient through a softmax-linear model in closed form."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.extensions.attacks import Attack, _random_start, bounds, input_gradient, objective, perturb


def test_the_objective_is_the_log_probability_of_the_wrong_classes():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 2])
    np.testing.assert_allclose(objective(probabilities, labels).numpy(), np.log([0.3, 0.2]), rtol=1e-6)


def test_segmentation_averages_over_positions_per_example():
    probabilities = np.array([  # (2 examples, 1 x 2 positions, 2 classes)
        [[[0.9, 0.1], [0.4, 0.6]]],
        [[[0.5, 0.5], [0.2, 0.8]]]], np.float32)
    labels = np.array([[[0, 1]], [[1, 1]]])
    expected = [np.mean(np.log([0.1, 0.4])), np.mean(np.log([0.5, 0.2]))]
    loss = objective(probabilities, labels).numpy()
    assert loss.shape == (2,)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_a_certain_true_class_still_gives_a_finite_loss():
    loss = objective(np.array([[1.0, 0.0]], np.float32), np.array([0])).numpy()
    assert np.isfinite(loss).all() and loss[0] < -80  # log(1e-37): very low, never NaN or -inf


_rng = np.random.default_rng(0)
WEIGHTS = _rng.normal(0.0, 0.5, (4, 3))  # logits of a few units: no saturation
X = _rng.normal(0.0, 1.0, (5, 4)).astype(np.float32)
LABELS = np.array([0, 1, 2, 0, 1])


def _predict(batch):
    return tf.nn.softmax(batch @ tf.constant(WEIGHTS, tf.float32))


def _closed_form_gradient(x=X, labels=LABELS):
    """predict = softmax(x W): d log(1 - p_y) / dx = -p_y (W_y - sum_k p_k W_k) / (1 - p_y), float64."""
    logits = x.astype(np.float64) @ WEIGHTS
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p_true = p[np.arange(len(x)), labels][:, None]
    return -p_true * (WEIGHTS.T[labels] - p @ WEIGHTS.T) / (1 - p_true)


def test_the_input_gradient_is_the_closed_form_one():
    gradient = input_gradient(_predict, tf.constant(X), LABELS).numpy()
    np.testing.assert_allclose(gradient, _closed_form_gradient(), rtol=1e-4, atol=1e-6)  # float32 against float64


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_one_step_moves_step_size_along_the_steepest_ascent(norm):
    """A PGD step shorter than epsilon is not projected: L-inf moves step * sign(g), L2 moves
    step * g / ||g|| (each example by its own gradient's length)."""

    moved = perturb(_predict, X, LABELS, Attack("pgd", 1.0, norm=norm, steps=1, step_size=0.3), -10.0, 10.0).numpy()
    gradient = _closed_form_gradient()
    if norm == "inf":
        expected = 0.3 * np.sign(gradient)
    else:
        expected = 0.3 * gradient / np.linalg.norm(gradient, axis=1, keepdims=True)
    np.testing.assert_allclose(moved - X, expected, rtol=1e-4, atol=1e-5)


def test_a_random_start_fills_the_linf_box():

    x = tf.zeros((2000, 3))
    start = _random_start(x, Attack("pgd", 4.0, random_start=True), keras.random.SeedGenerator(0), 4.0).numpy()
    assert np.abs(start).max() <= 4.0 and start.min() < -3.9 and start.max() > 3.9
    assert abs(start.mean()) < 0.1 and abs(start.std() - 4.0 / np.sqrt(3)) < 0.05  # uniform on [-4, 4]


def test_a_random_start_is_uniform_in_the_l2_ball():
    """In d = 2 dimensions a uniform point of the radius-eps disc lies within eps/2 with
    probability (1/2)^d = 1/4; every example draws its own radius and direction."""

    x = tf.zeros((4000, 2))
    start = _random_start(x, Attack("pgd", 3.0, norm="2", random_start=True), keras.random.SeedGenerator(0),
                          3.0).numpy()
    radius = np.linalg.norm(start, axis=1)
    assert radius.max() <= 3.0 * (1 + 1e-6) and radius.max() > 2.9
    assert abs((radius <= 1.5).mean() - 0.25) < 0.03
    assert np.abs(start.mean(0)).max() < 0.1  # no preferred direction
    angles = np.arctan2(start[:, 1], start[:, 0])
    assert abs((angles > 0).mean() - 0.5) < 0.03


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_an_attack_step_raises_the_objective(norm):
    """One FGSM step goes up the loss: every example's P(wrong) grows."""

    rng = np.random.default_rng(1)
    weights = tf.constant(rng.normal(0.0, 0.5, (4, 3)), tf.float32)
    predict = lambda batch: tf.nn.softmax(batch @ weights)  # noqa: E731
    x = rng.uniform(-1.0, 1.0, (6, 4)).astype(np.float32)  # within -5..5 after the step: no clipping
    labels = np.arange(6) % 3
    moved = perturb(predict, x, labels, Attack("fgsm", 0.1, norm=norm), -5.0, 5.0)
    before, after = objective(predict(x), labels).numpy(), objective(predict(moved), labels).numpy()
    assert (after > before).all(), (before, after)


def test_missing_bounds_are_each_examples_own_range():
    """Volumes have no fixed intensity range: a None bound is each example's own min or max."""

    x = tf.constant([[[1.0, -2.0], [3.0, 0.5]], [[10.0, 20.0], [15.0, 12.0]]])  # (2, 2, 2)
    low, high = bounds(x, None, None)
    assert low.shape == high.shape == (2, 1, 1)
    np.testing.assert_array_equal(low.numpy().ravel(), [-2.0, 10.0])
    np.testing.assert_array_equal(high.numpy().ravel(), [3.0, 20.0])
    low, high = bounds(x, 0.0, None)  # one given, one per example
    assert low.dtype == tf.float32 and float(low) == 0.0
    np.testing.assert_array_equal(high.numpy().ravel(), [3.0, 20.0])
    low, high = bounds(x, None, 255.0)
    np.testing.assert_array_equal(low.numpy().ravel(), [-2.0, 10.0])
    assert high.dtype == tf.float32 and float(high) == 255.0


def test_an_attack_without_bounds_stays_in_each_examples_range():

    rng = np.random.default_rng(2)
    weights = tf.constant(rng.normal(0.0, 0.5, (4, 3)), tf.float32)
    predict = lambda batch: tf.nn.softmax(batch / 100.0 @ weights)  # noqa: E731  (logits of a few units)
    x = np.stack([rng.uniform(0.0, 100.0, 4), rng.uniform(100.0, 200.0, 4)]).astype(np.float32)
    moved = perturb(predict, x, np.array([0, 1]), Attack("fgsm", 50.0)).numpy()
    assert (moved.min(1) >= x.min(1)).all() and (moved.max(1) <= x.max(1)).all()
    assert (np.abs(moved - x).max(1) > 10.0).all()  # each moved, within its own range


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_a_seeded_random_start_is_reproducible(norm):
    """The start follows the seed generator it is given (adversarial training is repeatable)."""
    x, attack = tf.zeros((3, 4)), Attack("pgd", 1.0, norm=norm, random_start=True)
    first, again = (_random_start(x, attack, keras.random.SeedGenerator(7), 1.0).numpy() for _ in range(2))
    other = _random_start(x, attack, keras.random.SeedGenerator(8), 1.0).numpy()
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.01


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_a_scaled_pgd_step_is_the_step_at_the_scaled_size(norm):
    """The warm-up's `scale` multiplies the step as well as epsilon: a 0.3 step at scale 0.5
    moves 0.15 along the steepest ascent (inside the scaled ball of 0.5, so not projected)."""
    attack = Attack("pgd", 1.0, norm=norm, steps=1, step_size=0.3)
    moved = perturb(_predict, X, LABELS, attack, -10.0, 10.0, scale=tf.constant(0.5)).numpy()
    gradient = _closed_form_gradient()
    direction = np.sign(gradient) if norm == "inf" else gradient / np.linalg.norm(gradient, axis=1, keepdims=True)
    np.testing.assert_allclose(moved - X, 0.15 * direction, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_a_random_start_is_the_seeded_start_then_the_step_from_there(norm):
    """PGD from a random start: the start is x plus the seeded generator's point of the ball (the
    same generator state gives the same start), then one step up the gradient at the start,
    projected back into the ball around x."""
    epsilon, step = 0.4, 0.3
    attack = Attack("pgd", epsilon, norm=norm, steps=1, step_size=step, random_start=True)
    moved = perturb(_predict, X, LABELS, attack, -10.0, 10.0, keras.random.SeedGenerator(3)).numpy()
    start = X + _random_start(tf.constant(X), attack, keras.random.SeedGenerator(3), epsilon).numpy()
    gradient = _closed_form_gradient(start)
    assert np.abs(gradient).min() > 1e-3  # every sign decided far above float32 rounding
    if norm == "inf":
        expected = np.clip(start - X + step * np.sign(gradient), -epsilon, epsilon)
    else:
        delta = start - X + step * gradient / np.linalg.norm(gradient, axis=1, keepdims=True)
        expected = delta * np.minimum(1.0, epsilon / np.linalg.norm(delta, axis=1, keepdims=True))
    np.testing.assert_allclose(moved - X, expected, rtol=1e-4, atol=1e-5)
    assert np.abs(start - X).max() > 0.1  # the start moved away from x: this is not the step from x
