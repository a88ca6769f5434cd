"""A 3D U-Net for segmenting volumes."""
import keras

import layers
from networks.blocks import conv_block
from networks.registry import register


@register("unet3d")
def unet3d(x, *, num_classes, include_top=True, base_filters=16, depth=3, momentum=0.99):
    """(N, D, H, W, C) -> (N, D, H, W, num_classes) per-voxel logits (Cicek et al. 2016), or the
    last decoder level's (N, D, H, W, base_filters) features without the top.

    `depth` down steps (two 3^3 conv-BN-ReLU, then 2^3 max pooling), a bottleneck, and as many
    up steps (2^3 transposed convolution, stride 2) whose output is concatenated with the
    encoder features of the same resolution; a 1^3 convolution gives the logits. D, H, W must
    be divisible by 2**depth. Batch norm momentum 0.99 (Keras's default): batches of one or two
    crops give noisy statistics, which the slower average smooths (and the segmentation
    benchmark was measured with it).
    """
    spatial = tuple(x.shape[1:4])
    if any(size is None or size % 2**depth for size in spatial):
        raise ValueError(f"U-Net of depth {depth} needs a shape divisible by {2**depth}, got {spatial}")
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, momentum=momentum, name=f"down{level}",
                       activation=keras.layers.ReLU)
        skips.append(x)
        x = layers.MaxPooling3D(2, name=f"pool{level}")(x)  # (N, D / 2^(level+1), .., C)
    x = conv_block(x, base_filters * 2**depth, momentum=momentum, name="bottleneck",
                   activation=keras.layers.ReLU)
    for level in reversed(range(depth)):
        width = base_filters * 2**level
        x = layers.Conv3DTranspose(width, 2, strides=2, name=f"up{level}")(x)  # (N, D / 2^level, ..)
        x = keras.layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conv_block(x, width, momentum=momentum, name=f"dec{level}", activation=keras.layers.ReLU)
    if not include_top:
        return x
    return layers.Conv3D(num_classes, 1, name="logits")(x)
