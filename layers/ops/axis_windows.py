"""One spatial axis's sliding windows: the k tap views, and their adjoint (for separable pooling).

The axis is split into stride phases, (.., rows, s, ..): every tap is a unit-stride slice of
one phase, so no strided slice (TensorFlow's slow generic copy) is taken. The adjoint adds,
per phase, the taps that land in it (shifted by whole windows) and interleaves the phases:
no zeros are inserted and no tap is scattered on its own.

The phases span only the stride-aligned stretch around the real cells the windows read, not
the whole padded axis: padding is added to the taps that reach past it (output-sized, not
input-sized pads), and the adjoint builds dL/dx without a final crop when the real cells
start and end on phase boundaries (e.g. 3x3/2 SAME on 32 cells: 0.6-0.7x the time of
padding the input, docs/BENCHMARKS.md).
"""
import tensorflow as tf


def pad_axis(x, axis, before, after, value=0):
    if before == after == 0:
        return x
    paddings = [[0, 0]] * x.shape.rank
    paddings[axis] = [before, after]
    return tf.pad(x, paddings, constant_values=tf.cast(value, x.dtype))


def slice_axis(x, axis, start, stop):
    if start == 0 and stop == x.shape[axis]:
        return x
    return x[(slice(None),) * axis + (slice(start, stop),)]


def _window(x, axis, lo, hi, start, stop, fill):
    """Rows [start, stop) of x along `axis`, the ones outside x's [lo, hi) = [0, len) being `fill`."""
    return pad_axis(slice_axis(x, axis, lo, hi), axis, lo - start, stop - hi, fill)


def _phase_rows(g):
    """(first, stop): the phase rows holding the real cells the windows read."""
    end = min(g.before + g.size, (g.out - 1) * g.stride + g.kernel)
    return g.before // g.stride, -(-end // g.stride)


def taps(x, g, axis, fill=0):
    """The k views (.., out, ..) of x along `axis`: tap j of window q sees padded cell q*s + j.

    Padding cells hold `fill`.
    """
    s = g.stride
    first, stop = _phase_rows(g)
    cells = stop * s - g.before  # the real cells the phases hold: valid windows may leave the
    x = slice_axis(x, axis, 0, min(cells, g.size))  # last ones out, the last row may need padding
    x = pad_axis(x, axis, g.before - first * s, max(cells - g.size, 0), fill)
    shape = x.shape.as_list()
    rows = stop - first
    phases = tf.reshape(x, [-1] + shape[1:axis] + [rows, s] + shape[axis + 1:])
    views = []
    for j in range(g.kernel):
        shift, phase = divmod(j, s)
        start = shift - first  # window q reads phase row q + start
        lo, hi = max(0, start), min(rows, g.out + start)
        view = phases[(slice(None),) * axis + (slice(lo, hi), phase)]
        views.append(pad_axis(view, axis, lo - start, g.out + start - hi, fill))
    return views


def scatter(routed, g, axis):
    """The adjoint of `taps`: k tensors (.., out, ..) -> (.., size, ..), padding dropped."""
    s = g.stride
    first, _ = _phase_rows(g)
    stop = -(-(g.before + g.size) // s)
    rows = stop - first
    phases = []  # phase row p holds padded cell p*s + r: the taps j = r + m*s of windows p - m
    for r in range(s):
        parts = []
        for j in range(r, g.kernel, s):
            start = first - j // s  # phase row `first` gets window `start`
            lo, hi = max(0, start), min(g.out, start + rows)
            if lo < hi:
                parts.append(_window(routed[j], axis, lo, hi, start, start + rows, 0))
        if not parts:  # a gap between windows (stride > pool size)
            parts.append(_window(tf.zeros_like(routed[0]), axis, 0, min(g.out, rows), 0, rows, 0))
        phases.append(tf.add_n(parts))
    shape = routed[0].shape.as_list()
    dx = tf.reshape(tf.stack(phases, axis=axis + 1), [-1] + shape[1:axis] + [rows * s] + shape[axis + 1:])
    return slice_axis(dx, axis, g.before - first * s, g.before - first * s + g.size)
