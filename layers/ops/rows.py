"""Correlation as shifted blocks of rows along the leading axis: im2col over the trailing axes
only.

im2col copies every input cell once per kernel tap (81x the input for a 9x9 kernel, 27x for
3x3x3). Here the gather takes only the taps of the trailing axes: patches P (R, T'*Cin), one
row per (example, leading row q, trailing output cell), T' the trailing taps, R = N*Q*prod(O').
With leading stride s, padded leading cell o*s + k*d (tap k, dilation d) is row (k*d)//s of
phase (k*d)%s, so each phase r gathers the padded leading cells r, r+s, r+2s, .. as its rows
q = 0..Q-1, Q = O0 + ((k0-1)*d)//s. Tap k of the window whose corner is row c then reads row
c + off_k of its phase, off_k = ((k*d)//s) * prod(O'), and

    z[c] = sum_k P_phase(k)[c + off_k] @ W_k        for every corner c < R - max(off),

one matmul per leading tap over a dim-0 slice of P (TensorFlow hands such slices on without a
copy when they are aligned), or, for few outputs or rows much wider than the outputs, one wide
matmul whose column blocks are summed at their offsets (P is then read once instead of k0
times); the corners on rows q >= O0 are cropped out. The price: those corners' arithmetic,
((k0-1)*d//s)/O0 of the rest. Rows a phase lacks at the end of the padded input are clipped to
its last cell: only cropped corners read them.

Backward: dL/dW_k = P_phase(k)[off_k:off_k + C]^T @ dL/dz at the corners; dL/dx is the
adjoint correlation (layers.ops.conv.input_grad), whose stride-1 correlations run this too.
"""
import itertools
import math

import tensorflow as tf

from layers.ops import geometry as geo

NARROW_OUTPUTS = 16  # up to this many output channels, one matmul per phase and shifted sums
# (measured: 9x9 on 16 channels 68 vs 112 ms)
ROW_WIDTH_PER_OUTPUT = 4  # and from rows this many times wider than the outputs, where reading P
# k0 times costs more than the k0-times wider product (whole step with the BFC allocator, summed /
# per-tap: row width 320 for 64 outputs 0.89, 3D 800 for 32 0.78, 896 for 128 0.93; 96-192 for
# 64 1.04-1.07, 240 for 192 1.05, Conv1D 64 for 128 1.11)


def _summed(kernel_shape):
    """Whether the shifted-sums matmul suits this kernel (*k, Cin, Cout) (see the constants)."""
    row_width, outputs = math.prod(kernel_shape[1:-1]), kernel_shape[-1]
    return outputs <= NARROW_OUTPUTS or row_width >= ROW_WIDTH_PER_OUTPUT * outputs


def _rows_per_example(lead):
    """Q: the output rows plus those the last window's taps reach past them."""
    return lead.out + (lead.kernel - 1) * lead.dilation // lead.stride


def _taps(geometry):
    """(phase, row offset) of each leading tap."""
    lead, plane = geometry[0], math.prod(g.out for g in geometry[1:])
    return [(k * lead.dilation % lead.stride, k * lead.dilation // lead.stride * plane) for k in range(lead.kernel)]


def correlate(x, kernel, geometry, groups=1):
    """x (N, *size, Cin), kernel (*k, Cin, Cout) -> z (N, *O, Cout) and the patches of each phase."""
    lead, cin, cout = geometry[0], kernel.shape[-2], kernel.shape[-1]
    padded = [g.padded for g in geometry]
    flat = tf.reshape(geo.pad(x, geometry), [-1, math.prod(padded), cin])  # (N, prod(P), Cin)
    rows = [geo.AxisGeometry(lead.padded, 1, lead.stride, 1, 0, 0, _rows_per_example(lead))] + list(geometry[1:])
    tails = list(itertools.product(*[range(g.kernel) for g in geometry[1:]]))
    taps = _taps(geometry)
    patches = {}
    for phase, _ in taps:
        if phase not in patches:
            index = geo.tap_indices(rows, padded, [(phase,) + t for t in tails])  # (Q*prod(O'), T')
            patches[phase] = tf.reshape(tf.gather(flat, index, axis=1), [-1, len(tails) * cin])  # (R, T'*Cin)
    last = max(offset for _, offset in taps)
    corners = tf.shape(patches[taps[0][0]])[0] - last
    weights = tf.reshape(kernel, [lead.kernel, -1, cout])  # (k0, T'*Cin, Cout)
    if _summed(kernel.shape):
        z = tf.add_n(_summed_outputs(patches, weights, taps, corners))  # (C, Cout)
    else:
        z = tf.add_n([tf.matmul(patches[p][o:o + corners], weights[k]) for k, (p, o) in enumerate(taps)])
    z = tf.pad(z, [[0, last], [0, 0]])  # (R, Cout): every row a corner
    z = tf.reshape(z, [-1, _rows_per_example(lead)] + [g.out for g in geometry[1:]] + [cout])  # (N, Q, *O', Cout)
    return z[:, :lead.out], patches


def _summed_outputs(patches, weights, taps, corners):
    """Few outputs: each phase's rows times all its taps' weights side by side, one matmul
    (R, T'*Cin) @ (T'*Cin, n*Cout) that reads P once, then each tap's columns at its offset."""
    terms = []
    for phase, rows in patches.items():
        mine = [(k, o) for k, (p, o) in enumerate(taps) if p == phase]
        wide = tf.concat([weights[k] for k, _ in mine], axis=1)  # (T'*Cin, n*Cout)
        sums = tf.reshape(tf.matmul(rows, wide), [-1, len(mine), weights.shape[-1]])  # (R, n, Cout)
        terms += [sums[o:o + corners, j] for j, (_, o) in enumerate(mine)]
    return terms


def weight_grad(patches, dz, geometry, kernel_shape):
    """dL/dW (*k, Cin, Cout): one matmul per leading tap, of its rows of P with dL/dz at the corners."""
    lead, taps = geometry[0], _taps(geometry)
    last = max(offset for _, offset in taps)
    amounts = [(0, _rows_per_example(lead) - lead.out)] + [(0, 0)] * (len(geometry) - 1)
    dz_rows = tf.reshape(geo.pad_amounts(dz, amounts), [-1, dz.shape[-1]])  # (R, Cout)
    corners = tf.shape(dz_rows)[0] - last
    dz_rows = dz_rows[:corners]
    parts = [tf.matmul(patches[p][o:o + corners], dz_rows, transpose_a=True) for p, o in taps]  # (T'*Cin, Cout)
    return tf.reshape(tf.stack(parts), kernel_shape)
