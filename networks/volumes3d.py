"""3D networks for volumes, from our layers (Conv3D, Conv3DTranspose, MaxPooling3D, global pooling).

MONAI keeps layers, blocks and networks apart; so do we: `conv_block` and `residual_block` are
the units, `cnn3d` (VGG-style) and `resnet3d` the classifiers, `unet3d` the segmenter.
Convolution and pooling come only from `layers` (hand-written forward and backward); batch norm,
dropout and dense from Keras.
Spatial sizes are static (our layers need them when tracing), hence fixed network shapes.
"""
from __future__ import annotations

import keras

import layers

Conv3D = layers.conv_layer(3)
Conv3DTranspose = layers.conv_layer(3, transpose=True)
MaxPooling3D = layers.pooling_layer(3, "max")
GlobalAveragePooling3D = layers.pooling_layer(3, "average", global_=True)
GlobalMaxPooling3D = layers.pooling_layer(3, "max", global_=True)


def conv_block(x, filters, convolutions=2, name=""):
    """(N, D, H, W, C) -> (N, D, H, W, filters): [3^3 conv (no bias), batch norm, ReLU] x n."""
    for i in range(convolutions):
        x = Conv3D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def residual_block(x, filters, stride=1, name=""):
    """(N, D, H, W, C) -> (N, D/stride, H/stride, W/stride, filters): two 3^3 convolutions with
    batch norm added to the input (He et al. 2016, "basic" block); the shortcut is a strided 1^3
    convolution with batch norm when the shape changes."""
    y = Conv3D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv0")(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn0")(y)
    y = keras.layers.ReLU(name=f"{name}_relu0")(y)
    y = Conv3D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv1")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = Conv3D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


def classifier_head(x, num_classes, dropout, pooling):
    """(N, D, H, W, C) -> (N, num_classes): global pooling (average, max, or both
    concatenated), dropout, a dense layer to logits."""
    pooled = []
    if "avg" in pooling:
        pooled.append(GlobalAveragePooling3D(name="global_avg")(x))
    if "max" in pooling:
        pooled.append(GlobalMaxPooling3D(name="global_max")(x))
    if not pooled:
        raise ValueError(f"pooling '{pooling}': expected avg, max or avg+max")
    x = keras.layers.Concatenate(name="global_pool")(pooled) if len(pooled) > 1 else pooled[0]
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


def _check_levels(x, levels, level):
    if min(x.shape[1:4]) < 2:
        raise ValueError(f"input too small for {levels} levels: {x.shape[1:4]} at level {level}")


def cnn3d(x, num_classes, filters=(16, 32, 64, 128), dropout=0.3, pooling="avg+max"):
    """A VGG-style 3D classifier: blocks of 3^3 convolutions, 2^3 max pooling between blocks,
    global pooling (average, max, or both concatenated), dropout, a dense layer to logits.

    (N, D, H, W, 1) -> (N, num_classes). The first block has one convolution (on one input
    channel a second adds little and costs the most voxels); deeper ones have two.
    """
    for level, width in enumerate(filters):
        if level:
            _check_levels(x, len(filters), level)
            x = MaxPooling3D(2, name=f"pool{level}")(x)
        x = conv_block(x, width, convolutions=1 if level == 0 else 2, name=f"block{level}")
    return classifier_head(x, num_classes, dropout, pooling)


def resnet3d(x, num_classes, filters=(16, 32, 64), dropout=0.3, pooling="avg+max", blocks=2):
    """A ResNet-style 3D classifier (the MedMNIST 3D baselines are ResNet-18 3D): a 3^3 stem
    convolution, then per level `blocks` residual blocks, the first of each deeper level with
    stride 2 (no pooling layer: the strided convolutions downsample), and the same head as cnn3d.

    (N, D, H, W, 1) -> (N, num_classes).
    """
    x = conv_block(x, filters[0], convolutions=1, name="stem")
    for level, width in enumerate(filters):
        if level:
            _check_levels(x, len(filters), level)
        for block in range(blocks):
            stride = 2 if level and block == 0 else 1
            x = residual_block(x, width, stride, name=f"level{level}_block{block}")
    return classifier_head(x, num_classes, dropout, pooling)


def unet3d(x, num_classes, base_filters=16, depth=3):
    """A 3D U-Net (Cicek et al. 2016): `depth` down steps (2^3 max pooling), a bottleneck, and
    as many up steps (2^3 transposed convolution, stride 2) whose output is concatenated with the
    encoder features of the same resolution; a 1^3 convolution gives per-voxel logits.

    (N, D, H, W, 1) -> (N, D, H, W, num_classes); D, H, W must be divisible by 2**depth.
    """
    spatial = tuple(x.shape[1:4])
    if any(size is None or size % 2**depth for size in spatial):
        raise ValueError(f"U-Net of depth {depth} needs a shape divisible by {2**depth}, got {spatial}")
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, name=f"down{level}")
        skips.append(x)
        x = MaxPooling3D(2, name=f"pool{level}")(x)
    x = conv_block(x, base_filters * 2**depth, name="bottleneck")
    for level in reversed(range(depth)):
        width = base_filters * 2**level
        x = Conv3DTranspose(width, 2, strides=2, name=f"up{level}")(x)
        x = keras.layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conv_block(x, width, name=f"dec{level}")
    return Conv3D(num_classes, 1, name="logits")(x)
