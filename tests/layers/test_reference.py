"""Tiers 2 and 3: every registered layer (the README's example included) against its Keras /
TensorFlow counterpart with copied weights, and its backward against finite differences in
float64; plus a wider grid of convolution/pooling configurations against keras.layers."""
import itertools

import keras
import numpy as np
import pytest

import layers
from layers import catalog, gradcheck, registry
from layers.ops import conv as conv_ops
from layers.ops import mode
from readme_example import load_example_layer

load_example_layer()  # registers ChannelPReLU, so the grid below includes it

CASES = [(e.name, i) for e in registry.entries() for i in range(len(e.cases))]


def test_readme_layer_is_registered():
    assert "ChannelPReLU" in registry.names()


@pytest.mark.parametrize("name,index", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_registered_case_within_tolerance(name, index):
    entry = registry.get(name)
    result = gradcheck.check_case(entry, entry.cases[index])
    assert result.ok, gradcheck.format_row(result)
    assert result.errors["fd"] is not None
    if entry.reference is not None and not _dilated_transpose(name, entry.cases[index]):
        assert result.errors["fwd"] is not None and result.errors["dx"] is not None


KN2ROW_CASES = [(f"Conv{rank}D", i) for rank in (2, 3) for i, c in enumerate(registry.get(f"Conv{rank}D").cases)
                if c in catalog.KN2ROW_CASES[rank]]


@pytest.mark.parametrize("name,index", KN2ROW_CASES, ids=[f"{n}-{i}" for n, i in KN2ROW_CASES])
def test_kn2row_cases_within_tolerance_in_either_mode(name, index, monkeypatch):
    """kn2row is chosen with oneDNN on only: its catalog cases are checked here with the choice
    forced, so a process with oneDNN off checks its forward and both gradients too."""
    monkeypatch.setattr(mode, "onednn", lambda: True)
    entry = registry.get(name)
    result = gradcheck.check_case(entry, entry.cases[index])
    assert result.ok, gradcheck.format_row(result)
    assert None not in (result.errors["fwd"], result.errors["dx"], result.errors["dW"], result.errors["fd"])


def _dilated_transpose(name, case):
    """TensorFlow's CPU kernels without oneDNN cannot run these (layers/gradcheck.py)."""
    return "Transpose" in name and case.config.get("dilation_rate", 1) not in (1, (1,), (1, 1), (1, 1, 1))


def test_gradcheck_catches_a_wrong_backward():
    """The checker must fail a layer whose backward is off (here: dx scaled by 1.01)."""

    class SlightlyWrongPReLU(load_example_layer()["ChannelPReLU"]):
        def backward(self, dy, saved):
            dx, dalpha = super().backward(dy, saved)
            return dx * 1.01, dalpha

    entry = registry.LayerEntry(
        "SlightlyWrongPReLU", SlightlyWrongPReLU, [layers.Case({}, (2, 6, 3))],
        lambda config: keras.layers.PReLU(shared_axes=[1], **config),
    )
    result = gradcheck.check_case(entry, entry.cases[0])
    assert set(result.failures) == {"dx", "fd"}
    assert result.errors["fwd"] < 1e-6 and result.errors["dW"] < 1e-5


class GroupsBySplitting(keras.layers.Layer):
    """keras.layers.ConvND(groups=G) as G ungrouped TensorFlow convolutions over channel slices,
    concatenated: Keras compiles every grouped convolution with XLA on the CPU, seconds per grid
    case. Same weights (kernel (*k, C/G, F), bias (F,)) and the same function."""

    def __init__(self, rank, filters, kernel_size, strides, padding, dilation_rate, groups):
        super().__init__()
        self.rank, self.filters, self.groups = rank, filters, groups
        self.kernel_size, self.strides, self.dilation_rate = kernel_size, strides, dilation_rate
        self.padding = padding

    def build(self, input_shape):
        shape = (self.kernel_size,) * self.rank + (input_shape[-1] // self.groups, self.filters)
        self.kernel = self.add_weight(shape=shape)
        self.bias = self.add_weight(shape=(self.filters,))

    def call(self, x):
        padding = self.padding
        if padding == "causal":  # left padding, as keras.layers.Conv1D does
            x = keras.ops.pad(x, [(0, 0), ((self.kernel_size - 1) * self.dilation_rate, 0), (0, 0)])
            padding = "valid"
        slices = zip(keras.ops.split(x, self.groups, axis=-1), keras.ops.split(self.kernel, self.groups, axis=-1))
        z = keras.ops.concatenate([keras.ops.conv(xg, kg, self.strides, padding, dilation_rate=self.dilation_rate)
                                   for xg, kg in slices], axis=-1)
        return z + self.bias


def _keras_reference(name, config):
    if config.get("groups", 1) > 1:
        return GroupsBySplitting(int(name[4]), **config)
    return getattr(keras.layers, name)(**config)


def _compare_with_keras(name, config, input_shape, seed=0):
    """Ours against keras.layers, eagerly: hundreds of small cases, where tracing each one would
    cost more than the check (the registered cases above run traced)."""
    entry = registry.LayerEntry(name, getattr(layers, name), [], lambda c: _keras_reference(name, c))
    return gradcheck.check_case(entry, layers.Case(config, input_shape), seed=seed, finite_differences=False,
                                compiled=False)


def _conv_grid(rank):
    sizes = {1: (2, 13, 4), 2: (2, 9, 10, 4), 3: (1, 7, 6, 5, 4)}[rank]
    paddings = ["valid", "same"] + (["causal"] if rank == 1 else [])
    for kernel, stride, padding, dilation, groups in itertools.product(
        [1, 2, 3, 4], [1, 2, 3], paddings, [1, 2], [1, 2]
    ):
        if stride > 1 and dilation > 1:  # Keras refuses this combination
            continue
        if padding == "valid" and (kernel - 1) * dilation + 1 > min(sizes[1:-1]):
            continue  # no output: tested as an error in test_layers_errors
        config = dict(filters=6, kernel_size=kernel, strides=stride, padding=padding,
                      dilation_rate=dilation, groups=groups)
        yield config, sizes


@pytest.fixture(params=["columns", "correlation"])
def input_grad_route(request, monkeypatch):
    """Both dL/dx routes on the same grid: these small problems take col2im by default;
    with the threshold at 0 they take the sub-pixel phases or the spread correlation."""
    if request.param == "correlation":
        monkeypatch.setattr(conv_ops, "SMALL_COLUMNS", 0)
    return request.param


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_grid_matches_keras(rank, input_grad_route):
    """ranks x kernel sizes (even ones too) x strides (larger than the kernel, sizes not
    divisible) x paddings x dilations x groups."""
    failures = []
    for config, shape in _conv_grid(rank):
        if rank == 3 and (config["kernel_size"], config["strides"], config["padding"]) == (1, 3, "same"):
            continue  # TF 2.21's CPU Conv3D without oneDNN (AVX2 machines) returns other cells:
            # test_oracle's direct loops check ours on this configuration
        result = _compare_with_keras(f"Conv{rank}D", config, shape)
        if not result.ok:
            failures.append(gradcheck.format_row(result))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_transpose_grid_matches_keras(rank, input_grad_route):
    shape = {1: (2, 7, 3), 2: (2, 5, 6, 3), 3: (1, 4, 5, 3, 3)}[rank]
    failures = []
    for kernel, stride, padding, output_padding in itertools.product(
        [1, 2, 3, 4], [1, 2, 3], ["valid", "same"], [None, 0, 1]
    ):
        if output_padding is not None and output_padding >= stride:
            continue  # Keras requires output_padding < strides
        if padding == "same" and kernel % 2 == 0 and output_padding == 0:
            continue  # Keras's output size is not the SAME-conv preimage: TF's own gradient crashes
        if (rank, kernel, stride, padding) == (3, 1, 3, "same"):
            continue  # its dL/dx is TF's CPU Conv3D, wrong here without oneDNN (see above)
        config = dict(filters=4, kernel_size=kernel, strides=stride, padding=padding,
                      output_padding=output_padding)
        result = _compare_with_keras(f"Conv{rank}DTranspose", config, shape)
        if _reference_dw_unreliable(rank, kernel, stride) and result.failures == ["dW"]:
            result = _against_finite_differences(f"Conv{rank}DTranspose", config, shape)
        if not result.ok:
            failures.append(gradcheck.format_row(result))
    assert not failures, "\n".join(failures)


def _reference_dw_unreliable(rank, kernel, stride):
    """TF 2.21's oneDNN Conv2DBackpropFilter for a 1x1 kernel with stride > 1 (the dW of Keras's
    Conv2DTranspose) differs from run to run, by 0.5-1.4 relative, on AVX2 CPUs with
    TF_ENABLE_ONEDNN_OPTS=1; there our dW is checked against float64 finite differences instead."""
    return mode.onednn() and rank == 2 and kernel == 1 and stride > 1


def _against_finite_differences(name, config, input_shape):
    """Ours alone, after its forward and dL/dx matched Keras: every gradient by float64 finite differences."""
    entry = registry.LayerEntry(name, getattr(layers, name), [], None)
    return gradcheck.check_case(entry, layers.Case(config, input_shape), finite_differences=True, compiled=False)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kind", ["MaxPooling", "AveragePooling"])
def test_pooling_grid_matches_keras(rank, kind):
    shape = {1: (2, 11, 3), 2: (2, 9, 8, 3), 3: (1, 7, 6, 5, 2)}[rank]
    failures = []
    for pool, stride, padding in itertools.product([1, 2, 3], [1, 2, 3], ["valid", "same"]):
        if (rank, pool, stride, padding) == (3, 1, 3, "same"):
            # TF 2.21's pool3d returns cells other than x[:, ::3, ::3, ::3] here (oneDNN on or
            # off); test_pool_paths_match_direct_loops_in_3d checks ours against direct loops
            continue
        result = _compare_with_keras(f"{kind}{rank}D", dict(pool_size=pool, strides=stride, padding=padding), shape)
        if not result.ok:
            failures.append(gradcheck.format_row(result))
    assert not failures, "\n".join(failures)


def test_channels_first_matches_channels_last():
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 8)).astype("float32")  # (N, C, H, W)
    nhwc = np.transpose(x, [0, 2, 3, 1])
    ours = layers.Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")
    ref = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    ours.build(x.shape)
    ref.build(nhwc.shape)
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), np.transpose(ref(nhwc), [0, 3, 1, 2]), atol=1e-5)
    pooled = layers.MaxPooling2D(2, data_format="channels_first")(x)
    expected = np.transpose(keras.layers.MaxPooling2D(2)(nhwc), [0, 3, 1, 2])
    np.testing.assert_array_equal(pooled, expected)
