"""Rank-generic max and average pooling (windowed and global), backward written out.

Windowed pooling takes one of two algorithms, chosen from the static geometry (`algorithm`):
- separable: one spatial axis at a time (`max_pool.py`, `average_pool.py`), each axis's taps
  read as unit-stride slices of its stride phases: sum(k) output-sized passes, not prod(k).
  Max pooling takes it on every shape; average pooling on overlapping or gapped windows;
- tiles: average pooling over windows that tile the input (stride = pool size, SAME padding
  or sizes the windows divide) is one reshape, one transpose and one sum, and the backward
  their inverse (measured faster there than separable: 1.2x vs 1.5x Keras's time).
Max pooling routes dL/dz to each window's first maximal cell in row-major window order
(ties included); on tie-free inputs this is exactly `tf.nn.max_pool`'s gradient. Average
pooling spreads dL/dz evenly over the window's real cells; padding cells are not counted, as
in Keras/TensorFlow SAME pooling.
"""
import math

import numpy as np
import tensorflow as tf

from layers.ops import geometry as geo
from layers.ops import average_pool as separable_average
from layers.ops import max_pool as separable_max


def algorithm(mode, geometry):
    """'separable' or 'tiles' for these windows (decided at trace time); mode 'max' or 'average'."""
    tiles = all(g.stride == g.kernel and g.padded >= g.out * g.kernel for g in geometry)
    return "tiles" if tiles and mode == "average" else "separable"


class _Tiles:
    """Windows that tile the (padded) input: (N, O1, k1, O2, k2, .., C) <-> (N, *O, T, C)."""

    def __init__(self, geometry, channels):
        rank = len(geometry)
        self.geometry, self.channels = geometry, channels
        self.split = [d for g in geometry for d in (g.out, g.kernel)]
        self.perm = [0] + list(range(1, 2 * rank, 2)) + list(range(2, 2 * rank + 1, 2)) + [2 * rank + 1]
        self.inverse = list(np.argsort(self.perm))

    def gather(self, x_padded):
        x = x_padded[(slice(None),) + tuple(slice(0, g.out * g.kernel) for g in self.geometry)]
        x = tf.transpose(tf.reshape(x, [-1] + self.split + [self.channels]), self.perm)
        return tf.reshape(x, [-1] + [g.out for g in self.geometry] + [math.prod(g.kernel for g in self.geometry), self.channels])

    def scatter(self, cols):
        kernel = [g.kernel for g in self.geometry]
        x = tf.reshape(cols, [-1] + [g.out for g in self.geometry] + kernel + [self.channels])
        x = tf.reshape(tf.transpose(x, self.inverse), [-1] + [g.out * g.kernel for g in self.geometry] + [self.channels])
        return geo.pad_amounts(x, [(0, g.padded - g.out * g.kernel) for g in self.geometry])


def _pool_geometry(x, pool_size, strides, padding, rank):
    sizes = geo.spatial_shape(x, rank)
    pool_size = geo.normalize_tuple(pool_size, rank, "pool_size")
    strides = geo.normalize_tuple(pool_size if strides is None else strides, rank, "strides")
    padding = geo.normalize_padding(padding)
    return [geo.axis_geometry(n, k, s, 1, padding) for n, k, s in zip(sizes, pool_size, strides)]


def _unpad(x_padded, geometry):
    return x_padded[(slice(None),) + tuple(slice(g.before, g.before + g.size) for g in geometry)]


def max_pool(x, pool_size, strides=None, padding="valid", rank=None, compiled=False):
    """x (N, *spatial, C) -> (N, *out, C): the maximum of each window. `compiled` (training):
    XLA-fused, whole windows in 3D and on padded 2D windows (layers.ops.max_pool)."""
    rank = x.shape.rank - 2 if rank is None else rank
    return separable_max.max_pool(x, _pool_geometry(x, pool_size, strides, padding, rank), compiled)


def _window_counts(geometry):
    """Real (non-padding) cells per window, (1, *O, 1): separable, so an outer product."""
    counts = np.ones([1] * (len(geometry) + 2), dtype=np.float64)
    for i, g in enumerate(geometry):
        start = np.arange(g.out) * g.stride - g.before
        per_axis = np.minimum(start + g.kernel, g.size) - np.maximum(start, 0)
        shape = [1] * (len(geometry) + 2)
        shape[i + 1] = g.out
        counts = counts * per_axis.reshape(shape)
    return counts


def average_pool(x, pool_size, strides=None, padding="valid", rank=None, compiled=False):
    """x (N, *spatial, C) -> (N, *out, C): the mean of each window's real cells. `compiled`
    (training): separable pooling runs XLA-fused (layers.ops.average_pool)."""
    rank = x.shape.rank - 2 if rank is None else rank
    geometry = _pool_geometry(x, pool_size, strides, padding, rank)
    if algorithm("average", geometry) == "separable":
        return separable_average.average_pool(x, geometry, compiled)
    windows = _Tiles(geometry, x.shape[-1])
    counts = tf.constant(_window_counts(geometry), dtype=x.dtype)  # (1, *O, 1)
    taps = math.prod(g.kernel for g in geometry)

    @tf.custom_gradient
    def _average_pool(x):
        z = tf.reduce_sum(windows.gather(geo.pad(x, geometry)), axis=-2) / counts

        def backward(dz):
            share = (dz / counts)[..., None, :]  # (N, *O, 1, C)
            spread = tf.broadcast_to(share, tf.concat([tf.shape(share)[:-2], [taps, share.shape[-1]]], 0))
            return _unpad(windows.scatter(spread), geometry)

        return z, backward

    return _average_pool(x)


def _flatten_spatial(x):
    """(N, *spatial, C) -> (N, S, C); the spatial sizes may be unknown (Keras allows it here)."""
    return tf.reshape(x, [tf.shape(x)[0], -1, x.shape[-1]])


def _check_rank(x):
    if x.shape.rank is None or x.shape.rank < 3:
        raise ValueError(f"Expected (batch, spatial..., channels); received shape {tuple(x.shape)}.")


def global_max_pool(x):
    """(N, *spatial, C) -> (N, C); the gradient goes to the first maximal cell per channel."""
    _check_rank(x)

    @tf.custom_gradient
    def _global_max_pool(x):
        flat = _flatten_spatial(x)  # (N, S, C)
        winner = tf.argmax(flat, axis=1, output_type=tf.int32)  # (N, C): the first maximal cell
        z = tf.reduce_max(flat, axis=1)

        def backward(dz):
            routed = tf.one_hot(winner, tf.shape(flat)[1], axis=1, dtype=dz.dtype) * dz[:, None, :]
            return tf.reshape(routed, tf.shape(x))

        return z, backward

    return _global_max_pool(x)


def global_average_pool(x, mask=None):
    """(N, *spatial, C) -> (N, C); the gradient is spread evenly.

    mask (N, *spatial), optional: only its true cells count (a padded sequence's real steps).
    Without one, a sum scaled once and a broadcast back: no weighted copy of x (measured, oneDNN
    on, (128, 7^2, 512): the weighted sum took 2.45x Keras's step).
    """
    _check_rank(x)
    if mask is None:
        return _global_mean(x)
    cells = tf.cast(tf.reshape(mask, [tf.shape(x)[0], -1, 1]), x.dtype)  # (N, S, 1)
    weights = cells / tf.reduce_sum(cells, axis=1, keepdims=True)

    @tf.custom_gradient
    def _global_average_pool(x):
        z = tf.reduce_sum(_flatten_spatial(x) * weights, axis=1)

        def backward(dz):
            return tf.reshape(dz[:, None, :] * weights, tf.shape(x))

        return z, backward

    return _global_average_pool(x)


@tf.custom_gradient
def _global_mean(x):
    """(N, *spatial, C) -> (N, C): every cell weighs 1/S."""
    flat = _flatten_spatial(x)  # (N, S, C)
    share = 1 / tf.cast(tf.shape(flat)[1], x.dtype)
    z = tf.reduce_sum(flat, axis=1) * share

    def backward(dz):
        return tf.broadcast_to(tf.reshape(dz * share, [tf.shape(x)[0]] + [1] * (x.shape.rank - 2) + [x.shape[-1]]),
                               tf.shape(x))

    return z, backward
