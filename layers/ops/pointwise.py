"""1x1 convolution: one matmul over the (strided) cells; no padding, no patches.

A 1x1 kernel never pads (SAME and CAUSAL add nothing), so the cells it reads are x[::s].
Backward: dL/dW = cells^T @ dL/dz; dL/dx = dL/dz @ W^T put back on the cells it came from
(zeros in between for strides).
"""
import tensorflow as tf

from layers.ops import geometry as geo
from layers.ops.grouped import grouped_matmul, grouped_weight_grad


def correlate(x, kernel, geometry, groups):
    """x (N, *size, Cin), kernel (1.., Cin/G, Cout) -> z (N, *O, Cout) and the cells' rows."""
    cells = x[(slice(None),) + tuple(slice(0, (g.out - 1) * g.stride + 1, g.stride) for g in geometry)]
    rows = tf.reshape(cells, [-1, x.shape[-1]])  # (M, Cin)
    z = grouped_matmul(rows, tf.reshape(kernel, kernel.shape[-2:]), 1, groups)  # (M, Cout)
    return tf.reshape(z, [-1] + [g.out for g in geometry] + [kernel.shape[-1]]), rows


def backward(dz, kernel, geometry, groups, rows):
    cg, cout = kernel.shape[-2], kernel.shape[-1]
    dz_rows = tf.reshape(dz, [-1, cout])
    dw = tf.reshape(grouped_weight_grad(rows, dz_rows, 1, groups), kernel.shape)
    # W^T per group: (Cout/G, G*Cg), the layout grouped_matmul takes for Cout -> Cin.
    back = tf.reshape(tf.transpose(tf.reshape(kernel, [cg, groups, cout // groups]), [2, 1, 0]),
                      [cout // groups, groups * cg])
    cells = tf.reshape(grouped_matmul(dz_rows, back, 1, groups), [-1] + [g.out for g in geometry] + [groups * cg])
    spread = geo.dilate(cells, [g.stride for g in geometry])  # (N, *((O-1)*s+1), Cin)
    return geo.pad_amounts(spread, [(0, g.size - (g.out - 1) * g.stride - 1) for g in geometry]), dw
