"""Stride-1 correlation of an input with few channels, as shifted rows of the flattened input.

Flatten the padded input (N, *P, Cin) to rows, R = N*prod(P) of them. Kernel tap t reads
row p + off_t for the window whose corner is row p, off_t being the tap's flat offset. So

    z[p] = sum_t x[p + off_t] @ W_t        for every corner p < Q = R - max(off),

and the valid corners (o < O on each axis) are cropped out afterwards. With 1-3 channels the
im2col gather copies a few bytes at a time; here the input is laid out channel-major, (Cin, R),
and every tap's view is a slice of contiguous memory, so the patches (T*Cin, Q) are a handful
of block copies, and one matmul (transposed) does the rest. The price: the corners that are
no window (the padding), prod(P)/prod(O) - 1 of the arithmetic.

Backward, in the same layout:
  dL/dW = patches @ dL/dz                                           (T*Cin, Cout)
  dL/dx: y = W @ dL/dz^T (T*Cin, R), and dL/dx^T[:, p] = sum_t y_t[:, p - off_t]: each input
         cell sums what the corners reaching it send through their tap (col2im, contiguous).
"""
import itertools
import math

import tensorflow as tf

from layers.ops import geometry as geo


def tap_offsets(padded, kernel, dilation):
    """Flat offset of each kernel tap in a padded grid, in the kernel's row-major order."""
    flat = [math.prod(padded[i + 1:]) for i in range(len(padded))]
    return [
        sum(k * d * f for k, d, f in zip(tap, dilation, flat))
        for tap in itertools.product(*[range(k) for k in kernel])
    ]


def correlate(x, kernel, geometry, groups=1):
    """x (N, *size, Cin), kernel (*k, Cin, Cout) -> z (N, *O, Cout) and what the backward needs."""
    padded = [g.padded for g in geometry]
    offsets = tap_offsets(padded, [g.kernel for g in geometry], [g.dilation for g in geometry])
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    rows = tf.transpose(tf.reshape(geo.pad(x, geometry), [-1, cin]))  # (Cin, R)
    corners = tf.shape(rows)[1] - offsets[-1]  # Q
    patches = tf.concat([rows[:, o:o + corners] for o in offsets], axis=0)  # (T*Cin, Q)
    z = tf.matmul(patches, tf.reshape(kernel, [-1, cout]), transpose_a=True)  # (Q, Cout)
    z = tf.reshape(tf.pad(z, [[0, offsets[-1]], [0, 0]]), [-1] + padded + [cout])  # (N, *P, Cout)
    return z[(slice(None),) + tuple(slice(0, g.out) for g in geometry)], patches


def _corner_rows(dz, geometry):
    """dL/dz (N, *O, Cout) placed at its corners of the padded grid: (R, Cout), zeros elsewhere."""
    grid = geo.pad_amounts(dz, [(0, g.padded - g.out) for g in geometry])
    return tf.reshape(grid, [-1, dz.shape[-1]])


def backward(dz, kernel, geometry, groups, patches):
    """(dL/dx (N, *size, Cin), dL/dW (*k, Cin, Cout))."""
    dz_rows = _corner_rows(dz, geometry)  # (R, Cout)
    dw = tf.matmul(patches, dz_rows[:tf.shape(patches)[1]])  # (T*Cin, Cout)
    return _input_grad_from_rows(dz_rows, kernel, geometry), tf.reshape(dw, kernel.shape)


def input_grad(dz, kernel, geometry):
    """dL/dx (N, *size, Cin) of a stride-1 correlation, col2im in the channel-major layout."""
    return _input_grad_from_rows(_corner_rows(dz, geometry), kernel, geometry)


def _input_grad_from_rows(dz_rows, kernel, geometry):
    offsets = tap_offsets([g.padded for g in geometry], [g.kernel for g in geometry], [g.dilation for g in geometry])
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    sent = tf.matmul(tf.reshape(kernel, [-1, cout]), dz_rows, transpose_b=True)  # (T*Cin, R)
    sent = tf.pad(sent, [[0, 0], [offsets[-1], 0]])
    rows = tf.shape(dz_rows)[0]
    start = [offsets[-1] - o for o in offsets]
    dx = tf.add_n([sent[t * cin:(t + 1) * cin, s:s + rows] for t, s in enumerate(start)])  # (Cin, R)
    dx = tf.reshape(tf.transpose(dx), [-1] + [g.padded for g in geometry] + [cin])
    crop = tuple(slice(g.before, g.before + g.size) for g in geometry)
    return dx[(slice(None),) + crop]
