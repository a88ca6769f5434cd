"""networks/: the rank-generic blocks, the heads, and every network's parameter count and shapes.

Parameter counts are written out per layer: a convolution has k^rank * C_in * C_out weights
(+ C_out biases, none before batch norm), batch norm 4 * C (gamma, beta, moving mean and variance).
"""
import keras
import numpy as np
import pytest

import layers
from networks import alexnet, audio, blocks, cnn3d, kim, lenet, resnet, unet


def conv(kernel_volume, c_in, c_out, bias=True):
    return kernel_volume * c_in * c_out + (c_out if bias else 0)


def bn(channels):
    return 4 * channels


def dense(n_in, n_out):
    return n_in * n_out + n_out


def build(network, shape, num_classes, dtype="float32", **kwargs):
    inputs = keras.Input(shape, dtype=dtype)
    return keras.Model(inputs, network(inputs, num_classes=num_classes, **kwargs))


def batch_norm_momenta(model):
    return {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}


# ----------------------------------------------------------------------------------- blocks
RANKS = [(1, (12, 3)), (2, (12, 10, 3)), (3, (8, 6, 4, 3))]


@pytest.mark.parametrize("rank, shape", RANKS)
def test_conv_norm_act_takes_its_rank_from_the_input(rank, shape):
    x = keras.Input(shape)
    y = blocks.conv_norm_act(x, 5, 3, strides=2, momentum=0.9, name="c")
    model = keras.Model(x, y)
    conv_layer, norm, act = model.layers[1:]
    assert type(conv_layer) is layers.conv_layer(rank) and conv_layer.strides == (2,) * rank
    assert not conv_layer.use_bias and conv_layer.padding == "same"
    assert (conv_layer.name, norm.name, act.name) == ("c_conv", "c_bn", "c_relu")
    assert norm.momentum == 0.9
    assert y.shape == (None, *[(s + 1) // 2 for s in shape[:-1]], 5)
    assert model.count_params() == conv(3**rank, 3, 5, bias=False) + bn(5)


def test_conv_norm_act_names_can_be_overridden():
    x = keras.Input((8, 8, 1))
    model = keras.Model(x, blocks.conv_norm_act(x, 2, 3, momentum=0.99, name="h1",
                                                names={"conv": "h1", "act": None},
                                                activation=keras.layers.ReLU))
    conv_layer, norm, act = model.layers[1:]
    assert (conv_layer.name, norm.name) == ("h1", "h1_bn") and act.name.startswith("re_lu")
    assert isinstance(act, keras.layers.ReLU) and norm.momentum == 0.99


@pytest.mark.parametrize("rank, shape", RANKS)
def test_residual_block_keeps_the_identity_when_shape_is_unchanged(rank, shape):
    x = keras.Input(shape)
    model = keras.Model(x, blocks.residual_block(x, 3, momentum=0.9, name="r"))
    names = [layer.name for layer in model.layers]
    assert "r_proj" not in names and model.output.shape == (None, *shape)
    assert model.count_params() == 2 * (conv(3**rank, 3, 3, bias=False) + bn(3))
    # Zero convolutions leave only the shortcut: relu(0 + x).
    for layer in model.layers:
        if isinstance(layer, layers.conv_layer(rank)):
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    inputs = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
    np.testing.assert_allclose(model.predict_on_batch(inputs), np.maximum(inputs, 0), atol=1e-6)


@pytest.mark.parametrize("rank, shape", RANKS)
@pytest.mark.parametrize("stride, filters", [(2, 3), (1, 6), (2, 6)])
def test_residual_block_projects_when_stride_or_width_change(rank, shape, stride, filters):
    x = keras.Input(shape)
    model = keras.Model(x, blocks.residual_block(x, filters, stride, momentum=0.9, name="r"))
    proj = model.get_layer("r_proj")
    assert type(proj) is layers.conv_layer(rank)
    assert proj.kernel.shape == (1,) * rank + (3, filters) and proj.strides == (stride,) * rank
    assert model.get_layer("r_conv0").strides == (stride,) * rank
    assert model.output.shape == (None, *[-(-s // stride) for s in shape[:-1]], filters)
    assert model.count_params() == (conv(3**rank, 3, filters, bias=False) + bn(filters)
                                    + conv(3**rank, filters, filters, bias=False) + bn(filters)
                                    + conv(1, 3, filters, bias=False) + bn(filters))


def test_residual_block_layer_names_and_overrides():
    x = keras.Input((8, 8, 4))
    model = keras.Model(x, blocks.residual_block(x, 8, 2, momentum=0.9, name="r"))
    assert [layer.name for layer in model.layers[1:]] == [
        "r_conv0", "r_bn0", "r_relu0", "r_conv1", "r_proj", "r_bn1", "r_proj_bn", "r_add", "r_out"]
    renamed = keras.Model(x, blocks.residual_block(x, 8, 2, momentum=0.9, name="s",
                                                   names={"conv0": "s_a", "add": None}))
    names = [layer.name for layer in renamed.layers]
    assert "s_a" in names and "s_add" not in names and "s_out" in names


@pytest.mark.parametrize("rank, shape", RANKS)
@pytest.mark.parametrize("kinds", [("avg",), ("max",), ("avg", "max"), ("max", "avg")])
def test_classifier_head_pools_every_spatial_axis(rank, shape, kinds):
    x = keras.Input(shape)
    model = keras.Model(x, blocks.classifier_head(x, 4, 0.5, kinds))
    assert model.output.shape == (None, 4)
    assert model.count_params() == dense(len(kinds) * shape[-1], 4)
    assert [type(layer) for layer in model.layers[1:1 + len(kinds)]] == [
        layers.pooling_layer(rank, "average" if kind == "avg" else "max", global_=True) for kind in kinds]
    assert model.get_layer("dropout").rate == 0.5


def test_global_pool_concatenates_in_the_order_asked():
    inputs = np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype(np.float32)
    x = keras.Input((5, 4, 3))
    pooled = keras.Model(x, blocks.global_pool(x, ("max", "avg"))).predict_on_batch(inputs)
    expected = np.concatenate([inputs.max(axis=(1, 2)), inputs.mean(axis=(1, 2))], axis=-1)
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)


def test_pooling_kinds_reads_the_config_string():
    assert blocks.pooling_kinds("avg+max") == ("avg", "max")
    assert blocks.pooling_kinds("max") == ("max",)
    with pytest.raises(ValueError, match="expected avg, max or avg\\+max"):
        blocks.pooling_kinds("mean")


def test_check_downsampling_names_the_level():
    with pytest.raises(ValueError, match="too small for 4 levels: \\(1, 2, 2\\) at level 3"):
        blocks.check_downsampling(keras.Input((1, 2, 2, 8)), 4, 3)


# ------------------------------------------------------------------------- the networks
def test_lenet5_parameters_and_shape():
    model = build(lenet.lenet5, (28, 28, 1), 10)
    assert model.count_params() == (conv(25, 1, 6) + conv(25, 6, 16) + conv(25, 16, 120)
                                    + dense(120, 84) + dense(84, 10)) == 61_706
    assert model.get_layer("c5").output.shape == (None, 1, 1, 120)
    assert model.output.shape == (None, 10)


@pytest.mark.parametrize("size, flat", [(16, 2 * 2 * 128), (28, 4 * 4 * 128)])
def test_lecun1989_parameters_and_shape(size, flat):
    model = build(lenet.lecun1989, (size, size, 1), 10)
    convolutions = (conv(25, 1, 32, bias=False) + bn(32) + conv(25, 32, 64, bias=False) + bn(64)
                    + conv(9, 64, 128, bias=False) + bn(128))
    assert model.count_params() == convolutions + dense(flat, 128) + dense(128, 10)
    assert model.output.shape == (None, 10) and batch_norm_momenta(model) == {0.9}
    assert [model.get_layer(f"h{i}").strides for i in (1, 2, 3)] == [(2, 2)] * 3


def test_lecun1989_with_the_1989_sizes():
    model = build(lenet.lecun1989, (16, 16, 1), 10, filters=(12, 12), dense_units=30)
    assert model.count_params() == (conv(25, 1, 12, bias=False) + bn(12) + conv(25, 12, 12, bias=False)
                                    + bn(12) + dense(4 * 4 * 12, 30) + dense(30, 10)) == 10_096


def test_alexnet_parameters_and_shape():
    model = build(alexnet.alexnet_cifar, (32, 32, 3), 10)
    assert model.count_params() == (conv(25, 3, 64) + conv(25, 64, 64) + conv(9, 64, 128)
                                    + dense(4 * 4 * 128, 384) + dense(384, 192) + dense(192, 10)) == 1_043_850
    assert model.output.shape == (None, 10)


def test_small_resnet_parameters_shape_and_names():
    model = build(resnet.resnet_cifar, (32, 32, 3), 10)
    identity = lambda c: 2 * (conv(9, c, c, bias=False) + bn(c))  # noqa: E731
    projected = lambda a, b: (conv(9, a, b, bias=False) + conv(9, b, b, bias=False)  # noqa: E731
                              + conv(1, a, b, bias=False) + 3 * bn(b))
    assert model.count_params() == (conv(9, 3, 32, bias=False) + bn(32) + 2 * identity(32)
                                    + projected(32, 64) + identity(64) + projected(64, 128)
                                    + identity(128) + dense(128, 10)) == 698_858
    assert model.get_layer("stage3_block2_b_bn").output.shape == (None, 8, 8, 128)
    assert {"stem", "stem_bn", "stage2_block1_a", "stage2_block1_proj_bn", "pool", "logits"} <= {
        layer.name for layer in model.layers}
    assert batch_norm_momenta(model) == {0.9}


@pytest.mark.parametrize("width, mels", [(64, 64), (8, 16)])
def test_audio_conv1d_parameters_and_shape(width, mels):
    w = width
    model = build(audio.conv1d, (40, mels), 10, width=w)
    blocks_ = [(w, w), (w, 2 * w), (2 * w, 4 * w)]
    expected = conv(5, mels, w, bias=False) + bn(w) + sum(
        conv(3, a, b, bias=False) + conv(3, b, b, bias=False) + 2 * bn(b) for a, b in blocks_)
    assert model.count_params() == expected + dense(8 * w, 10)
    assert model.get_layer("b2b_relu").output.shape == (None, 10, 4 * w)
    assert model.output.shape == (None, 10) and batch_norm_momenta(model) == {0.9}
    if width == 64:
        assert model.count_params() == 422_666


def test_audio_conv2d_parameters_and_shape():
    w = 64
    model = build(audio.conv2d, (40, 16), 10, width=w)
    blocks_ = [(1, w), (w, 2 * w), (2 * w, 4 * w)]
    assert model.count_params() == sum(
        conv(9, a, b, bias=False) + conv(9, b, b, bias=False) + 2 * bn(b) for a, b in blocks_
    ) + dense(4 * w, 10) == 1_149_514
    assert model.output.shape == (None, 10) and batch_norm_momenta(model) == {0.9}


def test_kim_cnn_parameters_shape_and_embedding_weights():
    model = build(kim.kim_cnn, (20,), 2, dtype="int64", vocabulary_size=50, embedding_dim=8,
                  kernel_sizes=(3, 4, 5), filters=6)
    assert model.count_params() == (50 * 8 + conv(3, 8, 6) + conv(4, 8, 6) + conv(5, 8, 6)
                                    + dense(3 * 6, 2))
    assert model.output.shape == (None, 2)
    vectors = np.arange(50 * 8, dtype=np.float32).reshape(50, 8)
    frozen = build(kim.kim_cnn, (20,), 2, dtype="int64", vocabulary_size=50, embedding_dim=8,
                   embedding_weights=vectors, trainable_embeddings=False)
    np.testing.assert_array_equal(frozen.get_layer("embedding").embeddings.numpy(), vectors)
    assert not frozen.get_layer("embedding").trainable
    with pytest.raises(ValueError, match="expected \\(50, 4\\)"):
        build(kim.kim_cnn, (20,), 2, dtype="int64", vocabulary_size=50, embedding_dim=4,
              embedding_weights=vectors)


def test_cnn3d_parameters_and_shape():
    model = build(cnn3d.cnn3d, (16, 16, 16, 1), 2, filters=(16, 32, 64))
    two = lambda a, b: conv(27, a, b, bias=False) + conv(27, b, b, bias=False) + 2 * bn(b)  # noqa: E731
    assert model.count_params() == (conv(27, 1, 16, bias=False) + bn(16) + two(16, 32) + two(32, 64)
                                    + dense(2 * 64, 2)) == 208_882
    assert model.get_layer("block2_relu1").output.shape == (None, 4, 4, 4, 64)
    assert model.output.shape == (None, 2) and batch_norm_momenta(model) == {0.99}
    with pytest.raises(ValueError, match="too small for 4 levels"):
        build(cnn3d.cnn3d, (4, 4, 4, 1), 2, filters=(2, 2, 2, 2))


def test_resnet3d_parameters_and_shape():
    model = build(resnet.resnet3d, (16, 16, 16, 1), 2)
    identity = lambda c: 2 * (conv(27, c, c, bias=False) + bn(c))  # noqa: E731
    projected = lambda a, b: (conv(27, a, b, bias=False) + conv(27, b, b, bias=False)  # noqa: E731
                              + conv(1, a, b, bias=False) + 3 * bn(b))
    assert model.count_params() == (conv(27, 1, 16, bias=False) + bn(16) + 2 * identity(16)
                                    + projected(16, 32) + identity(32) + projected(32, 64)
                                    + identity(64) + dense(2 * 64, 2)) == 516_978
    assert model.get_layer("level2_block1_out").output.shape == (None, 4, 4, 4, 64)
    assert model.output.shape == (None, 2) and batch_norm_momenta(model) == {0.99}


def test_unet3d_parameters_and_shape():
    model = build(unet.unet3d, (16, 16, 16, 1), 3)
    two = lambda a, b: conv(27, a, b, bias=False) + conv(27, b, b, bias=False) + 2 * bn(b)  # noqa: E731
    encoder = two(1, 16) + two(16, 32) + two(32, 64) + two(64, 128)
    decoder = sum(conv(8, 2 * w, w) + two(2 * w, w) for w in (64, 32, 16))
    assert model.count_params() == encoder + decoder + conv(1, 16, 3) == 1_402_707
    assert model.output.shape == (None, 16, 16, 16, 3) and batch_norm_momenta(model) == {0.99}


def test_a_network_survives_save_and_load(tmp_path):
    model = build(resnet.resnet_cifar, (16, 16, 3), 4, widths=(4, 8, 16), blocks=1)
    inputs = np.random.default_rng(2).uniform(size=(2, 16, 16, 3)).astype(np.float32)
    model.save(tmp_path / "resnet.keras")
    loaded = keras.saving.load_model(tmp_path / "resnet.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert type(loaded.get_layer("stage2_block1_a")) is layers.Conv2D
    np.testing.assert_allclose(loaded.predict_on_batch(inputs), model.predict_on_batch(inputs),
                               rtol=1e-5, atol=1e-5)
