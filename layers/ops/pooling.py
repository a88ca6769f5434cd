"""Rank-generic max and average pooling (windowed and global), backward written out.

Windows are gathered either by a reshape (when they tile the input: stride == pool size,
the common case, no copies) or by stacking strided views (overlapping windows).

Max pooling routes each dL/dz to one cell: the arg-max of its window; ties go to the first
maximal cell in row-major window order (deterministic). On tie-free inputs this is exactly
`tf.nn.max_pool`'s gradient. Padding cells hold the dtype's lowest value and never win.
Average pooling spreads dL/dz evenly over the window's real cells; padding cells are not
counted, as in Keras/TensorFlow SAME pooling.
"""
import math

import numpy as np
import tensorflow as tf

from layers.ops import geometry as geo


class _Windows:
    """Gathers (N, *P, C) into windows (N, *O, T, C) and scatters window values back.

    When windows tile the input the view is a reshape and transpose of the input; otherwise
    a stack of the T strided views. Keeping T on one axis keeps broadcasts against (N, *O, 1, C)
    simple enough for TensorFlow's kernels at every rank.
    """

    def __init__(self, geometry):
        self.geometry = geometry
        self.rank = len(geometry)
        self.tiling = geo.is_tiling(geometry)
        self.out = [g.out for g in geometry]
        self.taps = geo.num_taps(geometry)
        self.iota = np.arange(self.taps, dtype=np.int32).reshape([1] * (self.rank + 1) + [self.taps, 1])
        # (N, O1, k1, O2, k2, ..., C) <-> (N, O1, O2, ..., k1, k2, ..., C)
        self.to_windows = [0] + [1 + 2 * i for i in range(self.rank)] + [2 + 2 * i for i in range(self.rank)]
        self.to_windows.append(1 + 2 * self.rank)
        self.from_windows = list(np.argsort(self.to_windows))

    def gather(self, x_padded):
        channels = x_padded.shape[-1]
        if not self.tiling:
            views = [geo.window_slice(x_padded, self.geometry, o) for o in geo.window_offsets(self.geometry)]
            return tf.stack(views, axis=-2)
        crop = [slice(None)] + [slice(0, g.out * g.kernel) for g in self.geometry]
        split = [-1]
        for g in self.geometry:
            split += [g.out, g.kernel]
        x = tf.reshape(x_padded[tuple(crop)], split + [channels])
        return tf.reshape(tf.transpose(x, self.to_windows), [-1] + self.out + [self.taps, channels])

    def scatter(self, cols):
        """(N, *O, T, C) -> (N, *P, C), summing where windows overlap."""
        channels = cols.shape[-1]
        if self.tiling:
            kernel = [g.kernel for g in self.geometry]
            x = tf.transpose(tf.reshape(cols, [-1] + self.out + kernel + [channels]), self.from_windows)
            x = tf.reshape(x, [-1] + [g.out * g.kernel for g in self.geometry] + [channels])
            return geo.pad_amounts(x, [(0, g.padded - g.out * g.kernel) for g in self.geometry])
        total = None
        for t, offset in enumerate(geo.window_offsets(self.geometry)):
            spread = geo.dilate(cols[..., t, :], [g.stride for g in self.geometry])
            amounts = [
                (k * g.dilation, g.padded - (g.out - 1) * g.stride - 1 - k * g.dilation)
                for g, k in zip(self.geometry, offset)
            ]
            part = geo.pad_amounts(spread, amounts)
            total = part if total is None else total + part
        return total

    def first_max_mask(self, view, z):
        """True at the first (row-major) maximal cell of each window."""
        index = tf.where(tf.equal(view, z[..., None, :]), tf.constant(self.iota), self.taps)
        return tf.equal(index, tf.reduce_min(index, axis=-2, keepdims=True))


def _pool_geometry(x, pool_size, strides, padding, rank):
    sizes = geo.spatial_shape(x, rank)
    pool_size = geo.normalize_tuple(pool_size, rank, "pool_size")
    strides = geo.normalize_tuple(pool_size if strides is None else strides, rank, "strides")
    padding = geo.normalize_padding(padding)
    return [geo.axis_geometry(n, k, s, 1, padding) for n, k, s in zip(sizes, pool_size, strides)]


def _unpad(x, geometry):
    return geo.pad_amounts(x, [(-g.before, -g.after) for g in geometry])


def max_pool(x, pool_size, strides=None, padding="valid", rank=None):
    """x (N, *spatial, C) -> (N, *out, C): the maximum of each window."""
    rank = x.shape.rank - 2 if rank is None else rank
    geometry = _pool_geometry(x, pool_size, strides, padding, rank)
    windows = _Windows(geometry)
    lowest = x.dtype.min

    @tf.custom_gradient
    def _max_pool(x):
        view = windows.gather(geo.pad(x, geometry, value=lowest))
        z = tf.reduce_max(view, axis=-2)

        def backward(dz):
            routed = tf.where(windows.first_max_mask(view, z), dz[..., None, :], tf.zeros_like(view))
            return _unpad(windows.scatter(routed), geometry)

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
    windows = _Windows(geometry)
    counts = tf.constant(_window_counts(geometry), dtype=x.dtype)

    @tf.custom_gradient
    def _average_pool(x):
        view = windows.gather(geo.pad(x, geometry))
        z = tf.reduce_sum(view, axis=-2) / counts

        def backward(dz):
            spread = tf.broadcast_to((dz / counts)[..., None, :], tf.shape(view))
            return _unpad(windows.scatter(spread), geometry)

        return z, backward

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
