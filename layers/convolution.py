"""Keras convolution layers whose convolution is ours (layers.ops.conv).

Each class inherits its Keras namesake for argument checking, weights, shapes, bias,
activation and config, so it is a drop-in replacement (same arguments, defaults and weight
layout) and only the math differs. Convolutions override `convolution_op`, the hook Keras's
BaseConv offers, and `call`, to trace outside training with plain ops only (`mode.plain_ops`:
no XLA-compiled kn2row in an export, as pooling keeps its XLA path to training); transposed
convolutions have no such hook, so they override `call`.
"""
import keras
import tensorflow as tf

from layers.ops import conv as conv_ops, mode
from layers.serialization import serializable


def to_channels_last(x, data_format):
    if data_format == "channels_first":
        return tf.transpose(x, [0] + list(range(2, x.shape.rank)) + [1])
    return x


def from_channels_last(x, data_format):
    if data_format == "channels_first":
        return tf.transpose(x, [0, x.shape.rank - 1] + list(range(1, x.shape.rank - 1)))
    return x


def _bias_and_activation(layer, outputs):
    if layer.use_bias:
        shape = (1,) * (layer.rank + 1) + (layer.filters,)
        if layer.data_format == "channels_first":
            shape = (1, layer.filters) + (1,) * layer.rank
        outputs = outputs + tf.reshape(layer.bias, shape)
    return layer.activation(outputs) if layer.activation is not None else outputs


class HandWrittenConv:
    """Mixin for keras.layers.ConvND: our convolution, Keras's everything else."""

    def call(self, inputs, training=None):
        # keras.layers.Conv1D.call pads for "causal" and calls ops.conv itself, never the
        # convolution_op hook: without this, a Conv1D would run TensorFlow's convolution
        with mode.plain_ops(training is not True):
            return _bias_and_activation(self, self.convolution_op(inputs, self.kernel))

    def convolution_op(self, inputs, kernel):
        x = to_channels_last(inputs, self.data_format)
        z = conv_ops.conv(
            x, tf.convert_to_tensor(kernel), self.strides, self.padding, self.dilation_rate, self.groups
        )
        return from_channels_last(z, self.data_format)


class HandWrittenConvTranspose:
    """Mixin for keras.layers.ConvNDTranspose: our transposed convolution."""

    def call(self, inputs, training=None):
        out_shape = self.compute_output_shape(tuple(inputs.shape))
        x = to_channels_last(inputs, self.data_format)
        spatial = out_shape[1:-1] if self.data_format == "channels_last" else out_shape[2:]
        with mode.plain_ops(training is not True):
            z = conv_ops.conv_transpose(
                x, tf.convert_to_tensor(self.kernel), spatial, self.strides, self.padding, self.dilation_rate
            )
        return _bias_and_activation(self, from_channels_last(z, self.data_format))


@serializable
class Conv1D(HandWrittenConv, keras.layers.Conv1D):
    """1D convolution (valid, same, causal), our forward and backward."""


@serializable
class Conv2D(HandWrittenConv, keras.layers.Conv2D):
    """2D convolution, our forward and backward."""


@serializable
class Conv3D(HandWrittenConv, keras.layers.Conv3D):
    """3D convolution, our forward and backward."""


@serializable
class Conv1DTranspose(HandWrittenConvTranspose, keras.layers.Conv1DTranspose):
    """1D transposed convolution, our forward and backward."""


@serializable
class Conv2DTranspose(HandWrittenConvTranspose, keras.layers.Conv2DTranspose):
    """2D transposed convolution, our forward and backward."""


@serializable
class Conv3DTranspose(HandWrittenConvTranspose, keras.layers.Conv3DTranspose):
    """3D transposed convolution (the U-Net decoder's upsampling), our forward and backward."""
