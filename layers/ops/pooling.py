"""Rank-generic max and average pooling (windowed and global), backward written out.

Both are separable: an N-D window is pooled one axis at a time, each axis as a 1D pooling of
the tensor viewed as (A, L, B) (A: the axes before, B: the axes after). This keeps every
intermediate small in rank and reads each window with k copies per axis instead of k^rank.

Max pooling routes each dL/dz to one cell: its window's arg-max. Ties go to the first maximal
cell in row-major window order, deterministically: each axis stage routes to the first maximum
along its axis, and composing the stages from the last axis to the first picks the
lexicographically smallest (k1, k2, ...) among the maximal cells. On tie-free inputs this is
exactly `tf.nn.max_pool`'s gradient. Padding cells hold the dtype's lowest value and never win.
Average pooling spreads dL/dz evenly over the window's real cells; padding cells are not
counted, as in Keras/TensorFlow SAME pooling.
"""
import math

import numpy as np
import tensorflow as tf

from layers.ops import geometry as geo


class _AxisWindows:
    """The windows of one axis, on tensors viewed as (A, L, B)."""

    def __init__(self, g):
        self.g = g

    def gather(self, x):
        """(A, P, B) padded -> (A, O, k, B)."""
        g = self.g
        if g.stride == g.kernel:  # windows tile the axis: a reshape, no copies
            if g.padded != g.out * g.kernel:
                x = x[:, : g.out * g.kernel]
            return tf.reshape(x, [-1, g.out, g.kernel, x.shape[-1]])
        reader = geo.TapReader(x, [g])  # (A, P, B) is a 1D "image" with B channels
        return tf.stack([reader((j,)) for j in range(g.kernel)], axis=2)

    def scatter(self, cols):
        """(A, O, k, B) -> (A, P, B), summing where windows overlap."""
        g = self.g
        if g.stride == g.kernel:
            x = tf.reshape(cols, [-1, g.out * g.kernel, cols.shape[-1]])
            if g.padded == g.out * g.kernel:
                return x
            return tf.pad(x, [[0, 0], [0, g.padded - g.out * g.kernel], [0, 0]])
        total = None
        for j in range(g.kernel):
            spread = geo.dilate(cols[:, :, j], [g.stride])  # (A, (O-1)*s+1, B)
            part = tf.pad(spread, [[0, 0], [j, g.padded - (g.out - 1) * g.stride - 1 - j], [0, 0]])
            total = part if total is None else total + part
        return total

    def max_with_winners(self, view):
        """(A, O, k, B) -> the window maxima (A, O, B) and, per tap j > 0, where tap j beats
        every earlier tap (strictly: on ties the earlier tap keeps the window)."""
        taps = tf.unstack(view, axis=2)
        z, beats = taps[0], []
        for tap in taps[1:]:
            beats.append(tf.greater(tap, z))
            z = tf.maximum(z, tap)
        return z, beats

    @staticmethod
    def route(dz, beats):
        """dz (A, O, B) to each window's winning tap -> (A, O, k, B)."""
        parts, taken = [], None
        zero = tf.zeros_like(dz)
        for beat in reversed(beats):  # the last tap that beat all before it wins
            wins = beat if taken is None else tf.logical_and(beat, tf.logical_not(taken))
            parts.append(tf.where(wins, dz, zero))
            taken = beat if taken is None else tf.logical_or(taken, beat)
        parts.append(dz if taken is None else tf.where(taken, zero, dz))
        return tf.stack(parts[::-1], axis=2)


class _AxisStage:
    """Pooling along tensor axis `axis` (1-based spatial) with geometry `g`."""

    def __init__(self, shape, axis, g):
        self.axis, self.g = axis, g
        self.windows = _AxisWindows(g)
        self.inner = math.prod(shape[axis + 1:])  # B
        self.in_shape = [-1] + list(shape[1:])
        self.out_shape = list(self.in_shape)
        self.out_shape[axis] = g.out

    def padded(self, x, fill):
        x = tf.reshape(x, [-1, self.g.size, self.inner])  # (A, L, B)
        if self.g.before == self.g.after == 0:
            return x
        return tf.pad(x, [[0, 0], [self.g.before, self.g.after], [0, 0]], constant_values=fill)

    def unpadded(self, dx):
        if self.g.padded != self.g.size:
            dx = dx[:, self.g.before: self.g.before + self.g.size]
        return tf.reshape(dx, self.in_shape)


def _stages(x, geometry):
    stages, shape = [], x.shape.as_list()
    for axis, g in enumerate(geometry, start=1):
        stage = _AxisStage(shape, axis, g)
        stages.append(stage)
        shape[axis] = g.out
    return stages


def _pool_geometry(x, pool_size, strides, padding, rank):
    sizes = geo.spatial_shape(x, rank)
    pool_size = geo.normalize_tuple(pool_size, rank, "pool_size")
    strides = geo.normalize_tuple(pool_size if strides is None else strides, rank, "strides")
    padding = geo.normalize_padding(padding)
    return [geo.axis_geometry(n, k, s, 1, padding) for n, k, s in zip(sizes, pool_size, strides)]


def max_pool(x, pool_size, strides=None, padding="valid", rank=None):
    """x (N, *spatial, C) -> (N, *out, C): the maximum of each window."""
    rank = x.shape.rank - 2 if rank is None else rank
    stages = _stages(x, _pool_geometry(x, pool_size, strides, padding, rank))
    lowest = x.dtype.min

    @tf.custom_gradient
    def _max_pool(x):
        saved, z = [], x
        for stage in stages:
            view = stage.windows.gather(stage.padded(z, lowest))  # (A, O, k, B)
            z3, beats = stage.windows.max_with_winners(view)  # (A, O, B)
            saved.append(beats)
            z = tf.reshape(z3, stage.out_shape)

        def backward(dz):
            for stage, beats in zip(reversed(stages), reversed(saved)):
                dz3 = tf.reshape(dz, [-1, stage.g.out, stage.inner])
                routed = stage.windows.route(dz3, beats)
                dz = stage.unpadded(stage.windows.scatter(routed))
            return dz

        return z, backward

    return _max_pool(x)


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


def average_pool(x, pool_size, strides=None, padding="valid", rank=None):
    """x (N, *spatial, C) -> (N, *out, C): the mean of each window's real cells."""
    rank = x.shape.rank - 2 if rank is None else rank
    geometry = _pool_geometry(x, pool_size, strides, padding, rank)
    stages = _stages(x, geometry)
    counts = tf.constant(_window_counts(geometry), dtype=x.dtype)

    @tf.custom_gradient
    def _average_pool(x):
        z = x
        for stage in stages:
            z = tf.reshape(tf.reduce_sum(stage.windows.gather(stage.padded(z, 0)), axis=2), stage.out_shape)

        def backward(dz):
            dz = dz / counts
            for stage in reversed(stages):
                dz3 = tf.reshape(dz, [-1, stage.g.out, 1, stage.inner])
                spread = tf.broadcast_to(dz3, [tf.shape(dz3)[0], stage.g.out, stage.g.kernel, stage.inner])
                dz = stage.unpadded(stage.windows.scatter(spread))
            return dz

        return z / counts, backward

    return _average_pool(x)


def _flatten_spatial(x):
    """(N, *spatial, C) -> (N, S, C) with static S and C."""
    size = math.prod(x.shape[1:-1])
    return tf.reshape(x, [-1, size, x.shape[-1]])


def global_max_pool(x):
    """(N, *spatial, C) -> (N, C); the gradient goes to the first maximal cell per channel."""
    if x.shape.rank is None or x.shape.rank < 3:
        raise ValueError(f"Expected (batch, spatial..., channels); received shape {tuple(x.shape)}.")
    shape = [-1] + x.shape[1:].as_list()

    @tf.custom_gradient
    def _global_max_pool(x):
        flat = _flatten_spatial(x)  # (N, S, C)
        z = tf.reduce_max(flat, axis=1)

        def backward(dz):
            iota = tf.range(flat.shape[1])[None, :, None]
            index = tf.where(tf.equal(flat, z[:, None, :]), iota, flat.shape[1])
            first = tf.equal(index, tf.reduce_min(index, axis=1, keepdims=True))
            routed = tf.where(first, dz[:, None, :], tf.zeros_like(flat))
            return tf.reshape(routed, shape)

        return z, backward

    return _global_max_pool(x)


def global_average_pool(x):
    """(N, *spatial, C) -> (N, C); the gradient is spread evenly."""
    if x.shape.rank is None or x.shape.rank < 3:
        raise ValueError(f"Expected (batch, spatial..., channels); received shape {tuple(x.shape)}.")
    shape = [-1] + x.shape[1:].as_list()
    size = math.prod(x.shape[1:-1])

    @tf.custom_gradient
    def _global_average_pool(x):
        z = tf.reduce_sum(_flatten_spatial(x), axis=1) / tf.cast(size, x.dtype)

        def backward(dz):
            spread = tf.broadcast_to((dz / tf.cast(size, dz.dtype))[:, None, :], [tf.shape(dz)[0], size, dz.shape[-1]])
            return tf.reshape(spread, shape)

        return z, backward

    return _global_average_pool(x)
