"""The algorithm each shape takes: the choice is checked, and every path is registered (so
gradcheck, the Keras comparison and finite differences cover it) and matches the NumPy oracle."""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import registry
from layers.ops import conv as conv_ops
from layers.ops import geometry as geo
from layers.ops import average_pool, kn2row, rows
from layers.ops import pooling as pool_ops
from test_oracle import _pad_same, oracle_conv, oracle_conv_backward, oracle_pool


def _geometry(case, kernel_key="kernel_size", pooling=False):
    shape, config = case.input_shape, case.config
    rank = len(shape) - 2
    kernel = geo.normalize_tuple(config[kernel_key], rank, kernel_key)
    strides = geo.normalize_tuple(config.get("strides") or (kernel if pooling else 1), rank, "strides")
    dilations = geo.normalize_tuple(1 if pooling else config.get("dilation_rate", 1), rank, "d")
    padding = config.get("padding", "valid")
    return [geo.axis_geometry(n, k, s, d, padding) for n, k, s, d in zip(shape[1:-1], kernel, strides, dilations)]


def conv_algorithm(case):
    return conv_ops.algorithm(_geometry(case), case.input_shape[-1], case.config.get("groups", 1),
                              case.config.get("filters", 4))


def pool_algorithm(case, mode):
    return pool_ops.algorithm(mode, _geometry(case, kernel_key="pool_size", pooling=True))


def separable_steps(case):
    """The kind of each axis step of separable pooling: tiles, overlapping or gapped."""
    kinds = {True: "tiles", False: "overlapping"}
    return {
        kinds[g.stride == g.kernel] if g.stride <= g.kernel else "gapped"
        for g in _geometry(case, kernel_key="pool_size", pooling=True)
    }


@pytest.mark.parametrize(
    "shape,config,expected",
    [
        ((2, 9, 8, 64), dict(kernel_size=1), "pointwise"),
        ((2, 9, 8, 64), dict(kernel_size=1, strides=2, groups=4), "pointwise"),
        ((2, 28, 28, 1), dict(kernel_size=5, padding="same"), "few_channels"),
        ((2, 8, 8, 8, 2), dict(kernel_size=3, dilation_rate=2), "few_channels"),
        ((2, 8, 8, 8, 3), dict(kernel_size=3, dilation_rate=2), "few_channels_im2col"),
        ((2, 32, 32, 4), dict(kernel_size=5, padding="same"), "few_channels_im2col"),
        ((2, 28, 28, 3), dict(kernel_size=5, strides=2), "space_to_depth"),
        ((8, 227, 227, 3), dict(kernel_size=11, strides=4), "space_to_depth"),  # AlexNet conv1
        ((2, 2000, 1), dict(kernel_size=11, strides=4), "space_to_depth"),  # raw waveform
        ((2, 16, 16, 16, 1), dict(kernel_size=3, strides=(2, 1, 2), padding="same"), "space_to_depth"),
        ((64, 16, 16, 1), dict(kernel_size=5, strides=2, padding="same"), "im2col"),  # < FOLD_MIN_COLUMNS
        ((2, 28, 28, 8), dict(kernel_size=5, strides=2), "im2col"),  # past FEW_CHANNELS
        ((2, 28, 28, 3), dict(kernel_size=3, strides=2, groups=3), "im2col"),  # grouped
        ((2, 28, 28, 32), dict(kernel_size=3), "rows"),
        ((2, 32, 32, 64), dict(kernel_size=3, strides=2, padding="same"), "rows"),
        ((2, 400, 64), dict(kernel_size=5, padding="same"), "rows"),
        ((2, 101, 64), dict(kernel_size=5, padding="same"), "im2col"),  # < ROWS_MIN_COLUMNS
        ((2, 14, 14, 256), dict(kernel_size=3, padding="same"), "im2col"),  # past ROWS_MAX_CHANNELS
        ((2, 17, 17, 128), dict(kernel_size=(1, 7), padding="same"), "im2col"),  # one leading tap
        ((2, 28, 28, 32), dict(kernel_size=3, groups=2), "im2col"),
        ((2, 28, 28, 2), dict(kernel_size=3, groups=2), "im2col"),
    ],
)
def test_conv_algorithm_by_shape(shape, config, expected, monkeypatch):
    """The choices with oneDNN off (TensorFlow's default on this AVX2 machine)."""
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: False)
    assert conv_algorithm(registry.Case(config, shape)) == expected


@pytest.mark.parametrize(
    "shape,config,expected",
    [
        ((2, 32, 32, 32, 8), dict(kernel_size=3, padding="same"), "kn2row"),  # 34^2 / 32^2 padded cells
        ((2, 16, 16, 16, 16), dict(kernel_size=3, padding="same"), "kn2row"),  # 18^2 / 16^2 = 1.27
        ((2, 20, 20, 20, 16), dict(kernel_size=3), "kn2row"),  # valid: 20^2 / 18^2
        ((2, 28, 28, 32), dict(kernel_size=3), "kn2row"),
        ((2, 32, 32, 16), dict(kernel_size=9, padding="same"), "kn2row"),  # 40 / 32
        ((2, 32, 32, 32), dict(kernel_size=3, padding="same", dilation_rate=2), "kn2row"),
        ((2, 32, 32, 32), dict(kernel_size=3, padding="same", filters=64), "kn2row"),
        ((2, 32, 32, 32), dict(kernel_size=3, padding="same", filters=65), "rows"),  # past KN2ROW_MAX_OUTPUTS
        ((2, 19, 19, 48), dict(kernel_size=5, padding="same", filters=192), "rows"),
        ((2, 8, 8, 8, 32), dict(kernel_size=3, padding="same"), "rows"),  # 10^2 / 8^2 = 1.56
        ((2, 16, 16, 16, 32), dict(kernel_size=5, padding="same"), "rows"),  # 20^2 / 16^2
        ((2, 16, 16, 16, 32), dict(kernel_size=3, padding="same", dilation_rate=2), "rows"),
        ((2, 32, 32, 32, 16), dict(kernel_size=3, strides=2, padding="same"), "rows"),  # strided
        ((2, 400, 64), dict(kernel_size=5, padding="same"), "rows"),  # 1D: no leading axis to sum
        ((2, 28, 28, 32), dict(kernel_size=3, groups=2), "im2col"),  # grouped: never kn2row
        ((2, 32, 32, 32, 8), dict(kernel_size=3, padding="same", groups=2), "im2col"),
        ((2, 14, 14, 256), dict(kernel_size=3, padding="same"), "im2col"),  # past ROWS_MAX_CHANNELS
        ((2, 8, 8, 64), dict(kernel_size=3, padding="same"), "im2col"),  # < ROWS_MIN_COLUMNS
        ((2, 28, 28, 28, 1), dict(kernel_size=3, padding="same"), "few_channels"),
    ],
)
def test_conv_algorithm_with_onednn_on(shape, config, expected, monkeypatch):
    """With oneDNN on, kn2row replaces rows at stride 1 in 2D and 3D where few leading cells are
    padding (conv.KN2ROW_MAX_PADDED)."""
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: True)
    assert conv_algorithm(registry.Case(config, shape)) == expected


POOL_SHAPES = [
    ((2, 28, 28, 8), dict(pool_size=2), "tiles"),
    ((2, 27, 27, 8), dict(pool_size=2), "tiles"),  # valid: the last row is left out
    ((2, 27, 27, 8), dict(pool_size=2, padding="same"), "tiles"),
    ((2, 27, 27, 8), dict(pool_size=3, strides=2), "separable"),  # overlapping
    ((2, 27, 27, 8), dict(pool_size=2, strides=3), "separable"),  # gaps
]


@pytest.mark.parametrize("shape,config,expected", POOL_SHAPES)
def test_pool_algorithm_by_shape(shape, config, expected):
    """Max pooling is separable on every shape (it measured faster on all); average on all but tiles."""
    case = registry.Case(config, shape)
    assert pool_algorithm(case, "max") == "separable"
    assert pool_algorithm(case, "average") == expected


@pytest.mark.parametrize("compiled", [None, True], ids=["default", "training"])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape,config,expected", POOL_SHAPES)
def test_pooling_runs_the_algorithm_chosen_for_its_shape(shape, config, expected, mode, compiled, monkeypatch):
    """Average pooling takes tiles where `algorithm` says so, else (and max pooling always) the
    separable steps, XLA-fused only when asked (training): by default plain ops, which an export
    may hold."""
    from layers.ops import max_pool

    module = max_pool if mode == "max" else average_pool
    calls, separable = [], getattr(module, mode + "_pool")
    monkeypatch.setattr(module, mode + "_pool",
                        lambda x, g, compiled=False: calls.append(compiled) or separable(x, g, compiled))
    kwargs = {} if compiled is None else {"compiled": compiled}
    op = pool_ops.max_pool if mode == "max" else pool_ops.average_pool
    op(tf.zeros(shape), config["pool_size"], config.get("strides"), config.get("padding", "valid"), **kwargs)
    assert calls == ([] if mode == "average" and expected == "tiles" else [bool(compiled)])

@pytest.mark.parametrize("rank", [1, 2, 3])
def test_every_conv_algorithm_is_registered(rank, monkeypatch):
    """The catalog's cases reach every algorithm in one mode or the other, so `cnn gradcheck`
    checks each one (kn2row, chosen with oneDNN on in 2D and 3D only, in both: test_reference)."""
    cases, reached = registry.get(f"Conv{rank}D").cases, set()
    for onednn in (False, True):
        monkeypatch.setattr(conv_ops.mode, "onednn", lambda onednn=onednn: onednn)
        reached |= {conv_algorithm(c) for c in cases}
    assert reached == set(conv_ops.ALGORITHMS) - ({"kn2row"} if rank == 1 else set())


@pytest.mark.parametrize("name", ["AveragePooling1D", "AveragePooling2D", "AveragePooling3D"])
def test_every_average_pool_algorithm_is_registered(name):
    assert {pool_algorithm(c, "average") for c in registry.get(name).cases} == {"tiles", "separable"}


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_every_average_axis_step_is_registered(rank):
    """Separable average pooling's matrix (short axes) and taps (long axes) steps both reach gradcheck."""
    cases = [c for c in registry.get(f"AveragePooling{rank}D").cases if pool_algorithm(c, "average") == "separable"]
    steps = {average_pool.axis_step(g) for c in cases for g in _geometry(c, kernel_key="pool_size", pooling=True)}
    assert steps == {"matrix", "taps"}


@pytest.mark.parametrize(
    "size,pool,stride,expected",
    [(35, 3, 2, "matrix"), (36, 3, 2, "matrix"), (37, 3, 2, "taps"), (24, 2, 1, "matrix"), (400, 3, 2, "taps")],
)
def test_average_axis_step_by_length(size, pool, stride, expected):
    assert average_pool.axis_step(geo.axis_geometry(size, pool, stride, 1, "same")) == expected


@pytest.mark.parametrize(
    "name,mode,expected",
    [(f"MaxPooling{rank}D", "max", {"tiles", "overlapping", "gapped"}) for rank in (1, 2, 3)]
    + [(f"AveragePooling{rank}D", "average", {"overlapping", "gapped"}) for rank in (1, 2, 3)],
)
def test_every_separable_step_is_registered(name, mode, expected):
    """The axis steps separable pooling takes in the catalog (tiling average pools take tiles)."""
    cases = [c for c in registry.get(name).cases if pool_algorithm(c, mode) == "separable"]
    assert set().union(*(separable_steps(c) for c in cases)) == expected


ORACLE_GRID = [
    # rank, size, channels, kernel, strides, padding, dilation, groups: one row per new path
    (2, 7, 4, 1, 2, "same", 1, 2),  # pointwise, strided, grouped
    (1, 9, 6, 1, 1, "valid", 1, 1),  # pointwise
    (2, 8, 1, 5, 1, "same", 1, 1),  # few_channels, one channel
    (3, 5, 2, 3, 1, "valid", 2, 1),  # few_channels, dilated
    (2, 8, 3, 5, 1, "same", 1, 1),  # few_channels_im2col
    (3, 5, 4, 3, 1, "valid", 2, 1),  # few_channels_im2col, dilated
    # space_to_depth, with the size threshold off (the catalog's FOLD_CASES take it by size)
    (2, 9, 3, 5, 2, "same", 1, 1),  # space_to_depth (im2col inside)
    (1, 13, 1, 4, 4, "valid", 1, 1),  # space_to_depth (pointwise inside)
    (1, 12, 1, 5, 2, "valid", 1, 1),  # space_to_depth (few_channels inside)
    (1, 16, 1, 5, 4, "valid", 1, 1),  # space_to_depth (few_channels_im2col inside)
    (3, 7, 2, 3, 2, "valid", 1, 1),  # space_to_depth, 3D
    (2, 10, 3, 2, 3, "same", 1, 1),  # space_to_depth, stride larger than the kernel
]


@pytest.mark.parametrize("rank,size,cin,kernel,stride,padding,dilation,groups", ORACLE_GRID)
def test_new_paths_match_direct_loops(rank, size, cin, kernel, stride, padding, dilation, groups, monkeypatch):
    monkeypatch.setattr(conv_ops, "FOLD_MIN_COLUMNS", 0)  # space_to_depth on these small shapes
    _check_against_direct_loops(rank, size, cin, kernel, stride, padding, dilation, groups)


@pytest.mark.parametrize("size,kernel,stride", [(8, 2, 4), (13, 3, 4), (9, 3, 2)])
def test_causal_strided_conv_through_space_to_depth_matches_direct_loops(size, kernel, stride, monkeypatch):
    """Causal padding (only in front) with a stride: the last real cells may be read by no window,
    so the folds crop them and dL/dx puts zeros back there."""
    monkeypatch.setattr(conv_ops, "FOLD_MIN_COLUMNS", 0)
    geometry = [geo.axis_geometry(size, kernel, stride, 1, "causal")]
    assert conv_ops.algorithm(geometry, 1, 1, 4) == "space_to_depth"
    rng = np.random.default_rng(size + kernel)
    x, w = rng.normal(size=(2, size, 1)), rng.normal(size=(kernel, 1, 4))
    z, g, dx, dw = _conv_with_grads(x, w, stride, "causal", rng)
    front = np.pad(x, [(0, 0), (kernel - 1, 0), (0, 0)])  # causal: kernel - 1 zeros in front, then valid
    args = ((stride,), "valid", (1,), 1)
    np.testing.assert_allclose(z, oracle_conv(front, w, *args), rtol=1e-10, atol=1e-10)
    expected_dx, expected_dw = oracle_conv_backward(front, w, g, *args)
    np.testing.assert_allclose(dx, expected_dx[:, kernel - 1:], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-10, atol=1e-10)


def _conv_with_grads(x, w, stride, padding, rng):
    """Our convolution of float64 x, w, and its gradients for a random cotangent g: (z, g, dL/dx, dL/dW)."""
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        z = conv_ops.conv(xt, wt, stride, padding)
        g = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * g)
    dx, dw = tape.gradient(loss, [xt, wt])
    return z.numpy(), g, dx.numpy(), dw.numpy()


@pytest.mark.parametrize("onednn,filters,inner", [(False, 4, "rows"), (True, 4, "kn2row"), (True, 65, "rows")])
def test_space_to_depth_runs_the_algorithm_chosen_for_the_folded_shape(onednn, filters, inner, monkeypatch):
    """5x5/2 on 3 channels folds to a stride-1 3x3 correlation on 12 channels: forward and backward
    both run the algorithm `algorithm` picks for that shape, ungrouped, with the layer's filters
    (kn2row with oneDNN on up to KN2ROW_MAX_OUTPUTS, rows past it), and match the loops."""
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: onednn)
    for name, value in [("FOLD_MIN_COLUMNS", 0), ("ROWS_MIN_COLUMNS", 0), ("KN2ROW_MAX_PADDED", float("inf"))]:
        monkeypatch.setattr(conv_ops, name, value)
    ran = []
    for name, (forward, backward) in list(conv_ops.ALGORITHMS.items()):
        monkeypatch.setitem(conv_ops.ALGORITHMS, name, (
            lambda *a, name=name, f=forward: ran.append(("forward", name)) or f(*a),
            lambda *a, name=name, b=backward: ran.append(("backward", name)) or b(*a)))
    rng = np.random.default_rng(filters)
    x, w = rng.normal(size=(2, 9, 9, 3)), rng.normal(size=(5, 5, 3, filters))
    _check_conv(x, w, (2, 2), "same", (1, 1), rng)
    assert ran == [("forward", "space_to_depth"), ("forward", inner),
                   ("backward", "space_to_depth"), ("backward", inner)]

ROWS_GRID = [
    # rank, size, channels, kernel, strides, padding, dilation: rows with the size threshold off
    (1, 11, 6, 3, 1, "same", 1),
    (2, 8, 6, 3, 1, "same", 1),
    (2, 9, 5, 3, 2, "valid", 1),  # two phases, odd size
    (2, 10, 6, 3, 3, "same", 2),  # stride 3, dilation 2: phases 0 and 2
    (2, 9, 6, 2, 3, "same", 1),  # stride larger than the kernel
    (3, 5, 6, 3, 1, "valid", 2),
    (3, 7, 5, 3, 2, "same", 1),
    (2, 9, 3, 5, 2, "same", 1),  # space_to_depth, rows inside (12 folded channels)
]


@pytest.mark.parametrize("summed", [False, True], ids=["matmul_per_tap", "summed_outputs"])
@pytest.mark.parametrize("rank,size,cin,kernel,stride,padding,dilation", ROWS_GRID)
def test_rows_matches_direct_loops(rank, size, cin, kernel, stride, padding, dilation, summed, monkeypatch):
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: False)  # with oneDNN on, stride 1 takes kn2row
    monkeypatch.setattr(conv_ops, "FOLD_MIN_COLUMNS", 0)
    monkeypatch.setattr(conv_ops, "ROWS_MIN_COLUMNS", 0)
    monkeypatch.setattr(rows, "_summed", lambda kernel_shape: summed)
    geometry = [geo.axis_geometry(size, kernel, stride, dilation, padding) for _ in range(rank)]
    inner = "space_to_depth" if cin <= conv_ops.FEW_CHANNELS else "rows"
    assert conv_ops.algorithm(geometry, cin, 1, 4) == inner
    _check_against_direct_loops(rank, size, cin, kernel, stride, padding, dilation, 1)


KN2ROW_GRID = [
    # batch, spatial sizes, channels, filters, kernel, padding, dilation: kn2row with the size
    # thresholds off, dL/dx through the correlation (not col2im) so that it runs kn2row too
    (2, (9, 7), 6, 5, 3, "same", 1),
    (1, (8, 11), 5, 7, (2, 3), "valid", 1),  # batch 1, even leading kernel
    (2, (10, 9), 6, 6, 3, "same", 2),  # dilated
    (1, (6, 5, 7), 6, 5, 3, "same", 1),
    (2, (7, 6, 5), 5, 6, (3, 2, 3), "valid", 1),  # odd sizes, an even axis in the middle
    (1, (9, 7, 8), 6, 5, (3, 3, 2), "same", (2, 1, 1)),  # dilated leading axis, even last axis
    (2, (5, 6, 4), 8, 5, (3, 1, 3), "valid", 1),  # a leading axis of one tap
]


@pytest.mark.parametrize("batch,sizes,cin,cout,kernel,padding,dilation", KN2ROW_GRID)
def test_kn2row_matches_direct_loops(batch, sizes, cin, cout, kernel, padding, dilation, monkeypatch):
    """Forward, dL/dW and dL/dx (kn2row on dL/dz with the flipped kernel) against the loops."""
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: True)
    monkeypatch.setattr(conv_ops, "ROWS_MIN_COLUMNS", 0)
    monkeypatch.setattr(conv_ops, "KN2ROW_MAX_PADDED", float("inf"))
    monkeypatch.setattr(conv_ops, "SMALL_COLUMNS", 0)
    calls = []
    gathered = kn2row._gathered
    monkeypatch.setattr(kn2row, "_gathered", lambda x, *a: calls.append(x.shape[-1]) or gathered(x, *a))
    rank = len(sizes)
    kernel, dilation = geo.normalize_tuple(kernel, rank, "k"), geo.normalize_tuple(dilation, rank, "d")
    rng = np.random.default_rng(sum(sizes) + cin)
    x, w = rng.normal(size=(batch,) + sizes + (cin,)), rng.normal(size=kernel + (cin, cout))
    _check_conv(x, w, (1,) * rank, padding, dilation, rng)
    assert calls == [cin, cout], "forward and dL/dx did not both take kn2row"


@pytest.mark.parametrize("rank,transposed", [(2, False), (3, False), (2, True)])
def test_strided_input_grad_keeps_rows_with_onednn_on(rank, transposed, monkeypatch):
    """The phases of a strided convolution's dL/dx (and a strided transposed convolution's
    forward), kernels of 1-2 taps per axis, never take kn2row; the result still equals the loops."""
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: True)
    monkeypatch.setattr(conv_ops, "ROWS_MIN_COLUMNS", 0)
    monkeypatch.setattr(conv_ops, "KN2ROW_MAX_PADDED", float("inf"))
    monkeypatch.setattr(conv_ops, "SMALL_COLUMNS", 0)
    calls, used_rows = [], []
    gathered, rows_correlate = kn2row._gathered, rows.correlate
    monkeypatch.setattr(kn2row, "_gathered", lambda x, *a: calls.append(x.shape[-1]) or gathered(x, *a))
    monkeypatch.setattr(rows, "correlate", lambda x, *a: used_rows.append(1) or rows_correlate(x, *a))
    rng = np.random.default_rng(rank)
    x, w = rng.normal(size=(2,) + (9,) * rank + (6,)), rng.normal(size=(3,) * rank + (6, 7))
    if transposed:  # w as (*k, Cout=6, Cin=7): the adjoint of the stride-2 convolution by w
        v = rng.normal(size=(2,) + (5,) * rank + (7,))
        y = conv_ops.conv_transpose(tf.constant(v), tf.constant(w), (9,) * rank, 2, "same")
        expected = oracle_conv_backward(np.zeros(x.shape), w, v, (2,) * rank, "same", (1,) * rank, 1)[0]
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    else:
        _check_conv(x, w, (2,) * rank, "same", (1,) * rank, rng)
    assert used_rows and not calls


@pytest.mark.parametrize("cin,cout", [(1, 3), (3, 1), (1, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_kn2row_ops_on_one_channel_match_direct_loops(cin, cout, padding):
    """The op itself (the layer never picks it below FEW_CHANNELS+1 channels), one or few
    channels each way: forward and dL/dW, batch 1, a dL/dW tail (corners not a multiple of
    WEIGHT_GRAD_BLOCKS)."""
    rng = np.random.default_rng(cin * 3 + cout)
    x, w = rng.normal(size=(1, 5, 7, 6, cin)), rng.normal(size=(3, 2, 3, cin, cout))
    geometry = [geo.axis_geometry(n, k, 1, 1, padding) for n, k in zip(x.shape[1:-1], w.shape[:3])]
    z, patches = kn2row.correlate(tf.constant(x), tf.constant(w), geometry)
    args = ((1,) * 3, padding, (1,) * 3, 1)
    np.testing.assert_allclose(z.numpy(), oracle_conv(x, w, *args), rtol=1e-10, atol=1e-10)
    g = rng.normal(size=z.shape)
    dw = kn2row.weight_grad(patches, tf.constant(g), geometry, w.shape)
    np.testing.assert_allclose(dw.numpy(), oracle_conv_backward(x, w, g, *args)[1], rtol=1e-10, atol=1e-10)


def test_pad_amounts_pads_with_the_value_and_crops_negative_amounts():
    """The padding helper's contract, per axis and side: a positive amount adds `value` cells, a
    negative one removes cells; `pad` takes each axis's (before, after) from its geometry."""
    x = np.arange(1.0, 13.0).reshape(1, 3, 4, 1)
    got = geo.pad_amounts(tf.constant(x), [(-1, 2), (1, -2)], value=-7.0).numpy()[0, ..., 0]
    expected = np.full((4, 3), -7.0)
    expected[:2, 1:] = x[0, 1:, :2, 0]  # rows 1-2, columns 0-1 kept
    np.testing.assert_array_equal(got, expected)
    geometry = [geo.axis_geometry(3, 2, 2, 1, "same"), geo.axis_geometry(4, 3, 1, 1, "same")]  # (0, 1), (1, 1)
    padded = geo.pad(tf.constant(x), geometry, value=-7.0).numpy()[0, ..., 0]
    np.testing.assert_array_equal(padded, np.pad(x[0, ..., 0], [(0, 1), (1, 1)], constant_values=-7.0))


@pytest.mark.parametrize("kernel,dilation", [(1, (1, 1)), (3, (2, 1))])
def test_conv_strided_on_the_last_axis_only_matches_direct_loops(kernel, dilation, monkeypatch):
    """Strides (1, 2): dL/dx spreads dL/dz with zeros along the strided axis alone (pointwise's
    backward; a dilated strided convolution's spread route, SMALL_COLUMNS off)."""
    monkeypatch.setattr(conv_ops, "SMALL_COLUMNS", 0)
    rng = np.random.default_rng(kernel)
    x, w = rng.normal(size=(2, 9, 8, 6)), rng.normal(size=(kernel, kernel, 6, 4))
    _check_conv(x, w, (1, 2), "same", dilation, rng)


def _check_conv(x, w, strides, padding, dilation, rng):
    """conv_ops.conv's z, dL/dx and dL/dW of sum(z * g) against the direct loops, float64."""
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        z = conv_ops.conv(xt, wt, strides, padding, dilation)
        g = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * g)
    dx, dw = tape.gradient(loss, [xt, wt])
    args = (strides, padding, dilation, 1)
    np.testing.assert_allclose(z.numpy(), oracle_conv(x, w, *args), rtol=1e-10, atol=1e-10)
    expected_dx, expected_dw = oracle_conv_backward(x, w, g, *args)
    np.testing.assert_allclose(dx.numpy(), expected_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw.numpy(), expected_dw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel_shape, summed", [
    ((5, 5, 64, 64), True),  # rows 320 wide for 64 outputs
    ((3, 3, 32, 64), False),  # 96 for 64
    ((5, 5, 48, 192), False),  # 240 for 192
    ((3, 3, 3, 16, 32), True),  # 144 for 32
    ((9, 9, 16, 16), True),  # 16 outputs
    ((5, 64, 128), False),  # Conv1D: 64 for 128
])
def test_rows_sums_shifted_outputs_where_rows_are_wide_or_outputs_few(kernel_shape, summed):
    assert rows._summed(kernel_shape) is summed


@pytest.mark.parametrize("rank,size,stride", [(2, 7, 1), (1, 12, 2), (3, 4, 1)])
def test_widening_input_grad_takes_columns_and_matches_direct_loops(rank, size, stride, monkeypatch):
    """dL/dz past ROWS_MAX_CHANNELS and twice the input's channels: dL/dx by columns at any size
    (SMALL_COLUMNS off, so the widening rule alone decides), equal to the direct loops."""
    monkeypatch.setattr(conv_ops, "SMALL_COLUMNS", 0)
    calls = []
    by_columns = conv_ops._input_grad_by_columns
    monkeypatch.setattr(conv_ops, "_input_grad_by_columns", lambda *a: calls.append(1) or by_columns(*a))
    rng = np.random.default_rng(rank)
    x = rng.normal(size=(2,) + (size,) * rank + (6,))
    w = rng.normal(size=(3,) * rank + (6, conv_ops.ROWS_MAX_CHANNELS + 8))
    z, g, dx, dw = _conv_with_grads(x, w, stride, "same", rng)
    assert calls, "dL/dx did not take the columns route"
    args = ((stride,) * rank, "same", (1,) * rank, 1)
    np.testing.assert_allclose(z, oracle_conv(x, w, *args), rtol=1e-10, atol=1e-10)
    expected_dx, expected_dw = oracle_conv_backward(x, w, g, *args)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cin,cout,widening", [
    (6, 136, True), (68, 136, True), (69, 136, False), (100, 136, False), (6, 128, False), (64, 128, False),
])
def test_input_grad_widening_is_past_rows_channels_and_twice_the_inputs(cin, cout, widening):
    """dL/dz wider than ROWS_MAX_CHANNELS and at least COLUMNS_MIN_WIDENING times the input's channels."""
    assert conv_ops._widening(tf.zeros((3, 3, cin, cout))) is widening


@pytest.mark.parametrize("rank,size,kernel,stride", [(2, 8, 2, 3), (1, 10, 2, 3), (3, 5, 2, 3)])
def test_input_grad_by_phases_with_a_stride_past_the_kernel_matches_direct_loops(rank, size, kernel, stride,
                                                                                monkeypatch):
    """The sub-pixel dL/dx (SMALL_COLUMNS off): where the stride is longer than the kernel, the phases
    no tap reaches are zeros, of dL/dz's dtype and shape."""
    monkeypatch.setattr(conv_ops, "SMALL_COLUMNS", 0)
    calls, by_phases = [], conv_ops._input_grad_by_phases
    monkeypatch.setattr(conv_ops, "_input_grad_by_phases", lambda *a: calls.append(1) or by_phases(*a))
    rng = np.random.default_rng(size + stride)
    x, w = rng.normal(size=(2,) + (size,) * rank + (5,)), rng.normal(size=(kernel,) * rank + (5, 3))
    _check_conv(x, w, (stride,) * rank, "same", (1,) * rank, rng)
    assert calls, "dL/dx did not take the phases"

@pytest.mark.parametrize("max_columns,route", [(1 << 21, "columns"), (0, "shifted")])
@pytest.mark.parametrize("rank,size,cin,kernel,dilation", [(2, 8, 3, 5, 1), (3, 5, 4, 3, 2), (1, 12, 3, 4, 1)])
def test_few_channels_im2col_input_grad_route(rank, size, cin, kernel, dilation, max_columns, route, monkeypatch):
    """few_channels_im2col's dL/dx: by columns up to FEW_CHANNELS_MAX_COLUMNS per example, by the
    shifted rows past it; both equal to the direct loops."""
    monkeypatch.setattr(conv_ops, "FEW_CHANNELS_MAX_COLUMNS", max_columns)
    monkeypatch.setattr(conv_ops, "FEW_CHANNELS_MAX_COLUMNS_ONEDNN", max_columns)
    calls = []
    spies = {"columns": (conv_ops, "_input_grad_by_columns"), "shifted": (conv_ops.shifted, "input_grad")}
    for name, (module, attr) in spies.items():
        original = getattr(module, attr)
        monkeypatch.setattr(module, attr, lambda *a, name=name, original=original: calls.append(name) or original(*a))
    geometry = [geo.axis_geometry(size, kernel, 1, dilation, "valid") for _ in range(rank)]
    assert conv_ops.algorithm(geometry, cin, 1, 4) == "few_channels_im2col"
    _check_against_direct_loops(rank, size, cin, kernel, 1, "valid", dilation, 1)
    assert calls == [route]


def _check_against_direct_loops(rank, size, cin, kernel, stride, padding, dilation, groups):
    rng = np.random.default_rng(size * 7 + cin)
    x = rng.normal(size=(2,) + (size,) * rank + (cin,))
    w = rng.normal(size=(kernel,) * rank + (cin // groups, 4))
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        z = conv_ops.conv(xt, wt, stride, padding, dilation, groups)
        g = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * g)
    dx, dw = tape.gradient(loss, [xt, wt])
    args = ((stride,) * rank, padding, (dilation,) * rank, groups)
    np.testing.assert_allclose(z.numpy(), oracle_conv(x, w, *args), rtol=1e-10, atol=1e-10)
    expected_dx, expected_dw = oracle_conv_backward(x, w, g, *args)
    np.testing.assert_allclose(dx.numpy(), expected_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw.numpy(), expected_dw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("size,pool,stride,padding", [(8, 2, 2, "valid"), (9, 2, 2, "same"), (9, 3, 2, "same"), (7, 1, 3, "same")])
def test_pool_paths_match_direct_loops_in_3d(mode, size, pool, stride, padding):
    x = np.random.default_rng(size).normal(size=(1, size, size - 1, size, 3))
    op = pool_ops.max_pool if mode == "max" else pool_ops.average_pool
    ours = op(tf.constant(x), pool, stride, padding).numpy()
    expected = oracle_pool(x, (pool,) * 3, (stride,) * 3, padding, "max" if mode == "max" else "avg")
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)  # matrix step: other sum order


def oracle_max_pool_backward(x, dz, pool, strides, padding):
    """dL/dx by direct loops: each window's dz to its first maximal real cell, row-major."""
    rank = x.ndim - 2
    pads = [_pad_same(n, k, s, 1) if padding == "same" else (0, 0) for n, k, s in zip(x.shape[1:-1], pool, strides)]
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)], constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[-1])):
        for o in itertools.product(*[range(m) for m in dz.shape[1:-1]]):
            cells = [tuple(o[i] * strides[i] + t[i] for i in range(rank))
                     for t in itertools.product(*[range(k) for k in pool])]  # row-major
            best = max(cells, key=lambda cell: (xp[(n,) + cell + (c,)], -cells.index(cell)))
            dxp[(n,) + best + (c,)] += dz[(n,) + o + (c,)]
    return dxp[(slice(None),) + tuple(slice(b, b + m) for (b, _), m in zip(pads, x.shape[1:-1])) + (slice(None),)]


@pytest.mark.parametrize(
    "rank,size,pool,stride,padding",
    [(1, 9, 3, 2, "same"), (2, 7, 2, 2, "valid"), (2, 8, 3, 2, "same"), (2, 7, 2, 3, "same"),
     (3, 5, 3, 2, "valid"), (3, 6, 2, 2, "same"), (3, 5, 3, 1, "same"),
     (1, 11, 3, 2, "valid"), (2, 2, 5, 1, "same"),  # odd length (filled tap); taps wholly in padding
     (1, 9, 2, 2, "valid"), (3, 5, 2, 2, "valid"),  # tiles with a cropped last cell
     (1, 10, 2, 3, "valid"), (1, 7, 1, 3, "same"),  # gaps, past the last window too; a 1-cell pool
     (1, 9, 5, 2, "same")],  # the first window starts a whole stride inside the padding
)
@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "xla-training"])
def test_max_pool_backward_matches_direct_loops_with_ties(rank, size, pool, stride, padding, compiled):
    """Values from {0, 1, 2} (many tied windows, as after ReLU): every dz lands once, on the first
    maximal cell in row-major window order. Both paths: plain separable (inference) and the
    XLA-fused training path (whole windows where 3D windows tile: pool 2 stride 2 here, else separable)."""
    rng = np.random.default_rng(size * 10 + rank)
    x = rng.integers(0, 3, size=(2,) + (size,) * rank + (3,)).astype(np.float64)
    z, dz, dx = max_pool_and_gradient(x, pool, stride, padding, compiled, rng)
    args = ((pool,) * rank, (stride,) * rank, padding)
    np.testing.assert_array_equal(z, oracle_pool(x, *args, "max"))
    np.testing.assert_allclose(dx, oracle_max_pool_backward(x, dz, *args), rtol=1e-12)


def max_pool_and_gradient(x, pool, strides, padding, compiled, rng):
    """(max_pool(x), a random dz, dL/dx of sum(z * dz)), as NumPy."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z = pool_ops.max_pool(xt, pool, strides, padding, compiled=compiled)
        dz = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * dz)
    return z.numpy(), dz, tape.gradient(loss, xt).numpy()


@pytest.mark.parametrize("sizes,pool,strides,padding,path", [
    ((7, 5, 7), (3, 1, 2), (3, 1, 2), "valid", "tiles"),  # 3D tiles, the last cells left out
    ((7, 6, 5), (3, 2, 2), (2, 2, 1), "same", "whole windows"),  # 3D, overlapping
    ((7, 6, 5), (1, 1, 1), (3, 2, 3), "same", "whole windows"),  # 3D, one cell with gaps: a single tap
    ((7, 8), (3, 2), (2, 1), "same", "whole windows"),  # 2D windows that read padding
])
@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "xla-training"])
def test_max_pool_windows_of_another_size_on_each_axis_match_direct_loops(sizes, pool, strides, padding, path,
                                                                          compiled):
    """Windows whose size and stride differ by axis, ties as after ReLU: in training the tile view
    and its adjoint, and the whole windows' taps routed back, take each axis's own window."""
    from layers.ops import max_pool

    geometry = pool_ops._pool_geometry(tf.zeros((1,) + sizes + (1,)), pool, strides, padding, len(sizes))
    assert (max_pool.tiles(geometry), max_pool.whole_windows(geometry)) == (path == "tiles", True)
    rng = np.random.default_rng(13)
    x = rng.integers(0, 3, size=(2,) + sizes + (3,)).astype(np.float64)
    z, dz, dx = max_pool_and_gradient(x, pool, strides, padding, compiled, rng)
    np.testing.assert_array_equal(z, oracle_pool(x, pool, strides, padding, "max"))
    np.testing.assert_allclose(dx, oracle_max_pool_backward(x, dz, pool, strides, padding), rtol=1e-12)


def oracle_average_pool_backward(x, dz, pool, strides, padding):
    """dL/dx by direct loops: each window's dz shared evenly by its real cells."""
    rank = x.ndim - 2
    pads = [_pad_same(n, k, s, 1) if padding == "same" else (0, 0) for n, k, s in zip(x.shape[1:-1], pool, strides)]
    real = np.pad(np.ones(x.shape[1:-1]), pads)
    dxp = np.zeros((x.shape[0],) + real.shape + (x.shape[-1],))
    for o in itertools.product(*[range(m) for m in dz.shape[1:-1]]):
        box = tuple(slice(o[i] * strides[i], o[i] * strides[i] + pool[i]) for i in range(rank))
        share = dz[(slice(None),) + o][:, None, :] / real[box].sum()  # (N, 1, C)
        cells = real[box].reshape(-1)[None, :, None]
        dxp[(slice(None),) + box] += (share * cells).reshape(dxp[(slice(None),) + box].shape)
    return dxp[(slice(None),) + tuple(slice(b, b + m) for (b, _), m in zip(pads, x.shape[1:-1])) + (slice(None),)]


@pytest.mark.parametrize("matrix_size_per_tap", [0, 100], ids=["taps", "matrix"])
@pytest.mark.parametrize(
    "rank,size,pool,stride,padding",
    [(1, 9, 3, 2, "same"), (2, 8, 3, 2, "same"), (2, 7, 2, 3, "same"), (3, 5, 3, 2, "valid"), (3, 5, 3, 1, "same"),
     (1, 10, 2, 3, "valid"), (1, 7, 1, 3, "same"), (1, 9, 5, 2, "same")],  # as the max pool test's last three
)
def test_separable_average_pool_matches_direct_loops(rank, size, pool, stride, padding, matrix_size_per_tap, monkeypatch):
    monkeypatch.setattr(average_pool, "MATRIX_SIZE_PER_TAP", matrix_size_per_tap)  # every axis one step
    rng = np.random.default_rng(size * 10 + rank)
    x = rng.normal(size=(2,) + (size,) * rank + (3,))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z = pool_ops.average_pool(xt, pool, stride, padding)
        dz = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * dz)
    args = ((pool,) * rank, (stride,) * rank, padding)
    np.testing.assert_allclose(z.numpy(), oracle_pool(x, *args, "avg"), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(), oracle_average_pool_backward(x, dz, *args), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("matrix_size_per_tap", [0, 100], ids=["taps", "matrix"])
def test_separable_average_pool_takes_each_axis_own_window(matrix_size_per_tap, monkeypatch):
    """A 3x2 pool with strides (2, 3) on 9x7 cells, SAME: each axis's means and counts come from its
    own geometry (the axes' windows, padding and output sizes all differ)."""
    monkeypatch.setattr(average_pool, "MATRIX_SIZE_PER_TAP", matrix_size_per_tap)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 9, 7, 3))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z = pool_ops.average_pool(xt, (3, 2), (2, 3), "same")
        dz = rng.normal(size=z.shape)
        loss = tf.reduce_sum(z * dz)
    args = ((3, 2), (2, 3), "same")
    np.testing.assert_allclose(z.numpy(), oracle_pool(x, *args, "avg"), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(), oracle_average_pool_backward(x, dz, *args),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pool,stride,matrix_size_per_tap,compiled", [
    (3, 2, 0, False), (3, 2, 100, False), (3, 2, 0, True),  # separable: taps, matrix; XLA training
    (2, 2, 0, False),  # tiles
], ids=["taps", "matrix", "xla-training", "tiles"])
def test_average_pool_runs_in_float32(pool, stride, matrix_size_per_tap, compiled, monkeypatch):
    """The layers' own dtype: every path's constants (window matrix, counts) take x's dtype, and
    the means and dL/dx are float32 within float32 rounding of the float64 loops."""
    monkeypatch.setattr(average_pool, "MATRIX_SIZE_PER_TAP", matrix_size_per_tap)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 9, 8, 3)).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z = pool_ops.average_pool(xt, pool, stride, "same", compiled=compiled)
        dz = rng.normal(size=z.shape).astype(np.float32)
        loss = tf.reduce_sum(z * dz)
    dx = tape.gradient(loss, xt)
    assert z.dtype == dx.dtype == tf.float32
    args = ((pool,) * 2, (stride,) * 2, "same")
    x64, dz64 = x.astype(np.float64), dz.astype(np.float64)
    np.testing.assert_allclose(z.numpy(), oracle_pool(x64, *args, "avg"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), oracle_average_pool_backward(x64, dz64, *args), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("onednn", [False, True], ids=["onednn-off", "onednn-on"])
def test_keras_model_with_unknown_batch_runs_every_path(onednn, monkeypatch):
    """Shapes are static but the batch is not: each path traces with batch None."""
    import layers

    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: onednn)
    monkeypatch.setattr(conv_ops, "ROWS_MIN_COLUMNS", 0)
    inputs = keras.Input((12, 12, 1))
    x = layers.Conv2D(4, 3, padding="same")(inputs)  # few_channels
    x = layers.Conv2D(6, 1)(x)  # pointwise
    x = layers.Conv2D(6, 3, padding="same")(x)  # rows; with oneDNN on, kn2row
    x = layers.MaxPooling2D(2)(x)  # separable
    x = layers.Conv2D(8, 3, strides=2, groups=2)(x)  # im2col
    x = layers.AveragePooling2D(2, strides=1)(x)  # separable
    x = layers.AveragePooling2D(2, padding="same")(x)  # tiles
    model = keras.Model(inputs, x)
    model.compile("sgd", "mse")
    data = np.random.default_rng(0).normal(size=(3, 12, 12, 1)).astype("float32")
    model.fit(data, np.zeros((3,) + model.output_shape[1:], "float32"), batch_size=2, verbose=0)


@pytest.mark.parametrize("size,pool,stride,padding,tiles", [
    (8, 2, 2, "valid", True), (9, 2, 2, "valid", True), (8, 2, 2, "same", True), (9, 2, 2, "same", False),
    (9, 3, 2, "same", False), (9, 2, 1, "valid", False),
])
def test_max_pool_takes_whole_windows_in_training_only_where_they_tile(size, pool, stride, padding, tiles):
    from layers.ops import max_pool
    geometry = pool_ops._pool_geometry(tf.zeros((1, size, size, 1)), pool, stride, padding, 2)
    assert max_pool.tiles(geometry) is tiles


@pytest.mark.parametrize("rank,size,pool,stride,padding,whole", [
    (3, 8, 3, 2, "same", True), (3, 9, 3, 2, "valid", True), (3, 8, 2, 2, "valid", True),
    (2, 8, 3, 2, "same", True), (2, 9, 2, 2, "same", True), (2, 9, 3, 2, "valid", False),
    (2, 8, 2, 2, "valid", False), (1, 9, 3, 2, "same", False),
])
def test_max_pool_takes_whole_windows_in_3d_and_on_padded_2d(rank, size, pool, stride, padding, whole):
    """The training path's choice: whole windows with saved winners in 3D and where 2D windows read
    padding; axis by axis elsewhere (docs/BENCHMARKS.md has the measurements behind it)."""
    from layers.ops import max_pool
    geometry = pool_ops._pool_geometry(tf.zeros((1,) + (size,) * rank + (1,)), pool, stride, padding, rank)
    assert max_pool.whole_windows(geometry) is whole


@pytest.mark.parametrize("onednn,route", [(False, "columns"), (True, "shifted")])
def test_few_channels_input_grad_route_follows_the_tensorflow_mode(onednn, route, monkeypatch):
    """With oneDNN on, few_channels_im2col's dL/dx takes the shifted rows on shapes where, with it
    off, it takes columns: the mode is read, not assumed."""
    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: onednn)
    calls = []
    spies = {"columns": (conv_ops, "_input_grad_by_columns"), "shifted": (conv_ops.shifted, "input_grad")}
    for name, (module, attr) in spies.items():
        original = getattr(module, attr)
        monkeypatch.setattr(module, attr, lambda *a, name=name, original=original: calls.append(name) or original(*a))
    _check_against_direct_loops(2, 8, 3, 5, 1, "valid", 1, 1)
    assert calls == [route]


@pytest.mark.parametrize("layer_class,kwargs", [("Conv3D", {}), ("Conv3DTranspose", {})])
def test_kn2row_runs_in_training_only(layer_class, kwargs, monkeypatch):
    """kn2row's shifted sums are an XLA function, which an export must not hold (TF Serving runs
    no XLA JIT): outside training the layers take rows, with the same numbers."""
    import layers

    monkeypatch.setattr(conv_ops.mode, "onednn", lambda: True)
    calls, gathered = [], kn2row._gathered
    monkeypatch.setattr(kn2row, "_gathered", lambda x, *a: calls.append(x.shape[-1]) or gathered(x, *a))
    layer = getattr(layers, layer_class)(16, 3, padding="same", **kwargs)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 16, 16, 16, 16)), tf.float32)
    inference = layer(x, training=False)
    assert calls == [], "kn2row ran outside training"
    training = layer(x, training=True)
    assert calls == [16], "kn2row did not run in training"
    np.testing.assert_allclose(inference.numpy(), training.numpy(), rtol=1e-4, atol=1e-4)
