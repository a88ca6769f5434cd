"""The segmentation numbers a wrong answer would hide in: the training metric MeanDice, the
Dice + cross-entropy loss per example and per option, the soft Dice of an absent class, and the
sliding window's grid and padding. Every expected value is written out from its definition."""
import numpy as np
import pytest
import tensorflow as tf

from pipelines.volumes import inference as sliding_window, losses as dice


def _probabilities(predicted, num_classes):
    """(N, D, H, W, K) probabilities whose argmax is `predicted` (N, D, H, W), not one-hot."""
    return tf.constant(np.eye(num_classes)[predicted] * 0.5 + 0.5 / num_classes, tf.float32)


def test_mean_dice_counts_every_voxel_seen_and_averages_the_foreground():
    metric = dice.MeanDice(3)
    labels = np.array([[[[0, 1], [1, 2]]]])  # (1, 1, 2, 2)
    predicted = np.array([[[[0, 1], [2, 2]]]])
    metric.update_state(tf.constant(labels[..., None]), _probabilities(predicted, 3))  # labels (N, D, H, W, 1)
    # class 1: 2*1 / (2 + 1); class 2: 2*1 / (1 + 2)
    np.testing.assert_allclose(float(metric.result()), (2 / 3 + 2 / 3) / 2, rtol=1e-6)
    metric.update_state(tf.constant(np.array([[[[1, 1], [0, 0]]]])), _probabilities(np.array([[[[1, 0], [0, 0]]]]), 3))
    # totals: class 1 intersection 2+1, sizes 3+2 and 2+1; class 2: 1, 1+2 and 0+0
    np.testing.assert_allclose(metric.intersection.numpy(), [1 + 2, 1 + 1, 1])
    np.testing.assert_allclose(metric.total.numpy(), [2 + 5, 3 + 3, 3])
    np.testing.assert_allclose(float(metric.result()), (2 * 2 / 6 + 2 * 1 / 3) / 2, rtol=1e-6)
    metric.reset_state()
    assert metric.intersection.numpy().tolist() == [0, 0, 0] and metric.total.numpy().tolist() == [0, 0, 0]
    assert float(metric.result()) == 0.0  # nothing seen: 0, not NaN
    restored = dice.MeanDice.from_config(metric.get_config())
    assert restored.num_classes == 3 and restored.name == "mean_dice"
    assert restored.intersection.shape == (3,) and restored.total.shape == (3,)


def test_mean_dice_is_the_mean_over_the_foreground_classes_only():
    three = dice.MeanDice(3)
    three.update_state(tf.constant([[[[1, 1, 2, 0]]]]), _probabilities(np.array([[[[1, 1, 2, 2]]]]), 3))
    np.testing.assert_allclose(float(three.result()), (1.0 + 2 / 3) / 2, rtol=1e-6)  # class 0 scores 0
    two = dice.MeanDice(2)
    two.update_state(tf.constant([[[[0, 1, 1, 0]]]]), _probabilities(np.array([[[[0, 1, 0, 0]]]]), 2))
    np.testing.assert_allclose(float(two.result()), 2 / 3, rtol=1e-6)  # class 1 only; class 0 has 4/5


def test_mean_dice_of_one_class_is_that_class():
    metric = dice.MeanDice(1, name="dice", dtype="float64")
    metric.update_state(tf.zeros((1, 2, 2, 2)), tf.ones((1, 2, 2, 2, 1)))
    assert metric.name == "dice" and metric.dtype == "float64" and float(metric.result()) == 1.0


def test_dice_counts_are_integer_voxel_counts():
    both, total = dice.dice_counts(np.array([[0, 1, 1, 2]]), np.array([[0, 1, 2, 2]]), 3)
    assert both.dtype == np.int64 and total.dtype == np.int64
    assert both.tolist() == [1, 1, 1] and total.tolist() == [2, 3, 3]


def test_dice_cross_entropy_is_per_example_and_honours_its_options():
    labels = tf.constant(np.array([[[[0, 1], [2, 1]]], [[[0, 0], [0, 0]]]]), tf.int32)  # (2, 1, 2, 2)
    uniform = tf.fill((2, 1, 2, 2, 3), 1 / 3)
    # soft Dice over the batch: class 0: 2*(5/3)/(5+8/3) = 10/23; class 1: 2*(2/3)/(2+8/3) = 2/7;
    # class 2: 2*(1/3)/(1+8/3) = 2/11
    background, first, second = 10 / 23, 2 / 7, 2 / 11
    per_example = dice.DiceCrossEntropy(3, reduction=None)(labels, uniform).numpy()
    assert per_example.shape == (2,)
    np.testing.assert_allclose(per_example, np.full(2, np.log(3) + 1 - (first + second) / 2), rtol=1e-5)
    # the second example: P(0) = 0.8 at each of its voxels, all labelled 0; the soft Dice is the batch's
    confident_zero = tf.concat([uniform[:1], tf.constant(np.broadcast_to([0.8, 0.1, 0.1], (1, 1, 2, 2, 3)),
                                                         tf.float32)], 0)
    onehot, p = np.eye(3)[labels.numpy()], confident_zero.numpy()
    soft = 2 * (onehot * p).sum((0, 1, 2, 3)) / (onehot.sum((0, 1, 2, 3)) + p.sum((0, 1, 2, 3)))
    np.testing.assert_allclose(dice.DiceCrossEntropy(3, reduction=None)(labels, confident_zero).numpy(),
                               [np.log(3) + 1 - soft[1:].mean(), -np.log(0.8) + 1 - soft[1:].mean()], rtol=1e-5)
    weighted = dice.DiceCrossEntropy(3, dice_weight=0.25, include_background=True)
    np.testing.assert_allclose(float(weighted(labels, uniform)),
                               np.log(3) + 0.25 * (1 - (background + first + second) / 3), rtol=1e-5)
    config = weighted.get_config()
    assert (config["num_classes"], config["dice_weight"], config["include_background"]) == (3, 0.25, True)
    assert dice.DiceCrossEntropy.from_config(config).include_background is True
    assert dice.DiceCrossEntropy(3).name == "dice_ce"
    confident = tf.constant(np.eye(2)[np.array([[[[0, 1]]]])] * 0.8 + 0.1, tf.float32)  # right, p = 0.9
    single = dice.DiceCrossEntropy(1)(tf.zeros((1, 1, 1, 2), tf.int32), tf.ones((1, 1, 1, 2, 1)))
    assert abs(float(single)) < 1e-5  # one class: its own Dice (perfect), not an empty mean
    two = dice.DiceCrossEntropy(2)(tf.constant([[[[0, 1]]]]), confident)
    np.testing.assert_allclose(float(two), -np.log(0.9) + 1 - 2 * 0.9 / (1 + 1.0), rtol=1e-5)


def test_soft_dice_of_a_class_absent_from_labels_and_predictions_is_one():
    labels = tf.constant([[[[0, 0]]]])
    probabilities = tf.constant([[[[[1.0, 0.0], [1.0, 0.0]]]]])
    np.testing.assert_allclose(dice.soft_dice(labels, probabilities, 2).numpy(), [1.0, 1.0])
    wrong = tf.constant([[[[[0.0, 1.0], [0.0, 1.0]]]]])
    np.testing.assert_allclose(dice.soft_dice(labels, wrong, 2, smooth=1.0).numpy(), [1 / 3, 1 / 3], rtol=1e-6)
    in_float64 = dice.soft_dice(labels, tf.cast(wrong, tf.float64), 2, smooth=1.0)  # in the probabilities' dtype
    assert in_float64.dtype == tf.float64
    np.testing.assert_allclose(in_float64.numpy(), [1 / 3, 1 / 3], rtol=1e-12)


@pytest.mark.parametrize("size, window, overlap, starts", [
    (16, 16, 0.5, [0]),
    (17, 16, 0.5, [0, 1]),
    (40, 10, 0.0, [0, 10, 20, 30]),
    (41, 10, 0.0, [0, 8, 16, 23, 31]),  # 5 windows 7.75 apart, rounded, the last flush with the edge
    (10, 4, 0.75, [0, 1, 2, 3, 4, 5, 6]),
    (10, 4, 0.9, [0, 1, 2, 3, 4, 5, 6]),  # the step is at least one voxel
])
def test_window_starts_cover_the_axis_with_the_last_window_at_the_edge(size, window, overlap, starts):
    assert sliding_window.window_starts(size, window, overlap) == starts


def test_a_small_volume_is_padded_evenly_with_its_minimum_and_cut_back():
    volume = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5) + 7
    padded, keep = sliding_window.pad_volume(volume, (7, 4, 5))
    assert padded.shape == (7, 4, 5)
    assert keep == (slice(2, 4), slice(0, 3), slice(0, 5))  # 5 slices: 2 before, 3 after; 1 row: after
    np.testing.assert_array_equal(padded[keep], volume)
    outside = np.ones(padded.shape, bool)
    outside[keep] = False
    assert set(padded[outside].tolist()) == {7.0}


def test_overlapping_windows_are_averaged_voxel_by_voxel():
    calls = []

    def predict(batch):  # each window answers with the index of its call: averages show the overlap
        calls.append(len(batch))
        index = float(len(calls))
        return np.stack([np.full(batch.shape[1:4], index), np.full(batch.shape[1:4], batch.shape[0])], -1)[None] \
            .repeat(len(batch), 0)

    out = sliding_window.predict_volume(predict, np.zeros((1, 1, 6)), (1, 1, 4), overlap=0.5, batch_size=1)
    # windows at 0 and 2, one per call: voxels 0-1 see call 1, 2-3 both (mean 1.5), 4-5 call 2
    np.testing.assert_allclose(out[0, 0, :, 0], [1, 1, 1.5, 1.5, 2, 2])
    assert calls == [1, 1]
    calls.clear()
    out = sliding_window.predict_volume(predict, np.zeros((1, 1, 6)), (1, 1, 4), overlap=0.5, batch_size=4)
    assert calls == [2] and out.shape == (1, 1, 6, 2)
    np.testing.assert_allclose(out[0, 0, :, 1], 2)


def test_predict_volume_by_default_overlaps_half_a_window_in_batches_of_four():
    seen = []

    def predict(batch):  # three classes: the window's mean, and two constants
        seen.append((len(batch), batch.dtype))
        mean = batch.mean(axis=(1, 2, 3, 4), keepdims=True)[..., 0]
        return np.stack([np.broadcast_to(mean, batch.shape[:4]), np.ones(batch.shape[:4]),
                         np.zeros(batch.shape[:4])], -1)

    volume = np.arange(16, dtype=np.int64).reshape(1, 1, 16)  # integers: the model still gets float32
    out = sliding_window.predict_volume(predict, volume, (1, 1, 4))
    assert seen == [(4, np.float32), (3, np.float32)]  # 7 windows, 2 apart: 0, 2, .., 12
    assert out.shape == (1, 1, 16, 3) and out.dtype == np.float32
    means = [1.5 + 2 * i for i in range(7)]  # window i covers 2i .. 2i + 3
    expected = [means[0]] * 2 + [(means[i] + means[i + 1]) / 2 for i in range(6) for _ in (0, 1)] + [means[6]] * 2
    np.testing.assert_allclose(out[0, 0, :, 0], expected)
    np.testing.assert_array_equal(out[..., 1:], np.broadcast_to([1.0, 0.0], (1, 1, 16, 2)))
    seen.clear()
    along_depth = sliding_window.predict_volume(predict, volume.reshape(16, 1, 1), (4, 1, 1))  # each axis its own
    assert seen == [(4, np.float32), (3, np.float32)]
    np.testing.assert_allclose(along_depth[:, 0, 0], out[0, 0])
