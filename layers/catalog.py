"""The built-in layers' registrations: the configuration grid each one is checked on.

Grids cover what breaks hand-written convolutions: even kernels, strides larger than the
kernel, sizes not divisible by the stride, dilation, groups, every padding; and every algorithm
the ops choose by shape (conv: pointwise, few_channels, few_channels_im2col, space_to_depth, rows,
kn2row (with oneDNN on; tests/layers/test_reference.py checks its cases in both modes), im2col;
dL/dx by columns for widening convolutions past the small sizes, and on few channels up to a
size, by shifted rows past it; pooling:
separable, with tiling, overlapping and gapped axis steps, and tiles for average pooling;
average pooling's axis steps: matrix on short axes, taps on long ones; in training, which the
checks run too, XLA-compiled pooling, with whole windows for 3D max pooling (a tile view where
the windows tile, strided taps elsewhere) and for 2D max pooling that reads padding; with
oneDNN on, few_channels_im2col's dL/dx by shifted rows on the small shapes as well),
which tests/layers/test_layers_algorithms.py checks.
"""
import keras
import tensorflow as tf

from layers import convolution as conv
from layers import normalization, pooling
from layers.registry import Case, register


def _keras(name):
    return lambda config: getattr(keras.layers, name)(**config)


@keras.saving.register_keras_serializable(package="cnn_suite_reference")
class TFLocalResponseNormalization(keras.layers.Layer):
    """Reference for our LRN: TensorFlow's own op (4D inputs only; its CPU kernel takes float32 and
    float16, so bfloat16 runs through float32)."""

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.args = (depth_radius, bias, alpha, beta)

    def call(self, inputs):
        if inputs.dtype == tf.bfloat16:
            return tf.cast(tf.nn.local_response_normalization(tf.cast(inputs, tf.float32), *self.args), inputs.dtype)
        return tf.nn.local_response_normalization(inputs, *self.args)


def _conv_cases(rank, shape):
    base = [
        dict(kernel_size=3),
        dict(kernel_size=3, strides=2, padding="same"),
        dict(kernel_size=2, padding="same"),  # even kernel: the odd padding cell goes after
        dict(kernel_size=2, strides=3),  # stride larger than the kernel
        dict(kernel_size=3, strides=2),  # size not divisible by the stride
        dict(kernel_size=3, dilation_rate=2, padding="same"),
        dict(kernel_size=3, groups=2, padding="same"),
        dict(kernel_size=1),
        dict(kernel_size=1, strides=2, padding="same", groups=2),  # pointwise, strided and grouped
    ]
    if rank == 1:
        base += [dict(kernel_size=3, padding="causal"), dict(kernel_size=2, dilation_rate=3, padding="causal")]
    wide = shape[:-1] + (ALGORITHM_CHANNELS,)  # past FEW_CHANNELS: im2col, strided or not
    return [Case({"filters": 4, **c}, shape) for c in base] + [
        Case(dict(filters=4, kernel_size=3, padding="same"), wide),
        Case(dict(filters=4, kernel_size=3, strides=2, padding="same"), wide),
        FOLD_CASES[rank],
        *ROWS_CASES[rank],
        *KN2ROW_CASES.get(rank, []),
        WIDENING_CASES[rank],
        *FEW_CHANNELS_LONG_CASES.get(rank, []),
        Case(dict(filters=4, kernel_size=3, padding="same"), shape[:-1] + (FEW_CASE_CHANNELS[rank],)),
    ]


def _transpose_cases(shape):
    base = [
        dict(kernel_size=3),
        dict(kernel_size=3, strides=2, padding="same"),
        dict(kernel_size=2, strides=2),
        dict(kernel_size=3, strides=2),
        dict(kernel_size=4, strides=2, padding="same"),
        dict(kernel_size=2, strides=3),
        dict(kernel_size=3, strides=2, padding="same", output_padding=0),
        dict(kernel_size=3, dilation_rate=2, padding="same"),
    ]
    return [Case({"filters": 3, **c}, shape) for c in base]


def _pool_cases(shape):
    base = [
        dict(pool_size=2),
        dict(pool_size=2, padding="same"),
        dict(pool_size=3, strides=2, padding="same"),
        dict(pool_size=3, strides=1),
        dict(pool_size=2, strides=3, padding="same"),
        dict(pool_size=3),
    ]
    return [Case(c, shape) for c in base]


def _long_axis_cases(rank):
    """Average pooling along an axis past average_pool.MATRIX_SIZE_PER_TAP cells per tap takes
    the taps step (shorter axes the matrix step): a 40-cell first axis, the rest short."""
    shape = (1, 40) + (3, 4)[: rank - 1] + (2,)
    base = [dict(pool_size=2, strides=1), dict(pool_size=3, strides=2, padding="same")]
    return [Case(c, shape) for c in base]


SHAPES = {1: (2, 11, 4), 2: (2, 9, 8, 4), 3: (1, 6, 5, 7, 2)}  # few channels: layers.ops.shifted
# (4 channels: few_channels_im2col; 2: few_channels)
ALGORITHM_CHANNELS = 6
FOLD_CASES = {  # strided on one channel, past conv.FOLD_MIN_COLUMNS: space_to_depth
    1: Case(dict(filters=4, kernel_size=11, strides=4), (1, 2000, 1)),
    2: Case(dict(filters=4, kernel_size=5, strides=2, padding="same"), (1, 40, 38, 1)),
    3: Case(dict(filters=4, kernel_size=3, strides=2, padding="same"), (1, 16, 15, 16, 1)),
}

FEW_CASE_CHANNELS = {1: 1, 2: 2, 3: 3}  # SHAPES' other side of conv.GATHER_FEW_CHANNELS
ROWS_CASES = {  # 8 channels, past conv.ROWS_MIN_COLUMNS: rows (<= 16 filters: summed outputs)
    1: [Case(dict(filters=4, kernel_size=3, padding="same"), (1, 2800, 8))],
    2: [Case(dict(filters=4, kernel_size=3, padding="same", dilation_rate=2), (1, 32, 32, 8)),
        Case(dict(filters=20, kernel_size=3, strides=2, padding="same"), (1, 62, 62, 8))],  # two phases
    3: [Case(dict(filters=4, kernel_size=3), (1, 12, 12, 12, 8))],
}
KN2ROW_CASES = {  # stride 1 past conv.ROWS_MIN_COLUMNS with few padded leading cells
    # (conv.KN2ROW_MAX_PADDED): kn2row with oneDNN on, rows with it off; odd sizes, 6-8 channels
    2: [Case(dict(filters=6, kernel_size=3), (1, 34, 33, 8)),
        Case(dict(filters=5, kernel_size=3, padding="same", dilation_rate=2), (1, 40, 37, 6))],
    3: [Case(dict(filters=6, kernel_size=3, padding="same"), (1, 16, 17, 9, 8))],
}
WIDENING_CASES = {  # dL/dz past conv.ROWS_MAX_CHANNELS and conv.SMALL_COLUMNS, 17x the input's
    # channels (conv.COLUMNS_MIN_WIDENING): dL/dx by columns; the forward takes rows
    1: Case(dict(filters=136, kernel_size=5, padding="same"), (1, 2400, 8)),
    2: Case(dict(filters=136, kernel_size=5, padding="same"), (1, 24, 24, 8)),
    3: Case(dict(filters=136, kernel_size=3, padding="same"), (1, 10, 10, 10, 8)),
}
FEW_CHANNELS_LONG_CASES = {  # 3 channels past conv.FEW_CHANNELS_MAX_COLUMNS (2.3M per example):
    # few_channels_im2col with dL/dx by the shifted rows (smaller shapes take columns)
    1: [Case(dict(filters=4, kernel_size=13, padding="same"), (1, 60000, 3))],
}

for _rank in (1, 2, 3):
    _shape = SHAPES[_rank]
    for _name in (f"Conv{_rank}D",):
        register(getattr(conv, _name), cases=_conv_cases(_rank, _shape), reference=_keras(_name))
    _name = f"Conv{_rank}DTranspose"
    register(getattr(conv, _name), cases=_transpose_cases(_shape), reference=_keras(_name))
    for _kind in ("MaxPooling", "AveragePooling"):
        _name = f"{_kind}{_rank}D"
        _cases = _pool_cases(_shape) + (_long_axis_cases(_rank) if _kind == "AveragePooling" else [])
        register(getattr(pooling, _name), cases=_cases, reference=_keras(_name))
    for _kind in ("GlobalMaxPooling", "GlobalAveragePooling"):
        _name = f"{_kind}{_rank}D"
        register(getattr(pooling, _name), cases=[Case({}, _shape), Case({"keepdims": True}, _shape)],
                 reference=_keras(_name))

register(
    normalization.LocalResponseNormalization,
    cases=[
        Case({}, (2, 5, 5, 8)),
        Case(dict(depth_radius=1, bias=1.0, alpha=0.5, beta=0.5), (2, 4, 4, 6)),
        Case(dict(depth_radius=3, bias=2.0, alpha=0.1, beta=0.75), (2, 3, 3, 5)),
        Case(dict(depth_radius=2, bias=1.5, alpha=0.2, beta=1.0), (2, 3, 3, 7)),
        Case(dict(depth_radius=2, bias=1.0, alpha=0.3, beta=0.6), (2, 3, 3, 7)),  # the general power
        Case(dict(depth_radius=2, alpha=0.01), (1, 2, 2, 260)),  # past BAND_MAX_CHANNELS: shifted sums
    ],
    reference=lambda config: TFLocalResponseNormalization(**config),
)
