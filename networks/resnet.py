"""ResNets (He et al. 2016), 2D and 3D from the one rank-generic basic block
(`blocks.residual_block`): a small ResNet for 32x32 images and a ResNet for volumes."""
import keras

from networks.blocks import (check_downsampling, classifier_head, conv_block, conv_norm_act,
                             pooling_kinds, residual_block)
from networks.registry import register


def _cifar_names(name):
    """The small ResNet's layer names as its saved runs have them (ReLUs and adds unnamed)."""
    return {"conv0": f"{name}_a", "bn0": f"{name}_a_bn", "relu0": None, "conv1": f"{name}_b",
            "bn1": f"{name}_b_bn", "add": None, "out": None}


@register("resnet_cifar")
def resnet_cifar(x, *, num_classes, include_top=True, widths=(32, 64, 128), blocks=2, dropout=0.2, momentum=0.9):
    """(N, 32, 32, C) -> (N, num_classes), or the (N, 8, 8, widths[-1]) features without the
    top: a small ResNet for 32x32 images (CIFAR-10).

    A 3x3 stem, then one stage of `blocks` basic blocks per width, the first block of each later
    stage with stride 2 (32 -> 16 -> 8), global average pooling, dropout, logits. Batch norm
    momentum 0.9: runs of a few thousand steps, where 0.99 leaves the moving statistics behind.
    """
    x = conv_norm_act(x, widths[0], 3, momentum=momentum, name="stem",
                      names={"conv": "stem", "act": None})  # (N, 32, 32, w0)
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage and block == 0 else 1
            name = f"stage{stage + 1}_block{block + 1}"
            x = residual_block(x, width, stride, momentum=momentum, name=name,
                               names=_cifar_names(name))  # (N, 32 / 2^stage, .., width)
    if not include_top:
        return x
    return classifier_head(x, num_classes, dropout, ("avg",), names={"avg": "pool", "dropout": None})


@register("resnet3d")
def resnet3d(x, *, num_classes, include_top=True, filters=(16, 32, 64), dropout=0.3, pooling="avg+max",
             blocks=2, momentum=0.99):
    """(N, D, H, W, C) -> (N, num_classes), or the last level's features without the top: a
    ResNet-style 3D classifier (the MedMNIST 3D baselines are ResNet-18 3D).

    A 3^3 stem convolution, then per level `blocks` residual blocks, the first of each deeper
    level with stride 2 (no pooling layer: the strided convolutions downsample), global pooling
    ('avg', 'max' or 'avg+max'), dropout, logits. Batch norm momentum 0.99 (Keras's default):
    batches of a few volumes give noisy statistics, which the slower average smooths (and the
    volume benchmarks were measured with it).
    """
    x = conv_block(x, filters[0], convolutions=1, momentum=momentum, name="stem",
                   activation=keras.layers.ReLU)
    for level, width in enumerate(filters):
        if level:
            check_downsampling(x, len(filters), level)
        for block in range(blocks):
            stride = 2 if level and block == 0 else 1
            x = residual_block(x, width, stride, momentum=momentum, activation=keras.layers.ReLU,
                               name=f"level{level}_block{block}")  # (N, D / 2^level, .., width)
    if not include_top:
        return x
    return classifier_head(x, num_classes, dropout, pooling_kinds(pooling))
