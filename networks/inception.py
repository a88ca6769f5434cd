"""Inception v3 (Szegedy et al. 2016), layer for layer as keras.applications.InceptionV3.

2D only: its factorised 1x7 / 7x1 and 1x3 / 3x1 convolutions are 2D designs. Keras names
its convolutions, batch norms and activations automatically, and its weight files (both kinds)
are read by layer order, which this module reproduces exactly.
"""
import keras

import layers
from networks.blocks import conv_norm_act
from networks.registry import register

MOMENTUM = 0.99  # keras.applications' (Keras's default) batch norm momentum


def conv_bn(x, filters, rows, cols, strides=1, padding="same"):
    """`blocks.conv_norm_act` as keras.applications' conv2d_bn has it: a rows x cols convolution
    without bias, batch norm without scale (ReLU follows), ReLU, all named by Keras."""
    return conv_norm_act(x, filters, (rows, cols), strides, momentum=MOMENTUM, name=None, padding=padding,
                         scale=False)


def average_branch(x, filters):
    """3x3 average pooling (stride 1, 'same'), then a 1x1 conv_bn."""
    return conv_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), filters, 1, 1)


def concatenate(tensors, name=None):
    return keras.layers.Concatenate(axis=-1, name=name)(tensors)


def block_35(x, pool_filters, name):
    """mixed0-2 (35x35 at 299): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-1x1."""
    branch1x1 = conv_bn(x, 64, 1, 1)
    branch5x5 = conv_bn(conv_bn(x, 48, 1, 1), 64, 5, 5)
    branch3x3dbl = conv_bn(conv_bn(conv_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    return concatenate([branch1x1, branch5x5, branch3x3dbl, average_branch(x, pool_filters)], name)


def reduction_35(x):
    """mixed3: 35 -> 17 by a strided 3x3, a strided 3x3 after 1x1-3x3, and max pooling."""
    branch3x3 = conv_bn(x, 384, 3, 3, strides=2, padding="valid")
    branch3x3dbl = conv_bn(conv_bn(x, 64, 1, 1), 96, 3, 3)
    branch3x3dbl = conv_bn(branch3x3dbl, 96, 3, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2)(x)
    return concatenate([branch3x3, branch3x3dbl, branch_pool], "mixed3")


def block_17(x, width, name):
    """mixed4-7 (17x17): 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg-1x1, `width` inside."""
    branch1x1 = conv_bn(x, 192, 1, 1)
    branch7x7 = conv_bn(conv_bn(conv_bn(x, width, 1, 1), width, 1, 7), 192, 7, 1)
    branch7x7dbl = conv_bn(x, width, 1, 1)
    for filters, rows, cols in ((width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7)):
        branch7x7dbl = conv_bn(branch7x7dbl, filters, rows, cols)
    return concatenate([branch1x1, branch7x7, branch7x7dbl, average_branch(x, 192)], name)


def reduction_17(x):
    """mixed8: 17 -> 8."""
    branch3x3 = conv_bn(conv_bn(x, 192, 1, 1), 320, 3, 3, strides=2, padding="valid")
    branch7x7x3 = conv_bn(conv_bn(conv_bn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    branch7x7x3 = conv_bn(branch7x7x3, 192, 3, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2)(x)
    return concatenate([branch3x3, branch7x7x3, branch_pool], "mixed8")


def block_8(x, index):
    """mixed9-10 (8x8): 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | avg-1x1."""
    branch1x1 = conv_bn(x, 320, 1, 1)
    branch3x3 = conv_bn(x, 384, 1, 1)
    branch3x3 = concatenate([conv_bn(branch3x3, 384, 1, 3), conv_bn(branch3x3, 384, 3, 1)],
                            f"mixed9_{index}")
    branch3x3dbl = conv_bn(conv_bn(x, 448, 1, 1), 384, 3, 3)
    branch3x3dbl = concatenate([conv_bn(branch3x3dbl, 384, 1, 3), conv_bn(branch3x3dbl, 384, 3, 1)])
    return concatenate([branch1x1, branch3x3, branch3x3dbl, average_branch(x, 192)], f"mixed{9 + index}")


@register("inception_v3")
def inception_v3(x, *, num_classes, include_top=True, classifier_activation=None):
    """(N, H, W, 3) -> (N, num_classes) logits (`classifier_activation`: keras.applications'
    softmax top), or the (N, 8, 8, 2048) features (at 299) without
    the top. H, W >= 75."""
    x = conv_bn(x, 32, 3, 3, strides=2, padding="valid")  # (N, 149, 149, 32)
    x = conv_bn(x, 32, 3, 3, padding="valid")
    x = conv_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)  # (N, 73, 73, 64)
    x = conv_bn(x, 80, 1, 1, padding="valid")
    x = conv_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)  # (N, 35, 35, 192)
    for index, pool_filters in enumerate((32, 64, 64)):
        x = block_35(x, pool_filters, f"mixed{index}")
    x = reduction_35(x)  # (N, 17, 17, 768)
    for index, width in enumerate((128, 160, 160, 192)):
        x = block_17(x, width, f"mixed{4 + index}")
    x = reduction_17(x)  # (N, 8, 8, 1280)
    for index in range(2):
        x = block_8(x, index)  # (N, 8, 8, 2048)
    if not include_top:
        return x
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
