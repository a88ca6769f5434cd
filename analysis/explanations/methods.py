"""Explanation methods over a model split in two: `front` (served input -> features) and `head`
(features -> probabilities). Features are where a map lives: the served input itself for images
and volumes, the log-mel spectrogram for audio, the token embeddings for text (strings have no
gradient). Every gradient is the one the layers define: ours are hand-written dL/dx.

All maps are non-negative importances with the features' shape, the channel axis reduced when
the features have one: saliency max |g| (Simonyan et al. 2014), SmoothGrad |mean g| over noisy
copies (Smilkov et al. 2017), integrated gradients |sum (x - 0) * mean g| along the straight
path from a zero baseline (Sundararajan et al. 2017), Grad-CAM ReLU(sum_k w_k A_k) with w_k the
spatial mean of d score / d A_k (Selvaraju et al. 2017).

The score of class c is its probability, averaged over every output position when the model
predicts per position (segmentation), so one code path serves classifiers and segmenters.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf



def score(probabilities, target):
    """(B,) the probability of class `target` (an int, or one per example (B,)), averaged over
    positions: (B, ..., K) -> (B,)."""
    target = np.asarray(target)
    if target.ndim == 0:
        chosen = probabilities[..., int(target)]
    else:
        one_hot = tf.one_hot(target, probabilities.shape[-1], dtype=probabilities.dtype)  # (B, K)
        one_hot = tf.reshape(one_hot, [-1] + [1] * (probabilities.shape.rank - 2) + [probabilities.shape[-1]])
        chosen = tf.reduce_sum(probabilities * one_hot, axis=-1)
    axes = list(range(1, chosen.shape.rank))
    return tf.reduce_mean(chosen, axis=axes) if axes else chosen


def gradients(head, features, target):
    """d score / d features, same shape as `features`; examples are independent (inference), so
    the gradient of the summed scores is each example's own."""
    features = tf.cast(features, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(features)
        value = score(tf.cast(head(features), tf.float32), target)
    return tape.gradient(value, features)


def reduce_channels(values, channels):
    """(B, *spatial, C) -> (B, *spatial) by the largest magnitude when `channels`, else |values|."""
    values = np.abs(np.asarray(values, np.float32))
    return values.max(axis=-1) if channels else values


def saliency(head, features, target, channels=True):
    return reduce_channels(gradients(head, features, target), channels)


def _batched_gradients(head, copies, target, chunk=64):
    """Gradients of (N, *features) inputs with targets (N,), `chunk` at a time."""
    return np.concatenate([np.asarray(gradients(head, copies[i:i + chunk], target[i:i + chunk]))
                           for i in range(0, len(copies), chunk)])


def _per_example(target, count):
    return np.broadcast_to(np.asarray(target, np.int64), (count,))


def smoothgrad(head, features, target, channels=True, samples=16, noise=0.15, seed=0):
    """Gradients averaged over `samples` copies with Gaussian noise of `noise` times each
    example's value range."""
    features = np.asarray(features, np.float32)
    axes = tuple(range(1, features.ndim))
    sigma = noise * np.maximum(features.max(axis=axes, keepdims=True) - features.min(axis=axes, keepdims=True), 1e-6)
    noise_draws = np.random.default_rng(seed).standard_normal((samples, *features.shape)).astype(np.float32)
    noisy = (features + sigma * noise_draws).reshape(-1, *features.shape[1:])  # (samples * B, ...)
    targets = np.tile(_per_example(target, len(features)), samples)
    grads = _batched_gradients(head, noisy, targets).reshape(samples, *features.shape)
    return reduce_channels(grads.mean(axis=0), channels)


def integrated_gradients(head, features, target, channels=True, steps=32):
    """(x - baseline) * the mean gradient at `steps` midpoints of the path from baseline 0 to x:
    a Riemann sum whose total approaches score(x) - score(0) (completeness)."""
    features = np.asarray(features, np.float32)
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    path = (alphas.reshape(-1, *([1] * features.ndim)) * features).reshape(-1, *features.shape[1:])
    targets = np.tile(_per_example(target, len(features)), steps)
    grads = _batched_gradients(head, path, targets).reshape(steps, *features.shape)
    attributions = features * grads.mean(axis=0)
    attributions = attributions.sum(axis=-1) if channels else attributions
    return np.abs(attributions)


def gradcam(stage_model, inputs, target):
    """(B, *stage spatial) Grad-CAM at a convolution stage; `stage_model` maps the served input
    to (the stage's activations A (B, *spatial, K), probabilities). The gradient is taken with
    respect to A as computed in that one pass, so parallel branches (Kim's widths 3, 4, 5)
    and skip connections around the stage are all in it."""
    with tf.GradientTape() as tape:
        activations, probabilities = stage_model(inputs)
        value = score(tf.cast(probabilities, tf.float32), target)
    grads = tape.gradient(value, activations)
    activations = tf.cast(activations, tf.float32)
    weights = tf.reduce_mean(grads, axis=list(range(1, grads.shape.rank - 1)), keepdims=True)  # (B, 1.., K)
    return np.maximum(np.asarray(tf.reduce_sum(weights * activations, axis=-1)), 0.0)


def resize(map_, shape):
    """A map (B, *s) linearly resized to (B, *shape): the first len(s) axes are interpolated and
    any further axes broadcast (a Conv1D stage over time drawn over a time x mel spectrogram)."""
    from scipy import ndimage

    map_ = np.asarray(map_, np.float32)
    shape = tuple(int(s) for s in shape)
    leading = shape[:map_.ndim - 1]
    if tuple(map_.shape[1:]) != leading:
        zoom = (1.0, *(want / have for want, have in zip(leading, map_.shape[1:])))
        map_ = ndimage.zoom(map_, zoom, order=1, mode="nearest", grid_mode=True)
    extra = shape[len(leading):]
    map_ = map_.reshape(map_.shape + (1,) * len(extra))
    return np.broadcast_to(map_, (map_.shape[0], *shape)).copy()
