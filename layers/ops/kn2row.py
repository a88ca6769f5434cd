"""Stride-1 correlation as kn2row: the taps of the last axis gathered, those of the leading axes
summed as shifted column blocks of one product.

rows (layers.ops.rows) gathers the taps of every axis but the leading one; here the gather takes
only the k taps of the LAST axis, X (R, k*Cin), one row per (example, padded leading cells,
output cell of the last axis): R = N*prod(P')*O_last, P' the padded leading sizes. One matmul
with the kernel laid out (k*Cin, T'*Cout), T' the leading taps, sends every row through all of
them at once; the leading tap t of the window whose corner is row c reads row c + off_t, off_t
its flat offset in the (P', O_last) grid, so

    z[c] = sum_t Y[c + off_t, t]        Y = X @ W  (R, T', Cout), for every corner c < R - max(off),

and the corners outside the leading outputs (O' < P') are cropped out. Compared with rows on a
3x3x3 kernel, the gathered copy is 3x the input instead of 9x; the product is T'*Cout wide.

Backward: dL/dW_t = X[off_t:off_t + C]^T @ dL/dz at the corners, per leading tap (`weight_grad`);
dL/dx is the adjoint correlation (layers.ops.conv.input_grad), whose stride-1 correlation of
dL/dz with the flipped kernel runs this map too.
"""
import functools
import itertools
import math

import tensorflow as tf

from layers.ops import geometry as geo

WEIGHT_GRAD_BLOCKS = 8  # dL/dW's corners in this many batches (measured, oneDNN on, whole step against
# rows, (8, 32^3, 8) -> 16 and (16, 32^3, 16) -> 16: 0.68-0.72x rows' time with batches, 0.75-0.80x
# with one matmul per tap, 0.80-0.84x with einsum)


def _lead_offsets(geometry):
    """Row offset of each leading tap (row-major, as the kernel's leading axes) in the (P', O_last) grid."""
    padded = [g.padded for g in geometry[:-1]] + [geometry[-1].out]
    flat = [math.prod(padded[i + 1:]) for i in range(len(padded) - 1)]
    return [
        sum(k * g.dilation * f for k, g, f in zip(tap, geometry, flat))
        for tap in itertools.product(*[range(g.kernel) for g in geometry[:-1]])
    ]


def _gathered(x, geometry):
    """x (N, *size, Cin) -> X (R, k*Cin): the last axis's taps of every padded leading cell."""
    cin, padded = x.shape[-1], [g.padded for g in geometry]
    flat = tf.reshape(geo.pad(x, geometry), [-1, math.prod(padded), cin])  # (N, prod(P), Cin)
    whole = [geo.AxisGeometry(p, 1, 1, 1, 0, 0, p) for p in padded[:-1]]  # every leading cell
    last = geometry[-1]
    index = geo.tap_indices(whole + [last], padded, [(0,) * len(whole) + (j,) for j in range(last.kernel)])
    return tf.reshape(tf.gather(flat, index, axis=1), [-1, last.kernel * cin])  # (R, k*Cin)


def _wide_kernel(kernel):
    """(*k', k, Cin, Cout) -> (k*Cin, T'*Cout): each row's weights for every leading tap side by side."""
    rank = kernel.shape.rank - 2
    perm = [rank - 1, rank] + list(range(rank - 1)) + [rank + 1]
    lead = math.prod(kernel.shape[:rank - 1])
    return tf.reshape(tf.transpose(kernel, perm), [kernel.shape[rank - 1] * kernel.shape[-2], lead * kernel.shape[-1]])


@functools.lru_cache(maxsize=None)
def _shifted_sums(geometry):
    """(R, T', Cout) -> z (N, *O, Cout): each leading tap's column block at its offset, summed in
    one XLA-fused pass (TensorFlow's slices and add_n copy every block first: 2.3x slower)."""
    offsets = _lead_offsets(geometry)
    grid = [g.padded for g in geometry[:-1]] + [geometry[-1].out]

    @tf.function(jit_compile=True, autograph=False)
    def sums(product):
        last = offsets[-1]
        corners = tf.shape(product)[0] - last
        z = tf.add_n([product[o:o + corners, t] for t, o in enumerate(offsets)])  # (C, Cout)
        z = tf.reshape(tf.pad(z, [[0, last], [0, 0]]), [-1] + grid + [product.shape[-1]])
        return z[(slice(None),) + tuple(slice(0, g.out) for g in geometry[:-1])]

    return sums


def correlate(x, kernel, geometry, groups=1):
    """x (N, *size, Cin), kernel (*k, Cin, Cout) -> z (N, *O, Cout) and X for dL/dW."""
    patches = _gathered(x, geometry)
    product = tf.matmul(patches, _wide_kernel(kernel))  # (R, T'*Cout)
    product = tf.reshape(product, [-1, math.prod(g.kernel for g in geometry[:-1]), kernel.shape[-1]])
    return _shifted_sums(tuple(geometry))(product), patches


def weight_grad(patches, dz, geometry, kernel_shape):
    """dL/dW (*k, Cin, Cout): per leading tap, its rows of X against dL/dz at the corners.

    Each product is (k*Cin, Cout) over R rows: a GEMM of one output block, which oneDNN's sgemm
    runs on one thread; so the corners are split into WEIGHT_GRAD_BLOCKS batches of one
    batched matmul (oneDNN's matmul primitive, both cores), summed, and the few rows left over
    take one more small matmul.
    """
    offsets = _lead_offsets(geometry)
    amounts = [(0, g.padded - g.out) for g in geometry[:-1]] + [(0, 0)]
    dz_rows = tf.reshape(geo.pad_amounts(dz, amounts), [-1, dz.shape[-1]])  # (R, Cout)
    corners = tf.shape(dz_rows)[0] - offsets[-1]
    block = corners // WEIGHT_GRAD_BLOCKS
    split = block * WEIGHT_GRAD_BLOCKS  # corners in whole blocks
    dz_blocks = tf.reshape(dz_rows[:split], [WEIGHT_GRAD_BLOCKS, block, dz.shape[-1]])
    dz_rest = dz_rows[split:corners]
    parts = []
    for o in offsets:
        blocks = tf.reshape(patches[o:o + split], [WEIGHT_GRAD_BLOCKS, block, patches.shape[-1]])
        part = tf.reduce_sum(tf.matmul(blocks, dz_blocks, transpose_a=True), axis=0)  # (k*Cin, Cout)
        parts.append(part + tf.matmul(patches[o + split:o + corners], dz_rest, transpose_a=True))
    return tf.reshape(tf.stack(parts), kernel_shape)
