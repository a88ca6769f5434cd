"""`attacks.project`: a perturbation inside the epsilon ball comes back unchanged, one outside is
moved onto the ball (L2: scaled along its own direction; L-inf: each value clipped), per example.

Every number here is exact in float32 (small integers, 3-4-5 and 5-12-13 triangles), so the
checks hold to float32 rounding on any CPU."""
import numpy as np
import pytest
import tensorflow as tf

from pipelines.extensions.attacks import project

RTOL = 4 * np.finfo(np.float32).eps  # a norm, a division and a product, each rounded once


def _batch(*examples):
    return tf.constant(np.array(examples, np.float32)[..., None])  # (N, 2, 1): each example a 2x1 "image"


@pytest.mark.parametrize("norm, inside", [("2", [3.0, 4.0]), ("2", [0.3, -0.4]), ("2", [0.0, 0.0]),
                                          ("inf", [5.0, -5.0]), ("inf", [-2.5, 4.9])])
def test_a_perturbation_inside_the_ball_comes_back_unchanged(norm, inside):
    delta = _batch(inside)  # L2 length 5 (on the sphere), 0.5 and 0; L-inf size 5 and 4.9: epsilon is 5
    np.testing.assert_allclose(project(delta, 5.0, norm).numpy(), delta.numpy(), rtol=RTOL, atol=0)


def test_l2_scales_an_outside_perturbation_onto_the_sphere_along_its_own_direction():
    delta = _batch([6.0, 8.0], [5.0, -12.0], [0.3, 0.4])  # lengths 10, 13, 0.5
    projected = project(delta, 5.0, "2").numpy()[..., 0]
    expected = [[3.0, 4.0], [5 * 5 / 13, -12 * 5 / 13], [0.3, 0.4]]  # each example scaled by its own length
    np.testing.assert_allclose(projected, expected, rtol=RTOL, atol=0)
    np.testing.assert_allclose(np.linalg.norm(projected[:2], axis=-1), 5.0, rtol=RTOL)


def test_linf_clips_each_value_to_the_box():
    delta = _batch([7.0, -1.0], [-9.0, 4.0])
    np.testing.assert_array_equal(project(delta, 5.0, "inf").numpy()[..., 0], [[5.0, -1.0], [-5.0, 4.0]])


def test_a_scalar_tensor_epsilon_projects_as_the_number_does():
    """Inside a traced training step epsilon is a tensor (the warm-up's scaled epsilon)."""
    delta = _batch([6.0, 8.0], [0.3, 0.4])
    projected = tf.function(lambda d, e: project(d, e, "2"))(delta, tf.constant(5.0)).numpy()
    np.testing.assert_allclose(projected[..., 0], [[3.0, 4.0], [0.3, 0.4]], rtol=RTOL, atol=0)


def test_l2_scales_by_the_true_length_when_the_budget_is_below_one():
    """Budgets below 1 (a waveform's amplitude units): each example's own length sets the scale,
    however short (3-4-5 triangles of binary fractions: exact in float32)."""
    delta = _batch([0.375, 0.5], [-0.09375, 0.125])  # lengths 0.625 and 0.15625
    projected = project(delta, 0.078125, "2").numpy()[..., 0]  # epsilon 5/64: scaled by 1/8 and 1/2
    np.testing.assert_allclose(projected, [[0.046875, 0.0625], [-0.046875, 0.0625]], rtol=RTOL, atol=0)
