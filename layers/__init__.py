"""cnn-suite layers: convolution and pooling computed by our code, forward and backward.

Drop-in replacements for the `keras.layers` classes of the same names; see README.
"""
from layers import allocator

allocator.prefer_caching_allocator()  # before TensorFlow's first op creates its CPU device

from layers.base import HandWrittenLayer
from layers.convolution import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
)
from layers.normalization import LocalResponseNormalization
from layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from layers.registry import Case, register
from layers import catalog  # noqa: F401  (registers the built-in layers)


CONVOLUTIONS = (Conv1D, Conv2D, Conv3D)
TRANSPOSED_CONVOLUTIONS = (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)
POOLING = {
    ("max", False): (MaxPooling1D, MaxPooling2D, MaxPooling3D),
    ("average", False): (AveragePooling1D, AveragePooling2D, AveragePooling3D),
    ("max", True): (GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D),
    ("average", True): (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D),
}


def _by_rank(types, rank):
    if rank not in (1, 2, 3):
        raise ValueError(f"rank must be 1, 2 or 3; received {rank!r}.")
    return types[rank - 1]


def conv_layer(rank, transpose=False):
    """The convolution class for a rank, for pipeline code written once for 1D/2D/3D."""
    return _by_rank(TRANSPOSED_CONVOLUTIONS if transpose else CONVOLUTIONS, rank)


def pooling_layer(rank, kind="max", global_=False):
    """The pooling class for a rank: kind 'max' or 'average'."""
    if kind not in ("max", "average"):
        raise ValueError(f"kind must be 'max' or 'average'; received {kind!r}.")
    return _by_rank(POOLING[kind, bool(global_)], rank)


__all__ = [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "Case", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "HandWrittenLayer", "LocalResponseNormalization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "conv_layer", "pooling_layer", "register",
]
