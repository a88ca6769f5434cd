"""One spatial axis's sliding windows: the k tap views, and their adjoint (for separable pooling).

The axis is split into stride phases, (.., L/s, s, ..): every tap is a unit-stride slice of
one phase, so no strided slice (TensorFlow's slow generic copy) is taken. The adjoint adds,
per phase, the taps that land in it (shifted by whole windows) and interleaves the phases:
no zeros are inserted and no tap is scattered on its own.
"""
import tensorflow as tf


def pad_axis(x, axis, before, after, value=0):
    if before == after == 0:
        return x
    paddings = [[0, 0]] * x.shape.rank
    paddings[axis] = [before, after]
    return tf.pad(x, paddings, constant_values=tf.cast(value, x.dtype))


def _phase_length(g):
    """L: the padded axis rounded up to a multiple of the stride, long enough for every tap."""
    needed = max(g.padded, (g.out - 1) * g.stride + g.kernel)
    return -(-needed // g.stride) * g.stride


def taps(x, g, axis, fill=0):
    """The k views (.., out, ..) of x along `axis`: tap j of window q sees padded cell q*s + j.

    Padding cells hold `fill`.
    """
    length = _phase_length(g)
    kept = min(g.size, length - g.before)  # valid windows may leave the last cells out
    x = x[(slice(None),) * axis + (slice(0, kept),)] if kept < g.size else x
    x = pad_axis(x, axis, g.before, length - g.before - kept, fill)
    shape = x.shape.as_list()
    phases = tf.reshape(x, [-1] + shape[1:axis] + [length // g.stride, g.stride] + shape[axis + 1:])
    views = []
    for j in range(g.kernel):
        start, phase = divmod(j, g.stride)
        views.append(phases[(slice(None),) * axis + (slice(start, start + g.out), phase)])
    return views


def scatter(routed, g, axis):
    """The adjoint of `taps`: k tensors (.., out, ..) -> (.., size, ..), padding dropped."""
    length = _phase_length(g)
    rows = length // g.stride
    phases = []  # padded cell q*s + r sums taps j = r + m*s of windows q - m
    for r in range(g.stride):
        parts = [pad_axis(routed[j], axis, j // g.stride, rows - g.out - j // g.stride)
                 for j in range(r, g.kernel, g.stride)]
        phases.append(tf.add_n(parts) if parts else pad_axis(tf.zeros_like(routed[0]), axis, 0, rows - g.out))
    shape = routed[0].shape.as_list()
    dx = tf.reshape(tf.stack(phases, axis=axis + 1), [-1] + shape[1:axis] + [length] + shape[axis + 1:])
    kept = min(g.size, length - g.before)
    dx = dx[(slice(None),) * axis + (slice(g.before, g.before + kept),)]
    return pad_axis(dx, axis, 0, g.size - kept)
