"""DenseNet-121 (Huang et al. 2017) from rank-generic dense and transition blocks, layer for
layer as keras.applications.DenseNet121 in 2D, and a DenseNet of any rank from the same blocks."""
import keras

import layers
from networks.blocks import rank_of
from networks.registry import register
from networks.resnet50 import EPSILON, zero_padding

BLOCKS = (6, 12, 24, 16)  # dense layers per dense block of DenseNet-121
GROWTH = 32


def bn_relu(x, name):
    """Batch norm `{name}_bn` then ReLU `{name}_relu` (DenseNet's pre-activation)."""
    x = keras.layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def dense_layer(x, growth=GROWTH, *, name):
    """(N, *S, C) -> (N, *S, C + growth): BN-ReLU-1^r (4 growth), BN-ReLU-3^r (growth),
    concatenated to the input."""
    conv = layers.conv_layer(rank_of(x))
    y = bn_relu(x, f"{name}_0")
    y = conv(4 * growth, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = bn_relu(y, f"{name}_1")
    y = conv(growth, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(x, count, growth=GROWTH, *, name):
    """`count` dense layers `{name}_block1..`: (N, *S, C) -> (N, *S, C + count * growth)."""
    for i in range(1, count + 1):
        x = dense_layer(x, growth, name=f"{name}_block{i}")
    return x


def transition_block(x, reduction=0.5, *, name):
    """(N, *S, C) -> (N, *S / 2, C * reduction): BN-ReLU, 1^r convolution, 2^r average pooling."""
    rank = rank_of(x)
    x = bn_relu(x, name)
    x = layers.conv_layer(rank)(int(x.shape[-1] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.pooling_layer(rank, "average")(2, strides=2, name=f"{name}_pool")(x)


def densenet(x, blocks=BLOCKS, *, num_classes, include_top=True, classifier_activation=None):
    """(N, *S, C) -> (N, num_classes) logits (`classifier_activation`: keras.applications'
    softmax top), or the (N, *S / 32, F) features without the top.

    Stem as ResNet's (7^r stride 2 convolution without bias, BN-ReLU, 3^r max pooling stride
    2), dense blocks `conv2..` with transitions `pool2..` between them, final BN-ReLU, then
    global average pooling `avg_pool` and `predictions`.
    """
    rank = rank_of(x)
    x = zero_padding(x, 3)
    x = layers.conv_layer(rank)(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = bn_relu(x, "conv1")  # (N, *S / 2, 64)
    x = zero_padding(x, 1)
    x = layers.pooling_layer(rank)(3, strides=2, name="pool1")(x)  # (N, *S / 4, 64)
    for index, count in enumerate(blocks):
        x = dense_block(x, count, name=f"conv{index + 2}")
        if index < len(blocks) - 1:
            x = transition_block(x, name=f"pool{index + 2}")
    x = keras.layers.BatchNormalization(epsilon=EPSILON, name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    if not include_top:
        return x
    x = layers.pooling_layer(rank, "average", global_=True)(name="avg_pool")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)


@register("densenet121")
def densenet121(x, *, num_classes, include_top=True, classifier_activation=None):
    """DenseNet-121: blocks of 6, 12, 24, 16 dense layers (8,062,504 parameters in 2D)."""
    return densenet(x, BLOCKS, num_classes=num_classes, include_top=include_top,
                    classifier_activation=classifier_activation)
