"""cnn-suite layers: convolution and pooling computed by our code, forward and backward.

Drop-in replacements for the `keras.layers` classes of the same names; see README.
"""
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


def conv_layer(rank, transpose=False):
    """The convolution class for a rank, for pipeline code written once for 1D/2D/3D."""
    return globals()[f"Conv{rank}D{'Transpose' if transpose else ''}"]


def pooling_layer(rank, kind="max", global_=False):
    """The pooling class for a rank: kind 'max' or 'average'."""
    prefix = "Global" if global_ else ""
    return globals()[f"{prefix}{'Max' if kind == 'max' else 'Average'}Pooling{rank}D"]


__all__ = [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "Case", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "HandWrittenLayer", "LocalResponseNormalization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "conv_layer", "pooling_layer", "register",
]
