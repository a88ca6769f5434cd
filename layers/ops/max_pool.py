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
"""
import tensorflow as tf

from layers.ops import axis_windows


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


def max_pool(x, geometry):
    """x (N, *spatial, C) -> (N, *out, C), pooled along the last spatial axis first."""
    axes = list(reversed(range(1, len(geometry) + 1)))

    @tf.custom_gradient
    def _max_pool(x):
        z, saved = x, []
        for axis in axes:
            z, better = axis_max(z, geometry[axis - 1], axis)
            saved.append(better)

        def backward(dz):
            for axis, better in zip(reversed(axes), reversed(saved)):
                dz = axis_route(dz, better, geometry[axis - 1], axis)
            return dz

        return z, backward

    return _max_pool(x)
