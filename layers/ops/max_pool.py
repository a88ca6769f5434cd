"""Separable max pooling: one spatial axis at a time, backward written out.

The maximum over a box is the maximum along the first axis of the maxima along the second,
and so on. We pool the last spatial axis first and the first one last. Along one axis the k
taps are compared in order, and each tap after the first keeps a bool: "strictly greater than
every earlier tap". The winner along the axis is the last tap whose bool is set, i.e. the
first maximal tap. The first maximal cell of a window in row-major order is the first maximal
cell inside the first maximal row (outer axis): so routing dL/dz back through the steps in
reverse (outer axis first) sends every dz to exactly one cell, the first maximal one in
row-major window order, ties included. On tie-free inputs this is `tf.nn.max_pool`'s gradient.

Why: the T-tap reader with argmax and a one-hot (`pooling.py`, still used by average pooling)
materialises T copies of the output in the forward and T in the backward. Pooled axis by axis
it is sum(k) instead of prod(k) output-sized passes, each step on an already shrunk tensor,
and the backward is selects on bools (no one-hot, no integer winners). Measured 1.3-2.3x
faster than the T-tap reader on the grid's max pooling cases (docs/BENCHMARKS.md).

Along one axis the taps are read by `axis_windows` (unit-stride slices of stride phases).
Padding cells hold the dtype's lowest value and never win.

In training (`compiled`), forward and backward are each one XLA-compiled function (fused
loops instead of a pass over memory per slice, compare and select), as average pooling's; the
backward recomputes the forward's comparisons from x instead of keeping them. 3D windows that
tile the real cells (stride = pool size, no padding read) take a whole-window step there: one
reduce_max over the (N, O1, k1, O2, k2, O3, k3, C) view, and in the backward the first maximal
cell's row-major tap index, a reduce_min over the window of the index where x equals its max.
Whole step (forward + dL/dx) with oneDNN on, ours / TensorFlow's, one process (load 13-16):
(8, 32^3, 8) 2x2x2 3.8-3.9 plain, 2.6 separable compiled, 1.85-2.8 whole windows; 2D tiles keep
the separable steps, (64, 32^2, 32) 2x2 2.4-2.5 plain, 0.96 separable compiled, 2.5-2.6 whole
windows; (32, 55^2, 96) 3x3/2 3.2 -> 0.96-1.4; (128, 32^2, 64) 3x3/2 SAME 2.5 -> 1.4.
Inference keeps the plain ops: no exported function is marked for XLA.
"""
import functools
import math

import numpy as np
import tensorflow as tf

from layers.ops import axis_windows
from layers.ops import geometry as geo


def axis_max(x, g, axis):
    """x (.., size, ..) -> z (.., out, ..) and k-1 bools: tap j beats every earlier tap."""
    taps = axis_windows.taps(x, g, axis, fill=x.dtype.min)
    z, better = taps[0], []
    for tap in taps[1:]:
        better.append(tap > z)
        z = tf.maximum(z, tap)
    return z, better


def axis_route(dz, better, g, axis):
    """dL/dz (.., out, ..) -> dL/dx (.., size, ..): each dz to its first maximal tap."""
    zeros = tf.zeros_like(dz)
    routed, rest = [], dz
    for won in reversed(better):  # the last tap that beat all earlier ones is the winner
        routed.append(tf.where(won, rest, zeros))
        rest = tf.where(won, zeros, rest)
    return axis_windows.scatter([rest] + routed[::-1], g, axis)  # by tap


def tiles(geometry):
    """Whether the windows tile the real cells: stride = pool size and no padding cell read."""
    return all(g.stride == g.kernel and g.before == 0 and g.out * g.kernel <= g.size for g in geometry)


def _separable(x, geometry):
    """z and the bools of every axis step, last spatial axis first."""
    z, saved = x, []
    for axis in reversed(range(1, len(geometry) + 1)):
        z, better = axis_max(z, geometry[axis - 1], axis)
        saved.append(better)
    return z, saved


def _separable_route(dz, saved, geometry):
    for axis, better in zip(range(1, len(geometry) + 1), reversed(saved)):  # outer axis first
        dz = axis_route(dz, better, geometry[axis - 1], axis)
    return dz


def _window_view(x, geometry):
    """(N, *size, C) -> (N, O1, k1, O2, k2, .., C): the tiled cells, leftover ones cropped."""
    x = x[(slice(None),) + tuple(slice(0, g.out * g.kernel) for g in geometry)]
    return tf.reshape(x, [-1] + [d for g in geometry for d in (g.out, g.kernel)] + [x.shape[-1]])


def _tap_order(geometry):
    """(1, 1, k1, 1, k2, .., 1) int32: each window cell's row-major index."""
    rank = len(geometry)
    order = np.zeros([1] * (2 * rank + 2), np.int32)
    for i, g in enumerate(geometry):
        shape = [1] * (2 * rank + 2)
        shape[2 * i + 2] = g.kernel
        order = order + (np.arange(g.kernel) * math.prod(h.kernel for h in geometry[i + 1:])).reshape(shape)
    return tf.constant(order.astype(np.int32))


def _window_route(x, dz, geometry):
    """dL/dx of the whole-window step: each dz to its window's first maximal cell, row-major."""
    rank, view = len(geometry), _window_view(x, geometry)
    axes = list(range(2, 2 * rank + 1, 2))
    order = _tap_order(geometry)
    z = tf.reduce_max(view, axis=axes, keepdims=True)
    taps = math.prod(g.kernel for g in geometry)
    first = tf.reduce_min(tf.where(tf.equal(view, z), order, taps), axis=axes, keepdims=True)
    dz = tf.reshape(dz, [-1] + [d for g in geometry for d in (g.out, 1)] + [dz.shape[-1]])
    dx = tf.where(tf.equal(order, first), dz, tf.zeros([], dz.dtype))  # (N, O1, k1, .., C)
    dx = tf.reshape(dx, [-1] + [g.out * g.kernel for g in geometry] + [dz.shape[-1]])
    return geo.pad_amounts(dx, [(0, g.size - g.out * g.kernel) for g in geometry])


@functools.lru_cache(maxsize=None)
def _compiled(geometry):
    """XLA-compiled forward (x -> z) and backward ((x, dz) -> dx) for these windows: whole
    windows for 3D tiles, else the separable steps (measured faster on 1D and 2D tiles)."""
    rank = len(geometry)
    if rank == 3 and tiles(geometry):
        def forward(x):
            return tf.reduce_max(_window_view(x, geometry), axis=list(range(2, 2 * rank + 1, 2)))

        def backward(x, dz):
            return _window_route(x, dz, geometry)
    else:
        def forward(x):
            return _separable(x, geometry)[0]

        def backward(x, dz):
            return _separable_route(dz, _separable(x, geometry)[1], geometry)

    return (tf.function(forward, jit_compile=True, autograph=False),
            tf.function(backward, jit_compile=True, autograph=False))


def max_pool(x, geometry, compiled=False):
    """x (N, *spatial, C) -> (N, *out, C), pooled along the last spatial axis first;
    `compiled`: the XLA-fused training path."""
    if compiled:
        forward, backward = _compiled(tuple(geometry))

        @tf.custom_gradient
        def _fused(x):
            return forward(x), lambda dz: backward(x, dz)

        return _fused(x)

    @tf.custom_gradient
    def _max_pool(x):
        z, saved = _separable(x, geometry)
        return z, lambda dz: _separable_route(dz, saved, geometry)

    return _max_pool(x)
