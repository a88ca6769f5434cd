"""3D max and average pooling made of LiteRT's 2D pooling builtins: the LiteRT twin of our
MaxPooling3D and AveragePooling3D (serving/formats/native.py).

Why: LiteRT has no 3D pooling builtin (its converter leaves tf.MaxPool3D and tf.AvgPool3D as
Flex ops, which the ai-edge-litert runtime lacks), and our own 3D pooling traces to 6-D reshapes
and slices that LiteRT runs slowly and its int8 StridedSlice (at most 5-D) cannot take. A box
window factors per axis, so pooling (H, W) with MAX_POOL_2D / AVERAGE_POOL_2D on (N*D, H, W, C),
then D with a (kd, 1) window on (N, D, H'*W', C) gives the same numbers: exactly for max; for
average up to float rounding, padding included, because a window's count of cells inside the
volume is the product of its per-axis counts (SAME pooling does not count padding, in TensorFlow
and in ours).
"""
from __future__ import annotations

import keras
import tensorflow as tf

POOL_2D = {"max": tf.nn.max_pool2d, "average": tf.nn.avg_pool2d}


def pool3d_by_2d(x, mode, pool_size, strides, padding):
    """(N, D, H, W, C) -> (N, D', H', W', C): 3D `mode` ("max" or "average") pooling as two 2D
    poolings on 4-D tensors; `padding` "valid" or "same" (any case), as keras.layers."""
    padding = padding.upper()
    (kd, kh, kw), (sd, sh, sw) = pool_size, strides
    depth, height, width, channels = (_size(x, axis) for axis in (1, 2, 3, 4))
    pool = POOL_2D[mode]
    planes = tf.reshape(x, [-1, height, width, channels])  # (N * D, H, W, C)
    planes = pool(planes, (kh, kw), (sh, sw), padding)  # (N * D, H', W', C)
    rows, columns = _size(planes, 1), _size(planes, 2)
    stacked = tf.reshape(planes, [-1, depth, rows * columns, channels])  # (N, D, H' * W', C)
    stacked = pool(stacked, (kd, 1), (sd, 1), padding)  # (N, D', H' * W', C)
    return tf.reshape(stacked, [-1, _size(stacked, 1), rows, columns, channels])


def _size(x, axis):
    """The static size of `x`'s `axis`, else its run-time size."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


class _By2D:
    """Mixin for keras.layers.{Max,Average}Pooling3D: same config and output, pooled by 2D builtins."""

    def call(self, inputs):
        channels_first = self.data_format == "channels_first"
        x = tf.transpose(inputs, [0, 2, 3, 4, 1]) if channels_first else inputs
        z = pool3d_by_2d(x, self.pool_mode, self.pool_size, self.strides, self.padding)
        return tf.transpose(z, [0, 4, 1, 2, 3]) if channels_first else z


class MaxPooling3DBy2D(_By2D, keras.layers.MaxPooling3D):
    """keras.layers.MaxPooling3D as MAX_POOL_2D over (H, W), then over D."""


class AveragePooling3DBy2D(_By2D, keras.layers.AveragePooling3D):
    """keras.layers.AveragePooling3D as AVERAGE_POOL_2D over (H, W), then over D."""
