"""Tier 1: our ops against a direct NumPy oracle, including the lecture's worked examples."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

from layers.ops.conv import conv, conv_transpose
from layers.ops.normalization import local_response_normalization
from layers.ops.pooling import average_pool, global_average_pool, global_max_pool, max_pool

# The lecture's 6x6 image and two 3x3 filters (../shared/REFERENCES.md).
IMAGE = np.array(
    [
        [1, 0, 0, 0, 0, 1],
        [0, 1, 0, 0, 1, 0],
        [0, 0, 1, 1, 0, 0],
        [1, 0, 0, 0, 1, 0],
        [0, 1, 0, 0, 1, 0],
        [0, 0, 1, 0, 1, 0],
    ],
    dtype=np.float32,
)
FILTER_1 = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float32)
FILTER_2 = np.array([[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]], dtype=np.float32)


def _lecture_conv(filters, stride):
    x = IMAGE[None, :, :, None]  # (1, 6, 6, 1)
    kernel = np.stack(filters, axis=-1)[:, :, None, :]  # (3, 3, 1, F)
    return conv(tf.constant(x), tf.constant(kernel), strides=stride).numpy()[0]


def test_lecture_filter_1_stride_1():
    expected = [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]]
    np.testing.assert_array_equal(_lecture_conv([FILTER_1], 1)[..., 0], expected)


def test_lecture_filter_1_stride_2():
    np.testing.assert_array_equal(_lecture_conv([FILTER_1], 2)[..., 0], [[3, -3], [-3, 0]])


def test_lecture_filter_2_stride_1():
    expected = [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]
    np.testing.assert_array_equal(_lecture_conv([FILTER_2], 1)[..., 0], expected)


def test_lecture_two_filters_and_max_pooling():
    maps = _lecture_conv([FILTER_1, FILTER_2], 1)  # (4, 4, 2): "two 4x4 images"
    assert maps.shape == (4, 4, 2)
    pooled = max_pool(tf.constant(maps[None]), 2).numpy()[0]
    np.testing.assert_array_equal(pooled[..., 0], [[3, 0], [3, 1]])
    np.testing.assert_array_equal(pooled[..., 1], [[-1, 1], [0, 3]])


def test_lecture_parameter_counts():
    """200x200 image into 100 dense units vs 100 filters of 5x5 (weights only)."""
    import keras

    import layers

    dense = keras.layers.Dense(100, use_bias=False)
    dense.build((None, 200 * 200))
    conv_layer = layers.Conv2D(100, 5, use_bias=False)
    conv_layer.build((None, 200, 200, 1))
    assert dense.count_params() == 4_000_000
    assert conv_layer.count_params() == 2_500


# ---- direct-loop oracles ---------------------------------------------------------------


def _pad_same(n, k, s, d):
    eff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + eff - n, 0)
    return total // 2, total - total // 2


def oracle_conv(x, w, strides, padding, dilation, groups):
    """Direct loops over output cells and kernel taps, float64."""
    rank = x.ndim - 2
    pads = []
    for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation):
        pads.append(_pad_same(n, k, s, d) if padding == "same" else (0, 0))
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    cin, cout = x.shape[-1], w.shape[-1]
    cg, cog = cin // groups, cout // groups
    out_shape = [
        (xp.shape[1 + i] - ((w.shape[i] - 1) * dilation[i] + 1)) // strides[i] + 1 for i in range(rank)
    ]
    z = np.zeros((x.shape[0], *out_shape, cout))
    for o in itertools.product(*[range(n) for n in out_shape]):
        for k in itertools.product(*[range(n) for n in w.shape[:rank]]):
            idx = tuple(o[i] * strides[i] + k[i] * dilation[i] for i in range(rank))
            for g in range(groups):
                patch = xp[(slice(None),) + idx + (slice(g * cg, (g + 1) * cg),)]  # (N, Cg)
                z[(slice(None),) + o + (slice(g * cog, (g + 1) * cog),)] += patch @ w[k][:, g * cog:(g + 1) * cog]
    return z


def oracle_pool(x, pool, strides, padding, mode):
    rank = x.ndim - 2
    pads = [_pad_same(n, k, s, 1) if padding == "same" else (0, 0) for n, k, s in zip(x.shape[1:-1], pool, strides)]
    fill = -np.inf if mode == "max" else np.nan
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)], constant_values=fill)
    out_shape = [(xp.shape[1 + i] - pool[i]) // strides[i] + 1 for i in range(rank)]
    z = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    for o in itertools.product(*[range(n) for n in out_shape]):
        window = xp[(slice(None),) + tuple(slice(o[i] * strides[i], o[i] * strides[i] + pool[i]) for i in range(rank))]
        window = window.reshape(x.shape[0], -1, x.shape[-1])
        z[(slice(None),) + o] = window.max(axis=1) if mode == "max" else np.nanmean(window, axis=1)
    return z


CONV_GRID = [
    # rank, size, kernel, strides, padding, dilation, groups
    (1, 10, 3, 1, "valid", 1, 1),
    (1, 9, 4, 2, "same", 1, 2),
    (2, 7, 3, 2, "same", 1, 1),
    (2, 8, 2, 3, "valid", 1, 1),
    (2, 9, 3, 1, "same", 2, 2),
    (3, 5, 3, 1, "same", 1, 1),
    (3, 6, 2, 2, "valid", 1, 2),
    (3, 7, 1, 3, "same", 1, 1),  # TensorFlow's CPU Conv3D (no oneDNN) returns other cells here
]


@pytest.mark.parametrize("rank,size,kernel,stride,padding,dilation,groups", CONV_GRID)
def test_conv_matches_direct_loops(rank, size, kernel, stride, padding, dilation, groups):
    rng = np.random.default_rng(rank * 100 + size)
    x = rng.normal(size=(2,) + (size,) * rank + (4,))
    w = rng.normal(size=(kernel,) * rank + (4 // groups, 6))
    ours = conv(tf.constant(x), tf.constant(w), stride, padding, dilation, groups).numpy()
    expected = oracle_conv(x, w, (stride,) * rank, padding, (dilation,) * rank, groups)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-10)


def oracle_conv_backward(x, w, g, strides, padding, dilation, groups):
    """dL/dx and dL/dW of L = sum(z * g), by the same direct loops run backwards."""
    rank = x.ndim - 2
    pads = []
    for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation):
        pads.append(_pad_same(n, k, s, d) if padding == "same" else (0, 0))
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    cg, cog = x.shape[-1] // groups, w.shape[-1] // groups
    for o in itertools.product(*[range(n) for n in g.shape[1:-1]]):
        for k in itertools.product(*[range(n) for n in w.shape[:rank]]):
            idx = tuple(o[i] * strides[i] + k[i] * dilation[i] for i in range(rank))
            for grp in range(groups):
                cin, cout = slice(grp * cg, (grp + 1) * cg), slice(grp * cog, (grp + 1) * cog)
                go = g[(slice(None),) + o + (cout,)]  # (N, Cog)
                dxp[(slice(None),) + idx + (cin,)] += go @ w[k][:, cout].T
                dw[k][:, cout] += xp[(slice(None),) + idx + (cin,)].T @ go
    crop = tuple(slice(b, b + n) for (b, _), n in zip(pads, x.shape[1:-1]))
    return dxp[(slice(None),) + crop], dw


@pytest.mark.parametrize("rank,size,kernel,stride,padding,dilation,groups", CONV_GRID)
def test_conv_backward_matches_direct_loops(rank, size, kernel, stride, padding, dilation, groups):
    rng = np.random.default_rng(rank * 10 + size)
    x = rng.normal(size=(2,) + (size,) * rank + (4,))
    w = rng.normal(size=(kernel,) * rank + (4 // groups, 6))
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        z = conv(xt, wt, stride, padding, dilation, groups)
        g = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * g)
    dx, dw = tape.gradient(loss, [xt, wt])
    expected_dx, expected_dw = oracle_conv_backward(
        x, w, g, (stride,) * rank, padding, (dilation,) * rank, groups
    )
    np.testing.assert_allclose(dx.numpy(), expected_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw.numpy(), expected_dw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "rank,size,pool,stride,padding",
    [(1, 9, 2, 2, "valid"), (1, 9, 3, 2, "same"), (2, 7, 2, 2, "same"), (2, 8, 3, 1, "valid"),
     (2, 7, 2, 3, "same"), (3, 5, 2, 2, "same"), (3, 6, 3, 2, "valid")],
)
@pytest.mark.parametrize("mode", ["max", "average"])
def test_pooling_matches_direct_loops(rank, size, pool, stride, padding, mode):
    x = np.random.default_rng(size).normal(size=(2,) + (size,) * rank + (3,))
    op = max_pool if mode == "max" else average_pool
    ours = op(tf.constant(x), pool, stride, padding).numpy()
    expected = oracle_pool(x, (pool,) * rank, (stride,) * rank, padding, "max" if mode == "max" else "avg")
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def oracle_average_pool_grad(x, dz, pool, strides, padding):
    """dL/dx of sum(average_pool(x) * dz): each window's dz / count on each of its real cells."""
    rank = x.ndim - 2
    pads = [_pad_same(n, k, s, 1) if padding == "same" else (0, 0) for n, k, s in zip(x.shape[1:-1], pool, strides)]
    real = np.pad(np.ones(x.shape[1:-1]), pads)  # 1 on real cells, 0 on padding
    dx = np.zeros((x.shape[0], *real.shape, x.shape[-1]))
    for o in itertools.product(*[range(n) for n in dz.shape[1:-1]]):
        window = tuple(slice(o[i] * strides[i], o[i] * strides[i] + pool[i]) for i in range(rank))
        share = real[window] / real[window].sum()  # (*pool)
        dx[(slice(None),) + window] += dz[(slice(None),) + o][:, *(None,) * rank, :] * share[None, ..., None]
    return dx[(slice(None),) + tuple(slice(b, b + n) for (b, _), n in zip(pads, x.shape[1:-1]))]


@pytest.mark.parametrize(
    "rank,size,pool,stride,padding",
    [(1, 9, 3, 2, "same"), (2, 8, 3, 1, "valid"), (2, 7, 2, 3, "same"), (2, 35, 3, 2, "same"), (3, 5, 2, 2, "same"),
     (3, 6, 3, 2, "valid")],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "xla-training"])
def test_average_pool_forward_and_backward_match_direct_loops(rank, size, pool, stride, padding, compiled):
    """Both average pooling paths: plain ops (inference) and the XLA-fused taps (training)."""
    rng = np.random.default_rng(size + rank)
    x = tf.constant(rng.normal(size=(2,) + (size,) * rank + (3,)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = average_pool(x, pool, stride, padding, compiled=compiled)
        dz = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * dz)
    expected = oracle_pool(x.numpy(), (pool,) * rank, (stride,) * rank, padding, "avg")
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-12)
    expected_dx = oracle_average_pool_grad(x.numpy(), dz, (pool,) * rank, (stride,) * rank, padding)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), expected_dx, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("window, first", [
    ([[5, 5], [5, 1]], (0, 0)),  # three tied maxima
    ([[1, 5], [5, 1]], (0, 1)),  # (1, 0) if the axes were pooled in the other order
    ([[[1, 5], [5, 1]], [[5, 1], [1, 1]]], (0, 0, 1)),  # 3D: before (0, 1, 0) and (1, 0, 0)
    ([[[1, 1], [5, 1]], [[5, 1], [1, 1]]], (0, 1, 0)),
])
def test_max_pool_ties_go_to_first_cell_in_row_major_order(window, first):
    window = np.asarray(window, np.float64)
    x = tf.constant(window[None, ..., None])  # (1, *window, 1), one window
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = max_pool(x, 2)
    expected = np.zeros_like(window)
    expected[first] = 1.0
    np.testing.assert_array_equal(tape.gradient(z, x).numpy()[0, ..., 0], expected)


def test_global_max_pool_ties_go_to_the_first_cell():
    """Per example and channel, dz goes to the first maximal cell in row-major order."""
    channels = np.array([
        [[[1, 5, 2], [5, 0, 5]], [[3, 1, 4], [4, 4, 0]]],  # example 0: 5 first at (0, 1); 4 at (0, 2)
        [[[9, 9, 9], [9, 9, 9]], [[0, 1, 2], [3, 4, 5]]],  # example 1: 9 first at (0, 0); 5 at (1, 2)
    ], np.float64)
    x = tf.constant(np.moveaxis(channels, 1, -1))  # (N=2, 2, 3, C=2)
    dz = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = global_max_pool(x)
    np.testing.assert_array_equal(z.numpy(), [[5, 4], [9, 5]])
    expected = np.zeros((2, 2, 3, 2))
    expected[0, 0, 1, 0], expected[0, 0, 2, 1], expected[1, 0, 0, 0], expected[1, 1, 2, 1] = 1, 2, 3, 4
    np.testing.assert_array_equal(tape.gradient(z, x, output_gradients=dz).numpy(), expected)


def test_global_pools_need_batch_spatial_and_channels():
    for pool in (global_max_pool, global_average_pool):
        message = r"^Expected \(batch, spatial\.\.\., channels\); received shape \(2, 3\)\.$"
        with pytest.raises(ValueError, match=message):
            pool(tf.zeros((2, 3)))
    np.testing.assert_array_equal(global_max_pool(tf.constant([[[1.0], [3.0]]])).numpy(), [[3.0]])  # rank 3 is enough
    np.testing.assert_array_equal(global_average_pool(tf.constant([[[1.0], [3.0]]])).numpy(), [[2.0]])


def test_max_pool_routes_each_axis_by_its_own_window():
    """A 2x3 pool on a 4x9 input: a window's dz goes to its maximum, found with each axis's own
    size and stride (the two axes' windows differ)."""
    x = np.random.default_rng(5).permutation(36).reshape(1, 4, 9, 1).astype(np.float64)  # no ties
    dz = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    tx = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tx)
        z = max_pool(tx, (2, 3))
    expected_z, expected_dx = np.zeros((2, 3)), np.zeros((4, 9))
    for i, j in np.ndindex(2, 3):
        window = x[0, 2 * i:2 * i + 2, 3 * j:3 * j + 3, 0]
        expected_z[i, j] = window.max()
        r, c = np.unravel_index(window.argmax(), window.shape)
        expected_dx[2 * i + r, 3 * j + c] = dz[0, i, j, 0]
    np.testing.assert_array_equal(z.numpy()[0, ..., 0], expected_z)
    np.testing.assert_array_equal(tape.gradient(z, tx, output_gradients=tf.constant(dz)).numpy()[0, ..., 0],
                                  expected_dx)


def test_max_pool_overlapping_windows_accumulate_routed_gradients():
    x = tf.constant(np.array([1.0, 9.0, 2.0, 3.0, 0.0])[None, :, None])  # 9 wins 2 windows
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = max_pool(x, 3, strides=1)  # windows [1,9,2] [9,2,3] [2,3,0]
    np.testing.assert_array_equal(z.numpy()[0, :, 0], [9, 9, 3])
    np.testing.assert_array_equal(tape.gradient(z, x).numpy()[0, :, 0], [0, 2, 0, 1, 0])


def test_average_pool_defaults_are_valid_windows_strided_by_their_size():
    """As Keras's: strides default to the pool size and padding to VALID: [1, 2] [3, 4], 5 left out."""
    x = tf.constant(np.arange(1.0, 6.0)[None, :, None])  # [1..5]
    np.testing.assert_allclose(average_pool(x, 2).numpy()[0, :, 0], [1.5, 3.5])


@pytest.mark.parametrize("pool", [max_pool, average_pool], ids=["max", "average"])
def test_pools_name_a_wrong_pool_size_or_strides(pool):
    x = tf.zeros((1, 8, 8, 1))
    message = r"^`{0}` must be a positive int or a tuple of 2 positive ints\. Received: {0}={1}$"
    with pytest.raises(ValueError, match=message.format("pool_size", r"\(3, 0\)")):
        pool(x, (3, 0))
    with pytest.raises(ValueError, match=message.format("strides", r"\(1, 2, 3\)")):
        pool(x, 2, strides=(1, 2, 3))
    with pytest.raises(ValueError, match=message.format("pool_size", r"\(-1, -1\)")):
        pool(x, -1)


def test_average_pool_same_excludes_padding_from_the_count():
    x = tf.constant(np.arange(1.0, 6.0)[None, :, None])  # [1..5]
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = average_pool(x, 2, padding="same")  # windows [1,2] [3,4] [5]
    np.testing.assert_allclose(z.numpy()[0, :, 0], [1.5, 3.5, 5.0])
    np.testing.assert_allclose(tape.gradient(z, x).numpy()[0, :, 0], [0.5, 0.5, 0.5, 0.5, 1.0])


def test_average_pool_same_tiles_count_the_real_cells_on_both_sides():
    """Windows that tile the padded input (stride = pool size), padded on both sides: [_, 1, 2]
    [3, 4, _]; each mean is over its 2 real cells."""
    x = tf.constant(np.arange(1.0, 5.0)[None, :, None])  # [1..4]
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = average_pool(x, 3, padding="same")
    np.testing.assert_allclose(z.numpy()[0, :, 0], [1.5, 3.5])
    np.testing.assert_allclose(tape.gradient(z, x).numpy()[0, :, 0], [0.5, 0.5, 0.5, 0.5])


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> for every stride, padding and dilation (dilated
    transposed convolutions have no TensorFlow reference on CPUs without oneDNN)."""
    rng = np.random.default_rng(3)
    for stride, padding, size, dilation in [(1, "valid", 7, 1), (2, "same", 8, 1), (3, "valid", 10, 1),
                                            (2, "same", 7, 1), (1, "same", 9, 2), (1, "valid", 9, 2),
                                            (3, "same", 9, 1)]:  # SAME that pads nothing
        x = rng.normal(size=(2, size, size, 3))
        w = rng.normal(size=(3, 3, 3, 5))  # conv: 3 -> 5 channels
        z = conv(tf.constant(x), tf.constant(w), stride, padding, dilation).numpy()
        y = rng.normal(size=z.shape)
        back = conv_transpose(tf.constant(y), tf.constant(w), (size, size), stride, padding, dilation).numpy()
        assert back.shape == x.shape
        np.testing.assert_allclose(np.sum(z * y), np.sum(x * back), rtol=1e-10)


def test_conv_transpose_of_one_cell_is_the_kernel_times_the_cell():
    """A 1x1 input to a VALID 4x4 output (a generator's first layer): the kernel spans the whole
    padded output, and output cell (h, w) is the kernel's tap (h, w) applied to the input cell."""
    rng = np.random.default_rng(9)
    x, w = rng.normal(size=(2, 1, 1, 3)), rng.normal(size=(4, 4, 5, 3))  # w: (*k, Cout=5, Cin=3)
    y = conv_transpose(tf.constant(x), tf.constant(w), (4, 4)).numpy()
    np.testing.assert_allclose(y, np.einsum("nc,hwoc->nhwo", x[:, 0, 0], w), rtol=1e-12)


def test_conv_transpose_refuses_an_output_smaller_than_its_kernel():
    with pytest.raises(ValueError, match=r"^Kernel of effective size 5 is larger than the padded size 3\.$"):
        conv_transpose(tf.zeros((1, 1, 1, 2)), tf.zeros((5, 5, 2, 2)), (3, 3))


def test_conv_transpose_defaults_are_stride_1_valid_undilated():
    """3 cells through a 2-tap kernel give 4: input cell i adds its kernel-weighted copy at i, i + 1."""
    rng = np.random.default_rng(10)
    x, w = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 4, 2))  # w: (k, Cout=4, Cin=2)
    expected = np.zeros((2, 4, 4))
    for i, k in itertools.product(range(3), range(2)):
        expected[:, i + k] += x[:, i] @ w[k].T
    np.testing.assert_allclose(conv_transpose(tf.constant(x), tf.constant(w), (4,)).numpy(), expected, rtol=1e-12)


def test_conv_transpose_names_a_wrong_argument():
    x, w = tf.zeros((1, 3, 3, 2)), tf.zeros((2, 3, 4, 2))  # w: (*k, Cout=4, Cin=2)
    message = r"^`{0}` must be a positive int or a tuple of 2 positive ints\. Received: {0}={1}$"
    with pytest.raises(ValueError, match=message.format("strides", r"\(1, 0\)")):
        conv_transpose(x, w, (4, 5), strides=(1, 0))
    with pytest.raises(ValueError, match=message.format("dilation_rate", r"\(0, 1\)")):
        conv_transpose(x, w, (4, 5), dilation_rate=(0, 1))
    with pytest.raises(ValueError, match=r"^Kernel expects 2 input channels; the input has 3\.$"):
        conv_transpose(tf.zeros((1, 5, 5, 3)), w, (6, 7))
    unreachable = r"^Output size 5 is not reachable from input size 3 with kernel 2, stride 1, dilation 1 and "
    with pytest.raises(ValueError, match=unreachable + r"padding 'valid'\.$"):
        conv_transpose(x, w, (5, 5))


def test_conv_defaults_are_stride_1_valid_undilated():
    """5 cells through a 2-tap kernel give 4: output cell i reads cells i and i + 1."""
    rng = np.random.default_rng(11)
    x, w = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 3, 4))  # w: (k, Cin=3, Cout=4)
    expected = np.stack([x[:, i] @ w[0] + x[:, i + 1] @ w[1] for i in range(4)], axis=1)
    np.testing.assert_allclose(conv(tf.constant(x), tf.constant(w)).numpy(), expected, rtol=1e-12)


def test_conv_names_a_wrong_argument():
    x, w = tf.zeros((1, 6, 6, 4)), tf.zeros((3, 3, 4, 2))
    message = r"^`{0}` must be a positive int or a tuple of 2 positive ints\. Received: {0}={1}$"
    with pytest.raises(ValueError, match=message.format("strides", r"\(1, 0\)")):
        conv(x, w, strides=(1, 0))
    with pytest.raises(ValueError, match=message.format("dilation_rate", r"\(0, 1\)")):
        conv(x, w, dilation_rate=(0, 1))
    channels = r"^Kernel expects 3 input channels per group \(x2 groups = 6\); the input has 4 channels\.$"
    with pytest.raises(ValueError, match=channels):
        conv(x, tf.zeros((3, 3, 3, 2)), groups=2)


def oracle_lrn(x, radius, bias, alpha, beta):
    """y = x / (bias + alpha * sum of x^2 over channels c-r..c+r)^beta, cell by cell."""
    y = np.empty_like(x)
    channels = x.shape[-1]
    for cell in np.ndindex(x.shape[:-1]):
        for c in range(channels):
            window = x[cell][max(0, c - radius):c + radius + 1]
            y[cell + (c,)] = x[cell + (c,)] / (bias + alpha * np.sum(window ** 2)) ** beta
    return y


# band matmul, pow, shifted sums; beta 0.75, 0.5 and 1 by square roots; radius 0: each channel alone
@pytest.mark.parametrize("channels, beta, radius", [(7, 0.75, 2), (7, 0.6, 2), (260, 0.75, 2), (7, 0.5, 2),
                                                    (7, 1.0, 2), (7, 0.75, 0)])
def test_local_response_normalization_matches_direct_loops(channels, beta, radius):
    """The loops' y, and dL/dx of sum(y * v) against central differences of them at a few cells."""
    bias, alpha = 1.5, 0.05
    rng = np.random.default_rng(4)
    x, v = rng.normal(size=(2, 3, channels)), rng.normal(size=(2, 3, channels))

    def loops(x):
        return oracle_lrn(x, radius, bias, alpha, beta)

    tx = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tx)
        y = local_response_normalization(tx, radius, bias, alpha, beta)
        loss = tf.reduce_sum(y * v)
    np.testing.assert_allclose(y.numpy(), loops(x), rtol=1e-12)
    grad = tape.gradient(loss, tx).numpy()
    for index in [(0, 0, 0), (1, 2, channels - 1), (0, 1, channels // 2)]:
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric = (np.sum(loops(x + step) * v) - np.sum(loops(x - step) * v)) / 2e-6
        np.testing.assert_allclose(grad[index], numeric, rtol=1e-6, atol=1e-9)


def test_local_response_normalization_defaults_are_alexnets():
    """n=5 (radius 2), k=2, alpha=1e-4, beta=0.75, as the layer's: inputs of a few hundred units
    (ReLU outputs of a first layer), where alpha's sum of squares matters."""
    x = np.random.default_rng(6).normal(scale=100.0, size=(2, 3, 9))
    np.testing.assert_allclose(local_response_normalization(tf.constant(x)).numpy(),
                               oracle_lrn(x, 2, 2.0, 1e-4, 0.75), rtol=1e-12)


def test_local_response_normalization_refuses_a_negative_radius():
    with pytest.raises(ValueError, match=r"^depth_radius must be >= 0; received -1\.$"):
        local_response_normalization(tf.zeros((1, 2, 3), tf.float64), depth_radius=-1)


def test_local_response_normalization_reference_takes_bfloat16():
    """TensorFlow's LRN kernel has no bfloat16 on CPU; the catalog's reference (the bench's Keras
    side under `--policy=mixed_bfloat16`) computes in float32 and returns bfloat16, as ours does."""
    from layers.catalog import TFLocalResponseNormalization

    x = np.random.default_rng(7).normal(scale=30.0, size=(2, 3, 4, 9))
    y = TFLocalResponseNormalization(dtype="mixed_bfloat16")(tf.constant(x, tf.bfloat16))
    assert y.dtype == tf.bfloat16
    exact = oracle_lrn(tf.cast(tf.constant(x, tf.bfloat16), tf.float64).numpy(), 2, 2.0, 1e-4, 0.75)
    np.testing.assert_allclose(tf.cast(y, tf.float64).numpy(), exact, rtol=2 ** -7)
