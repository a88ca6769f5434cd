"""Separable average pooling: one spatial axis at a time, backward written out.

A window's real (non-padding) cells form a box, so its mean is the mean along the first axis
of the means along the second, and so on, each divided by that axis's real-cell count
(padding is not counted, as in Keras/TensorFlow SAME pooling). The backward spreads each
axis's dL/dz / count over that axis's taps, outer axis first.

Why: like max pooling (`max_pool.py`), sum(k) output-sized passes instead of prod(k).
"""
import numpy as np
import tensorflow as tf

from layers.ops import axis_windows


def _counts(g, axis, rank, dtype):
    """Real cells in each window along this axis, shaped to broadcast: (1, .., out, .., 1)."""
    start = np.arange(g.out) * g.stride - g.before
    counts = np.minimum(start + g.kernel, g.size) - np.maximum(start, 0)
    shape = [1] * (rank + 2)
    shape[axis] = g.out
    return tf.constant(counts.reshape(shape), dtype)


def average_pool(x, geometry):
    """x (N, *spatial, C) -> (N, *out, C), pooled along the last spatial axis first."""
    rank = len(geometry)
    axes = list(reversed(range(1, rank + 1)))
    counts = {axis: _counts(geometry[axis - 1], axis, rank, x.dtype) for axis in axes}

    @tf.custom_gradient
    def _average_pool(x):
        z = x
        for axis in axes:
            z = tf.add_n(axis_windows.taps(z, geometry[axis - 1], axis)) / counts[axis]

        def backward(dz):
            for axis in reversed(axes):
                g = geometry[axis - 1]
                dz = axis_windows.scatter([dz / counts[axis]] * g.kernel, g, axis)
            return dz

        return z, backward

    return _average_pool(x)
