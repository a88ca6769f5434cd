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
loops instead of a pass over memory per slice, compare and select), as average pooling's.
`whole_windows` (3D, and 2D windows that read padding) compares all prod(k) taps of a window at
once, keeps each output's first maximal tap as a row-major index (as oneDNN keeps a workspace),
and the backward sends dz to that tap without reading x again: windows that tile the real cells
(stride = pool size, no padding read) take their taps as slices of the (N*O1, k1, O2, k2, O3,
k3*C) view (contiguous channel runs, which XLA's loops vectorise; a reduce over the 8-D window
view was not) and lay the routed taps back into it; other windows take strided slices of the
padded x and add the routed taps back axis by axis (`axis_windows.scatter`). Elsewhere the
separable steps run, the backward recomputing their comparisons from x. Whole step (forward +
dL/dx), ours / TensorFlow's, one process, interleaved, oneDNN on (load 8-19): (16, 28^3, 16) 2
2.3-2.9 (reduce over the window view) -> 0.77-1.0; (8, 32^3, 8) 2 2.1-2.4 -> 1.16-1.36;
(8, 32^3, 16) 3x3x3/2 SAME 2.25-3.5 (separable) -> 1.39; 2D 3x3/2 SAME 1.08-1.82 -> 0.67-0.91;
oneDNN off every one of these 2-3x faster than before (docs/BENCHMARKS.md). 2D windows without
padding and 1D ones lose with whole windows (0.81-0.99 -> 1.7-2.4) and keep the separable steps.
Inference keeps the plain ops: no exported function is marked for XLA.
"""
import functools
import itertools
import math

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


def reads_padding(geometry):
    """Whether some window reads a padding cell."""
    return any(g.before > 0 or (g.out - 1) * g.stride + g.kernel > g.before + g.size for g in geometry)


def whole_windows(geometry):
    """Whether training pools whole windows (strided taps, winners saved) rather than axis by axis:
    3D windows, and 2D ones that read padding (measured, oneDNN on, ours / TensorFlow: 2D 3x3/2
    SAME 1.08-1.82 -> 0.67-0.91; 2D and 1D windows without padding lose, 0.81-0.99 -> 1.7-2.4)."""
    return len(geometry) == 3 or (len(geometry) == 2 and reads_padding(geometry))


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


def _tile_view(x, geometry):
    """(N, *size, C) -> (N*O1, k1, O2, k2, .., O_r, k_r*C): the tiled cells, leftover ones cropped.
    Every dimension but the first and last is 8 or fewer cells of one window axis or output axis,
    and the last window axis rides with the channels, so each tap is a slice of contiguous runs."""
    x = x[(slice(None),) + tuple(slice(0, g.out * g.kernel) for g in geometry)]
    inner = [d for g in geometry for d in (g.out, g.kernel)][1:-1]
    return tf.reshape(x, [-1] + inner + [geometry[-1].kernel * x.shape[-1]])


def _tile_taps(view, geometry, channels):
    """The prod(k) taps (N*O1, O2, .., O_r, C) of the tile view, in row-major window order."""
    taps = []
    for tap in itertools.product(*[range(g.kernel) for g in geometry]):
        index = [slice(None)]
        for t in tap[:-1]:
            index += [t, slice(None)]  # this axis's tap, then the next axis's outputs
        taps.append(view[tuple(index) + (slice(tap[-1] * channels, (tap[-1] + 1) * channels),)])
    return taps


def _tile_max(x, geometry):
    """z (N*O1, O2, .., C) and the first maximal cell's row-major tap index (`_winners`)."""
    return _winners(_tile_taps(_tile_view(x, geometry), geometry, x.shape[-1]))


def _tile_route(winner, dz, geometry):
    """dL/dx (N, *size, C): each dz to the tap its winner names, the taps laid back into the
    tile view (last window axis concatenated with the channels, the others stacked)."""
    parts = _routed(winner, dz, math.prod(g.kernel for g in geometry))
    parts = [tf.concat(parts[i:i + geometry[-1].kernel], axis=-1) for i in range(0, len(parts), geometry[-1].kernel)]
    for axis in reversed(range(1, len(geometry))):  # its window axis sits before the next output axis
        step = geometry[axis - 1].kernel
        parts = [tf.stack(parts[i:i + step], axis=axis) for i in range(0, len(parts), step)]
    channels = dz.shape[-1]
    dx = tf.reshape(parts[0], [-1] + [g.out * g.kernel for g in geometry] + [channels])
    return geo.pad_amounts(dx, [(0, g.size - g.out * g.kernel) for g in geometry])


def _window_taps(x, geometry):
    """The prod(k) taps (N, *O, C) of whole windows, row-major: strided slices of x padded with
    the dtype's lowest value (inside XLA a strided slice fuses into the loop that reads it)."""
    amounts = [(g.before, max((g.out - 1) * g.stride + g.kernel - g.before - g.size, 0)) for g in geometry]
    x = tf.pad(x, [(0, 0)] + amounts + [(0, 0)], constant_values=x.dtype.min)
    return [x[(slice(None),) + tuple(slice(t, t + (g.out - 1) * g.stride + 1, g.stride) for t, g in zip(tap, geometry))]
            for tap in itertools.product(*[range(g.kernel) for g in geometry])]


def _winners(taps):
    """z and the first maximal tap's index (int32, z's shape): a tap replaces the running
    maximum only when strictly greater, so ties keep the earlier one."""
    z, winner = taps[0], tf.zeros(tf.shape(taps[0]), tf.int32)
    for index, tap in enumerate(taps[1:], 1):
        winner = tf.where(tap > z, index, winner)
        z = tf.maximum(z, tap)
    return z, winner


def _routed(winner, dz, taps):
    """Each tap's share of dz (z's shape): dz where the winner is that tap, else 0."""
    return [tf.where(tf.equal(winner, index), dz, tf.zeros([], dz.dtype)) for index in range(taps)]


def _window_route(winner, dz, geometry):
    """dL/dx (N, *size, C) of whole windows: the taps' shares added back along each axis by
    axis_windows.scatter, last axis first (the adjoint of taking the taps axis by axis)."""
    parts = _routed(winner, dz, math.prod(g.kernel for g in geometry))
    for axis in reversed(range(1, len(geometry) + 1)):
        step = geometry[axis - 1].kernel
        parts = [axis_windows.scatter(parts[i:i + step], geometry[axis - 1], axis) for i in range(0, len(parts), step)]
    return parts[0]


@functools.lru_cache(maxsize=None)
def _compiled(geometry):
    """XLA-compiled forward x -> (z, saved) and backward (saved, dz) -> dx for these windows.
    3D tiles: whole windows, saving the winners; else the separable steps, saving x, from which
    the backward recomputes the forward's comparisons (measured faster on 1D and 2D tiles)."""
    compile_ = functools.partial(tf.function, jit_compile=True, autograph=False)
    if len(geometry) == 3 and tiles(geometry):
        return (compile_(lambda x: _tile_max(x, geometry)),
                compile_(lambda winner, dz: _tile_route(winner, dz, geometry)))
    if whole_windows(geometry):
        return (compile_(lambda x: _winners(_window_taps(x, geometry))),
                compile_(lambda winner, dz: _window_route(winner, dz, geometry)))
    forward = compile_(lambda x: _separable(x, geometry)[0])
    backward = compile_(lambda x, dz: _separable_route(dz, _separable(x, geometry)[1], geometry))
    return (lambda x: (forward(x), x)), backward


def max_pool(x, geometry, compiled=False):
    """x (N, *spatial, C) -> (N, *out, C), pooled along the last spatial axis first;
    `compiled`: the XLA-fused training path."""
    if compiled:
        forward, backward = _compiled(tuple(geometry))
        out = [-1] + [g.out for g in geometry] + [x.shape[-1]]

        @tf.custom_gradient
        def _fused(x):
            z, saved = forward(x)  # z (N, *out, C), or (N*O1, O2, O3, C) for 3D tiles
            return tf.reshape(z, out), lambda dz: backward(saved, tf.reshape(dz, tf.shape(z)))

        return _fused(x)

    @tf.custom_gradient
    def _max_pool(x):
        z, saved = _separable(x, geometry)
        return z, lambda dz: _separable_route(dz, saved, geometry)

    return _max_pool(x)
