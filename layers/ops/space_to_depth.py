"""Space-to-depth: a strided convolution as a stride-1 convolution over folded stride blocks.

Every s1 x s2 x .. block of the padded input becomes one cell with s1*s2*..*C channels, and the
kernel, zero-padded to a multiple of the stride (kk = s * ceil(k / s)), folds the same way into
kk/s taps per axis. Output cell o then reads folded cells o .. o + kk/s - 1: a valid stride-1
correlation, which the stride-1 algorithms (pointwise, few_channels, im2col) run.

Why: on few input channels (a network's first layer: AlexNet's 11x11/4 and ResNet's 7x7/2 on
RGB) im2col gathers k^rank strided views a few bytes wide; folded, it gathers (k/s)^rank
unit-stride views s^rank times wider, and the GEMM is about as large (measured 1.9x -> 0.6x
Keras's time for 11x11/4, 2.3x -> 1.2x for 7x7/2; docs/BENCHMARKS.md).

The folds are a pad, a reshape and a transpose; their adjoints (`unfold_*`) carry the inner
algorithm's hand-written dL/dx and dL/dW back.
"""
import math

import tensorflow as tf

from layers.ops import geometry as geo


def _folded_kernel(g):
    return -(-g.kernel // g.stride)


def _span(g):
    """L: the padded cells the windows read, a multiple of the stride: (out-1)*s + kk."""
    return (g.out - 1 + _folded_kernel(g)) * g.stride


def inner_geometry(geometry):
    """The stride-1, unpadded geometry of the folded correlation (same output size)."""
    return [geo.explicit_axis_geometry(_span(g) // g.stride, _folded_kernel(g), 1, 1, 0, 0) for g in geometry]


def _block_perm(rank, lead):
    """(lead.., B1, s1, B2, s2, .., tail..) -> (lead.., B1, B2, .., s1, s2, .., tail..)."""
    blocks = [lead + 2 * i for i in range(rank)]
    phases = [lead + 2 * i + 1 for i in range(rank)]
    return list(range(lead)) + blocks + phases


def fold_input(x, geometry):
    """(N, *size, C) -> (N, *L/s, prod(s)*C): padded (zeros), cropped to L, blocks to channels."""
    rank, channels = len(geometry), x.shape[-1]
    kept = [min(g.size, _span(g) - g.before) for g in geometry]  # valid windows may skip the end
    x = x[(slice(None),) + tuple(slice(0, k) for k in kept)]
    x = geo.pad_amounts(x, [(g.before, _span(g) - g.before - k) for g, k in zip(geometry, kept)])
    split = [d for g in geometry for d in (_span(g) // g.stride, g.stride)]
    x = tf.transpose(tf.reshape(x, [-1] + split + [channels]), _block_perm(rank, 1) + [2 * rank + 1])
    return tf.reshape(x, [-1] + [_span(g) // g.stride for g in geometry] + [math.prod(g.stride for g in geometry) * channels])


def unfold_input(dx_folded, geometry, channels):
    """The adjoint of `fold_input`: (N, *L/s, prod(s)*C) -> (N, *size, C)."""
    rank = len(geometry)
    blocks = [_span(g) // g.stride for g in geometry]
    x = tf.reshape(dx_folded, [-1] + blocks + [g.stride for g in geometry] + [channels])
    perm = _block_perm(rank, 1) + [2 * rank + 1]
    inverse = [perm.index(i) for i in range(len(perm))]
    x = tf.reshape(tf.transpose(x, inverse), [-1] + [_span(g) for g in geometry] + [channels])
    kept = [min(g.size, _span(g) - g.before) for g in geometry]
    x = x[(slice(None),) + tuple(slice(g.before, g.before + k) for g, k in zip(geometry, kept)) + (slice(None),)]
    return geo.pad_amounts(x, [(0, g.size - k) for g, k in zip(geometry, kept)])


def fold_kernel(kernel, geometry):
    """(*k, C, F) -> (*kk/s, prod(s)*C, F): zero taps appended, blocks to channels."""
    rank = len(geometry)
    channels, filters = kernel.shape[-2], kernel.shape[-1]
    paddings = [[0, _folded_kernel(g) * g.stride - g.kernel] for g in geometry] + [[0, 0], [0, 0]]
    w = tf.pad(kernel, paddings)
    split = [d for g in geometry for d in (_folded_kernel(g), g.stride)]
    w = tf.transpose(tf.reshape(w, split + [channels, filters]), _block_perm(rank, 0) + [2 * rank, 2 * rank + 1])
    return tf.reshape(w, [_folded_kernel(g) for g in geometry] + [math.prod(g.stride for g in geometry) * channels, filters])


def unfold_kernel(dw_folded, geometry, kernel_shape):
    """The adjoint of `fold_kernel`: (*kk/s, prod(s)*C, F) -> (*k, C, F)."""
    rank = len(geometry)
    channels, filters = kernel_shape[-2], kernel_shape[-1]
    w = tf.reshape(dw_folded, [_folded_kernel(g) for g in geometry] + [g.stride for g in geometry] + [channels, filters])
    perm = _block_perm(rank, 0) + [2 * rank, 2 * rank + 1]
    inverse = [perm.index(i) for i in range(len(perm))]
    w = tf.reshape(tf.transpose(w, inverse), [_folded_kernel(g) * g.stride for g in geometry] + [channels, filters])
    return w[tuple(slice(0, g.kernel) for g in geometry)]
