"""Window geometry shared by convolution and pooling: padding, output sizes, strided views.

Everything here is static (Python ints from the traced shape), so the ops stay free of
Python control flow on tensor values and trace under `model.export` and XLA.
"""
import itertools
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

PADDINGS = ("valid", "same", "causal")


def normalize_tuple(value, rank, name):
    """An int or a sequence of `rank` positive ints, as Keras accepts them."""
    if isinstance(value, int):
        value = (value,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank or any(v <= 0 for v in value):
        raise ValueError(
            f"`{name}` must be a positive int or a tuple of {rank} positive ints. "
            f"Received: {name}={value}"
        )
    return value


def normalize_padding(padding, allow_causal=False):
    padding = str(padding).lower()
    allowed = PADDINGS if allow_causal else PADDINGS[:2]
    if padding not in allowed:
        raise ValueError(f"Unknown padding {padding!r}: expected one of {', '.join(allowed)}.")
    return padding


@dataclass(frozen=True)
class AxisGeometry:
    """One spatial axis of a sliding window: sizes, stride, dilation and padding."""

    size: int  # input length
    kernel: int
    stride: int
    dilation: int
    before: int  # zero (or -inf) cells added in front
    after: int
    out: int

    @property
    def effective_kernel(self):
        return (self.kernel - 1) * self.dilation + 1

    @property
    def padded(self):
        return self.size + self.before + self.after


def axis_geometry(size, kernel, stride, dilation, padding):
    """TensorFlow's padding rules: SAME puts the odd cell after, CAUSAL pads only in front."""
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + effective - size, 0)
        before, after = total // 2, total - total // 2
    elif padding == "causal":
        before, after = effective - 1, 0
    else:
        before = after = 0
    padded = size + before + after
    if effective > padded:
        raise ValueError(
            f"Kernel of effective size {effective} (kernel {kernel}, dilation {dilation}) is "
            f"larger than the padded input of size {padded} (input {size}, padding {padding!r})."
        )
    out = (padded - effective) // stride + 1
    return AxisGeometry(size, kernel, stride, dilation, before, after, out)


def explicit_axis_geometry(size, kernel, stride, dilation, before, after):
    """The geometry of a forward convolution with given padding (for transposed convs)."""
    effective = (kernel - 1) * dilation + 1
    padded = size + before + after
    if effective > padded:
        raise ValueError(f"Kernel of effective size {effective} is larger than the padded size {padded}.")
    out = (padded - effective) // stride + 1
    return AxisGeometry(size, kernel, stride, dilation, before, after, out)


def spatial_shape(x, rank, what="input"):
    """Static spatial sizes of a channels-last tensor, with a clear error when unknown."""
    if x.shape.rank != rank + 2:
        raise ValueError(
            f"Expected a {rank + 2}D {what} (batch, {rank} spatial axes, channels); "
            f"received shape {tuple(x.shape)}."
        )
    dims = x.shape[1:-1]
    if any(d is None for d in dims):
        raise ValueError(
            f"Spatial sizes of the {what} must be known when the graph is traced; "
            f"received shape {tuple(x.shape)}."
        )
    return tuple(int(d) for d in dims)


def pad(x, geometry, value=0):
    """Pad (or crop, for negative amounts) the spatial axes of a channels-last tensor."""
    return pad_amounts(x, [(g.before, g.after) for g in geometry], value)


def pad_amounts(x, amounts, value=0):
    crop = [slice(None)]
    paddings = [[0, 0]]
    for before, after in amounts:
        crop.append(slice(max(-before, 0), None if after >= 0 else after))
        paddings.append([max(before, 0), max(after, 0)])
    crop.append(slice(None))
    paddings.append([0, 0])
    x = x[tuple(crop)]
    if any(p != [0, 0] for p in paddings):
        x = tf.pad(x, paddings, constant_values=tf.cast(value, x.dtype))
    return x


def dilate(x, strides):
    """Insert stride-1 zeros between the cells of each spatial axis: length (n-1)*s+1."""
    for axis, stride in enumerate(strides, start=1):
        if stride == 1:
            continue
        n = x.shape[axis]
        expanded = tf.expand_dims(x, axis + 1)
        paddings = [[0, 0]] * (axis + 1) + [[0, stride - 1]] + [[0, 0]] * (x.shape.rank - axis - 1)
        rest = x.shape[1:].as_list()
        rest[axis - 1] = n * stride
        x = tf.reshape(tf.pad(expanded, paddings), [-1] + rest)
        index = [slice(None)] * axis + [slice(0, (n - 1) * stride + 1)]
        x = x[tuple(index)]
    return x


def interleave(phases, strides, rows, channels):
    """{phase r: (N, *Q, C)} -> (N, *(Q*s), C) with cell q*s + r taken from phase r."""
    for axis in reversed(range(len(strides))):
        merged = {}
        for prefix in itertools.product(*[range(s) for s in strides[:axis]]):
            stacked = tf.stack([phases[prefix + (r,)] for r in range(strides[axis])], axis=axis + 2)
            dims = [q * s for q, s in zip(rows[axis:], strides[axis:])]
            merged[prefix] = tf.reshape(stacked, [-1] + rows[:axis] + dims + [channels])
        phases = merged
    return phases[()]


def tap_indices(geometry, padded_shape, offsets):
    """(prod(O), T) int32 constant: where output cell o's tap t reads the flattened padded input.

    Built with NumPy at trace time (shapes are static), so the graph holds one constant.
    Indices past the input (windows that only cropped outputs read) are clipped to its last cell.
    """
    flat_strides = [math.prod(padded_shape[i + 1:]) for i in range(len(padded_shape))]
    base = np.zeros([1], np.int64)
    for g, flat_stride in zip(geometry, flat_strides):
        along = np.arange(g.out, dtype=np.int64) * (g.stride * flat_stride)
        base = (base[:, None] + along[None, :]).reshape(-1)
    taps = [sum(k * g.dilation * f for k, g, f in zip(o, geometry, flat_strides)) for o in offsets]
    index = np.minimum(base[:, None] + np.array(taps, np.int64)[None, :], math.prod(padded_shape) - 1)
    return tf.constant(index.astype(np.int32))
