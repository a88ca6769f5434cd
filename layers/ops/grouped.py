"""Matmuls of im2col columns with a grouped kernel: output group g sees input group g only."""
import tensorflow as tf


def grouped_matmul(patches, weights, taps, groups):
    """(M, T*Cin) @ (T*Cg, Cout) where output group g only sees input channels of group g."""
    if groups == 1:
        return tf.matmul(patches, weights)
    cin = patches.shape[-1] // taps
    cg, cout = cin // groups, weights.shape[-1]
    p = tf.reshape(patches, [-1, taps, groups, cg])
    p = tf.reshape(tf.transpose(p, [2, 0, 1, 3]), [groups, -1, taps * cg])  # (G, M, T*Cg)
    w = tf.reshape(weights, [taps, cg, groups, cout // groups])
    w = tf.reshape(tf.transpose(w, [2, 0, 1, 3]), [groups, taps * cg, cout // groups])
    z = tf.matmul(p, w)  # (G, M, Cout/G)
    return tf.reshape(tf.transpose(z, [1, 0, 2]), [-1, cout])


def grouped_weight_grad(patches, dz, taps, groups):
    """patches^T @ dz per group: (M, T*Cin), (M, Cout) -> (T*Cg, Cout)."""
    if groups == 1:
        return tf.matmul(patches, dz, transpose_a=True)
    cin, cout = patches.shape[-1] // taps, dz.shape[-1]
    cg, cog = cin // groups, cout // groups
    p = tf.reshape(patches, [-1, taps, groups, cg])
    p = tf.reshape(tf.transpose(p, [2, 0, 1, 3]), [groups, -1, taps * cg])  # (G, M, T*Cg)
    d = tf.transpose(tf.reshape(dz, [-1, groups, cog]), [1, 0, 2])  # (G, M, Cog)
    w = tf.matmul(p, d, transpose_a=True)  # (G, T*Cg, Cog)
    w = tf.transpose(tf.reshape(w, [groups, taps, cg, cog]), [1, 2, 0, 3])
    return tf.reshape(w, [taps * cg, cout])
