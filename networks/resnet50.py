"""ResNet-50 (He et al. 2016) from a rank-generic bottleneck block, layer for layer as
keras.applications.ResNet50 in 2D (names, structure, weight order), and a ResNet-50 of any rank
from the same blocks."""
import keras

import layers
from networks.blocks import conv_norm_act, rank_of
from networks.blocks import relu as blocks_relu
from networks.registry import register

EPSILON = 1.001e-5  # keras.applications' batch norm epsilon for ResNet and DenseNet
MOMENTUM = 0.99  # keras.applications' (Keras's default) batch norm momentum
DEPTHS = (3, 4, 6, 3)  # bottleneck blocks per stage of ResNet-50
PADDING = (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D)


def zero_padding(x, amount, name=None):
    """(N, *S, C) -> (N, *(S + 2 amount), C): zeros on both sides of every spatial axis."""
    rank = rank_of(x)
    padding = amount if rank == 1 else ((amount, amount),) * rank
    return PADDING[rank - 1](padding, name=name)(x)


def conv_bn(x, filters, kernel, strides=1, padding="valid", *, name, relu=True):
    """`blocks.conv_norm_act` as keras.applications' ResNet50 has it: convolution with bias,
    batch norm of epsilon 1.001e-5, optional ReLU: `{name}_conv`, `{name}_bn`, `{name}_relu`."""
    return conv_norm_act(x, filters, kernel, strides, momentum=MOMENTUM, name=name, padding=padding,
                         use_bias=True, epsilon=EPSILON, activation=blocks_relu if relu else None)


def bottleneck_block(x, filters, stride=1, projection=True, *, name):
    """(N, *S, C) -> (N, *S / stride, 4 filters): 1^r reduce (strided), 3^r, 1^r expand, plus the
    shortcut (a strided 1^r projection `{name}_0` when `projection`, else the identity), ReLU."""
    shortcut = x
    if projection:
        shortcut = conv_bn(x, 4 * filters, 1, stride, name=f"{name}_0", relu=False)
    y = conv_bn(x, filters, 1, stride, name=f"{name}_1")
    y = conv_bn(y, filters, 3, padding="same", name=f"{name}_2")
    y = conv_bn(y, 4 * filters, 1, name=f"{name}_3", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def residual_stage(x, filters, blocks, stride, *, name):
    """`blocks` bottleneck blocks `{name}_block1..`; the first projects (and strides)."""
    x = bottleneck_block(x, filters, stride, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = bottleneck_block(x, filters, projection=False, name=f"{name}_block{i}")
    return x


def resnet_v1(x, depths=DEPTHS, *, num_classes, include_top=True, classifier_activation=None):
    """(N, *S, C) -> (N, num_classes) logits (`classifier_activation`: keras.applications' softmax
    top), or the (N, *S / 32, 2048) features without the top.

    Stem: 7^r convolution stride 2 on the zero-padded input, 3^r max pooling stride 2; four
    stages of 64, 128, 256, 512 bottleneck filters (the first stage not strided), then global
    average pooling `avg_pool` and `predictions`.
    """
    pool = layers.pooling_layer(rank_of(x))
    x = zero_padding(x, 3, name="conv1_pad")
    x = conv_bn(x, 64, 7, 2, name="conv1")  # (N, *S / 2, 64)
    x = zero_padding(x, 1, name="pool1_pad")
    x = pool(3, strides=2, name="pool1_pool")(x)  # (N, *S / 4, 64)
    for stage, blocks in enumerate(depths):
        x = residual_stage(x, 64 * 2**stage, blocks, 1 if stage == 0 else 2, name=f"conv{stage + 2}")
    if not include_top:
        return x
    x = layers.pooling_layer(rank_of(x), "average", global_=True)(name="avg_pool")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)


@register("resnet50")
def resnet50(x, *, num_classes, include_top=True, classifier_activation=None):
    """ResNet-50: `resnet_v1` with 3, 4, 6, 3 bottleneck blocks (25,636,712 parameters in 2D)."""
    return resnet_v1(x, DEPTHS, num_classes=num_classes, include_top=include_top,
                     classifier_activation=classifier_activation)
