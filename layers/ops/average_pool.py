"""Separable average pooling: one spatial axis at a time, backward written out.

A window's real (non-padding) cells form a box, so its mean is the mean along the first axis
of the means along the second, and so on, each divided by that axis's real-cell count
(padding is not counted, as in Keras/TensorFlow SAME pooling). Each axis takes one of two
steps, chosen from its static length (`axis_step`):
- matrix: the axis's means are a constant (out, size) matrix, applied as one batched matmul
  over the reshaped input (no slices, pads or stacks: the data-movement ops that dominate the
  taps step, measured 3-5x an elementwise op's time here); its backward is the transposed
  matrix. Its arithmetic grows with the axis (out * size per column), so long axes keep taps;
- taps: the k taps read as unit-stride slices of the stride phases (`axis_windows`), summed;
  the backward spreads dL/dz / count over them. sum(k) output-sized passes, not prod(k).

In training (`compiled`), every axis takes the taps step, outer axis first, with the forward
and the backward each compiled by XLA into fused loops: the pads, slices and sums then no
longer make a pass over memory each ((32, 35^2, 64) 3x3/2 SAME, whole step: 20.3 -> 7.4 ms,
TensorFlow's fused AvgPool 5.5). Inference keeps plain TensorFlow ops, so an export never
holds an XLA-compiled function (TF Serving's CPU JIT is off by default).
"""
import functools
import math

import numpy as np
import tensorflow as tf

from layers.ops import axis_windows

MATRIX_SIZE_PER_TAP = 12  # the matrix step up to 12 cells per window tap (measured, against
# taps, one process: 35 cells k3/2 0.56x, 3D 32 k3/2 0.41x; 64 k3/2 1.28x, 3D 28 k2/1 1.22x)


def axis_step(g):
    """'matrix' or 'taps' for this axis's geometry (decided at trace time): the matrix step
    does size/k times the taps' arithmetic, which pays while the axis is short."""
    return "matrix" if g.size <= MATRIX_SIZE_PER_TAP * g.kernel else "taps"


def _counts(g, axis, rank, dtype):
    """Real cells in each window along this axis, shaped to broadcast: (1, .., out, .., 1)."""
    start = np.arange(g.out) * g.stride - g.before
    counts = np.minimum(start + g.kernel, g.size) - np.maximum(start, 0)
    shape = [1] * (rank + 2)
    shape[axis] = g.out
    return tf.constant(counts.reshape(shape), dtype)


def axis_matrix(g, dtype):
    """(out, size): row q holds 1/count on the real cells of window q along this axis."""
    rows = np.zeros((g.out, g.size))
    for q in range(g.out):
        start = q * g.stride - g.before
        low, high = max(start, 0), min(start + g.kernel, g.size)
        rows[q, low:high] = 1.0 / (high - low)
    return tf.constant(rows, dtype)


def _apply_along(matrix, x, axis, transpose=False):
    """matrix (out, size) (or its transpose) applied along `axis` of x: one batched matmul over
    (lead, size, trail) with the matrix broadcast over the lead cells."""
    shape = x.shape.as_list()
    columns = tf.reshape(x, [-1, shape[axis], math.prod(shape[axis + 1:])])  # (B, size, R)
    y = tf.matmul(matrix, columns, transpose_a=transpose)  # (B, rows, R)
    return tf.reshape(y, [-1] + shape[1:axis] + [y.shape[-2]] + shape[axis + 1:])


def _taps_means(x, g, axis, counts):
    """The taps step: each window's sum along `axis` over its real-cell count."""
    return tf.add_n(axis_windows.taps(x, g, axis)) / counts


def _taps_adjoint(dz, g, axis, counts):
    """Its backward: dL/dz / count spread over the k taps."""
    return axis_windows.scatter([dz / counts] * g.kernel, g, axis)


@functools.lru_cache(maxsize=None)
def _compiled_taps(geometry):
    """XLA-compiled forward and backward of the taps step on every axis, outer axis first
    (it shrinks the tensor before the inner axes' narrower slices)."""
    rank, axes = len(geometry), range(1, len(geometry) + 1)

    @tf.function(jit_compile=True, autograph=False)
    def forward(x):
        for axis in axes:
            g = geometry[axis - 1]
            x = _taps_means(x, g, axis, _counts(g, axis, rank, x.dtype))
        return x

    @tf.function(jit_compile=True, autograph=False)
    def backward(dz):
        for axis in reversed(axes):
            g = geometry[axis - 1]
            dz = _taps_adjoint(dz, g, axis, _counts(g, axis, rank, dz.dtype))
        return dz

    return forward, backward


def average_pool(x, geometry, compiled=False):
    """x (N, *spatial, C) -> (N, *out, C); `compiled`: the XLA-fused training path. Otherwise
    pooled along the last spatial axis first."""
    if compiled:
        forward, backward = _compiled_taps(tuple(geometry))

        @tf.custom_gradient
        def _fused(x):
            return forward(x), backward

        return _fused(x)
    rank = len(geometry)
    axes = list(reversed(range(1, rank + 1)))
    steps = {axis: axis_step(geometry[axis - 1]) for axis in axes}
    weights = {
        axis: axis_matrix(geometry[axis - 1], x.dtype) if steps[axis] == "matrix"
        else _counts(geometry[axis - 1], axis, rank, x.dtype)
        for axis in axes
    }

    @tf.custom_gradient
    def _average_pool(x):
        z = x
        for axis in axes:
            if steps[axis] == "matrix":
                z = _apply_along(weights[axis], z, axis)
            else:
                z = _taps_means(z, geometry[axis - 1], axis, weights[axis])

        def backward(dz):
            for axis in reversed(axes):
                g = geometry[axis - 1]
                if steps[axis] == "matrix":
                    dz = _apply_along(weights[axis], dz, axis, transpose=True)
                else:
                    dz = _taps_adjoint(dz, g, axis, weights[axis])
            return dz

        return z, backward

    return _average_pool(x)
