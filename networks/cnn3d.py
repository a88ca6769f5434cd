"""A VGG-style 3D classifier for volumes."""
import keras

import layers
from networks.blocks import check_downsampling, classifier_head, conv_block, pooling_kinds
from networks.registry import register


@register("cnn3d")
def cnn3d(x, *, num_classes, include_top=True, filters=(16, 32, 64, 128), dropout=0.3, pooling="avg+max",
          momentum=0.99):
    """(N, D, H, W, C) -> (N, num_classes), or the last block's features without the top: blocks
    of 3^3 convolutions with batch norm and ReLU, 2^3 max pooling between blocks, global pooling
    ('avg', 'max' or 'avg+max'), dropout, logits.

    The first block has one convolution (on one input channel a second adds little and costs
    the most voxels); deeper ones have two. Batch norm momentum 0.99 (Keras's default): batches
    of a few volumes give noisy statistics, which the slower average smooths (and the volume
    benchmarks were measured with it).
    """
    for level, width in enumerate(filters):
        if level:
            check_downsampling(x, len(filters), level)
            x = layers.MaxPooling3D(2, name=f"pool{level}")(x)  # (N, D / 2^level, .., C)
        x = conv_block(x, width, convolutions=1 if level == 0 else 2, momentum=momentum,
                       name=f"block{level}", activation=keras.layers.ReLU)
    if not include_top:
        return x
    return classifier_head(x, num_classes, dropout, pooling_kinds(pooling))
