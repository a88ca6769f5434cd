"""Keras pooling layers whose pooling is ours (layers.ops.pooling), drop-in for keras.layers."""
import keras

from layers.convolution import from_channels_last, to_channels_last
from layers.serialization import serializable
from layers.ops import pooling as pool_ops


class HandWrittenPooling:
    """Mixin for keras.layers.{Max,Average}PoolingND."""

    def call(self, inputs, training=None):
        x = to_channels_last(inputs, self.data_format)
        args = (x, self.pool_size, self.strides, self.padding, len(self.pool_size))
        # XLA-fused in training only: exports keep plain ops (layers/ops/average_pool.py, max_pool.py)
        pool = pool_ops.max_pool if self.pool_mode == "max" else pool_ops.average_pool
        z = pool(*args, compiled=training is True)
        return from_channels_last(z, self.data_format)


class HandWrittenGlobalPooling:
    """Mixin for keras.layers.Global{Max,Average}PoolingND; subclasses name the reducer."""

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        return self._shaped(self.reduce(x), x.shape.rank - 2)

    def _shaped(self, z, rank):
        """(N, C) -> the layer's output, with keepdims and data_format as Keras."""
        if self.keepdims:
            z = from_channels_last(z[(slice(None),) + (None,) * rank], self.data_format)
        return z


@serializable
class MaxPooling1D(HandWrittenPooling, keras.layers.MaxPooling1D):
    """1D max pooling; gradient to each window's first arg-max."""


@serializable
class MaxPooling2D(HandWrittenPooling, keras.layers.MaxPooling2D):
    """2D max pooling; gradient to each window's first arg-max."""


@serializable
class MaxPooling3D(HandWrittenPooling, keras.layers.MaxPooling3D):
    """3D max pooling; gradient to each window's first arg-max."""


@serializable
class AveragePooling1D(HandWrittenPooling, keras.layers.AveragePooling1D):
    """1D average pooling; padding cells are not counted."""


@serializable
class AveragePooling2D(HandWrittenPooling, keras.layers.AveragePooling2D):
    """2D average pooling; padding cells are not counted."""


@serializable
class AveragePooling3D(HandWrittenPooling, keras.layers.AveragePooling3D):
    """3D average pooling; padding cells are not counted."""


class _GlobalMax(HandWrittenGlobalPooling):
    reduce = staticmethod(pool_ops.global_max_pool)


class _GlobalAverage(HandWrittenGlobalPooling):
    reduce = staticmethod(pool_ops.global_average_pool)


@serializable
class GlobalMaxPooling1D(_GlobalMax, keras.layers.GlobalMaxPooling1D):
    """Maximum over time per channel."""


@serializable
class GlobalMaxPooling2D(_GlobalMax, keras.layers.GlobalMaxPooling2D):
    """Maximum over the image per channel."""


@serializable
class GlobalMaxPooling3D(_GlobalMax, keras.layers.GlobalMaxPooling3D):
    """Maximum over the volume per channel."""


@serializable
class GlobalAveragePooling1D(_GlobalAverage, keras.layers.GlobalAveragePooling1D):
    """Mean over time per channel; under a mask (e.g. from Embedding(mask_zero=True)), over
    the unmasked steps only, as Keras."""

    def call(self, inputs, mask=None):
        x = to_channels_last(inputs, self.data_format)
        return self._shaped(pool_ops.global_average_pool(x, mask), 1)


@serializable
class GlobalAveragePooling2D(_GlobalAverage, keras.layers.GlobalAveragePooling2D):
    """Mean over the image per channel."""


@serializable
class GlobalAveragePooling3D(_GlobalAverage, keras.layers.GlobalAveragePooling3D):
    """Mean over the volume per channel."""
