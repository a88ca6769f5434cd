"""Dice for segmentation: the training loss (soft Dice + cross-entropy) and the evaluation
metric (hard per-class Dice on whole volumes).

Why both terms in the loss: cross-entropy gives smooth per-voxel gradients from the first step;
soft Dice counters the class imbalance (hippocampus: ~5% foreground voxels) by scoring each
class by its overlap, whatever its size. nnU-Net uses the same sum. The soft Dice is a "batch
Dice": sums over all voxels of the batch before the ratio, which is stable when a patch lacks a
class.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

PACKAGE = "cnn_suite"


def soft_dice(labels, probabilities, num_classes, smooth=1e-5):
    """Per-class soft Dice (K,) of int labels (N, D, H, W) and probabilities (N, D, H, W, K)."""
    onehot = tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=probabilities.dtype)
    axes = list(range(probabilities.shape.rank - 1))
    intersection = tf.reduce_sum(onehot * probabilities, axis=axes)
    total = tf.reduce_sum(onehot, axis=axes) + tf.reduce_sum(probabilities, axis=axes)
    return (2.0 * intersection + smooth) / (total + smooth)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DiceCrossEntropy(keras.losses.Loss):
    """mean voxel cross-entropy + (1 - mean soft Dice of the foreground classes)."""

    def __init__(self, num_classes, dice_weight=1.0, include_background=False, name="dice_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.dice_weight = int(num_classes), float(dice_weight)
        self.include_background = bool(include_background)

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)  # (N, D, H, W, K) probabilities
        y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32)  # (N, D, H, W)
        cross_entropy = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(y_true, y_pred), axis=[1, 2, 3]
        )  # (N,)
        dice = soft_dice(y_true, y_pred, self.num_classes)
        first = 0 if self.include_background or self.num_classes == 1 else 1
        dice_loss = 1.0 - tf.reduce_mean(dice[first:])
        return cross_entropy + self.dice_weight * dice_loss  # (N,), reduced by Keras

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dice_weight": self.dice_weight,
                "include_background": self.include_background}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanDice(keras.metrics.Metric):
    """Hard Dice of the foreground classes over all voxels seen, averaged over classes (training
    log only; the reported Dice is computed on whole volumes by `dice_scores`)."""

    def __init__(self, num_classes, name="mean_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.intersection = self.add_weight(shape=(num_classes,), initializer="zeros", name="intersection")
        self.total = self.add_weight(shape=(num_classes,), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = tf.one_hot(tf.argmax(y_pred, axis=-1), self.num_classes)
        truth = tf.one_hot(tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32), self.num_classes)
        axes = list(range(y_pred.shape.rank - 1))
        self.intersection.assign_add(tf.reduce_sum(predicted * truth, axis=axes))
        self.total.assign_add(tf.reduce_sum(predicted, axis=axes) + tf.reduce_sum(truth, axis=axes))

    def result(self):
        dice = tf.math.divide_no_nan(2.0 * self.intersection, self.total)
        return tf.reduce_mean(dice[1:]) if self.num_classes > 1 else dice[0]

    def reset_state(self):
        self.intersection.assign(tf.zeros_like(self.intersection))
        self.total.assign(tf.zeros_like(self.total))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def dice_counts(label, prediction, num_classes):
    """(intersection (K,), |label|+|prediction| (K,)) voxel counts of two int volumes."""
    label, prediction = np.asarray(label).ravel(), np.asarray(prediction).ravel()
    both = np.bincount(label[label == prediction], minlength=num_classes)[:num_classes]
    total = np.bincount(label, minlength=num_classes)[:num_classes] + np.bincount(
        prediction, minlength=num_classes
    )[:num_classes]
    return both.astype(np.int64), total.astype(np.int64)


def dice_scores(label, prediction, num_classes):
    """Per-class hard Dice (K,) of one volume; a class absent from both scores 1.0."""
    both, total = dice_counts(label, prediction, num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * both / np.maximum(total, 1), 1.0)
