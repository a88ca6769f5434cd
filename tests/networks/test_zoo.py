"""The model zoo (the registry's `zoo` entries, built by networks/zoo.py): every network's parameter count and output shape, the
`.keras` round trip, input checks, preprocessing modes, the AlphaGo policy network on boards,
the rank-generic ResNet/DenseNet and the lecture's AlexNet table. keras.applications
equivalence and weight files: test_zoo_keras_applications.py; exports: test_zoo_transfer.py."""
import functools
import math

import keras
import numpy as np
import pytest

import layers
import networks
from networks import densenet, lenet, resnet, resnet50, summary, unet

# keras.applications' count_params() (REFERENCES.md "Model zoo facts") and the lecture's
IMAGENET_COUNTS = {
    "alexnet": 62_378_344,
    "alexnet_grouped": 60_965_224,
    "vgg16": 138_357_544,
    "resnet50": 25_636_712,
    "densenet121": 8_062_504,
    "inception_v3": 23_851_784,
}
TRAINABLE = {"resnet50": 25_583_592, "densenet121": 7_978_856, "inception_v3": 23_817_352}


def lenet5_count(classes=10):
    conv = lambda k, c_in, c_out: k * k * c_in * c_out + c_out  # noqa: E731
    return conv(5, 1, 6) + conv(5, 6, 16) + conv(5, 16, 120) + 120 * 84 + 84 + 84 * classes + classes


def lecun1989_count(classes=10):
    # strided 5x5, 5x5, 3x3 convolutions without bias + batch norm (4 per channel), 2x2x128 -> 128
    convs = 25 * 1 * 32 + 25 * 32 * 64 + 9 * 64 * 128 + 4 * (32 + 64 + 128)
    return convs + 2 * 2 * 128 * 128 + 128 + 128 * classes + classes


@functools.cache
def default_model(name):
    """Each zoo network at its paper's input size, built once per test process."""
    return networks.build(name)


def direct(function, shape, classes):
    """An existing network built as its pipeline builds it, for comparison with the zoo's."""
    x = keras.Input(shape)
    return keras.Model(x, function(x, num_classes=classes))


@pytest.mark.parametrize("name", list(IMAGENET_COUNTS))
def test_imagenet_networks_have_the_published_parameter_counts(name):
    model = default_model(name)
    assert model.count_params() == IMAGENET_COUNTS[name]
    if name in TRAINABLE:
        assert sum(math.prod(w.shape) for w in model.trainable_weights) == TRAINABLE[name]
    assert model.output.shape == (None, 1000)
    assert model.input.shape == (None, *networks.get(name).input_shape)


def test_alphago_policy_counts_a_bias_per_board_point_and_predicts_moves():
    model = default_model("alphago_policy")
    # 5x5x48x192 + 192, eleven 3x3x192x192 + 192, a 1x1x192 convolution, 361 position biases
    assert model.count_params() == (25 * 48 * 192 + 192) + 11 * (9 * 192 * 192 + 192) + 192 + 361 == 3_882_793
    boards = np.random.default_rng(0).integers(0, 2, (3, 19, 19, 48)).astype("float32")
    probabilities = np.asarray(model(boards))
    assert probabilities.shape == (3, 361)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    # With a zero 1x1 convolution the move is decided by the position biases alone.
    model.get_layer("policy_conv").kernel.assign(np.zeros((1, 1, 192, 1), "float32"))
    bias = np.zeros((19, 19, 1), "float32")
    bias[3, 15] = 5.0
    model.get_layer("position_bias").bias.assign(bias)
    assert (np.argmax(np.asarray(model(boards)), axis=1) == 3 * 19 + 15).all()
    with pytest.raises(ValueError, match="361 board points"):
        networks.build("alphago_policy", num_classes=10)
    with pytest.raises(ValueError, match=r"takes \(19, 19\) inputs only"):
        networks.build("alphago_policy", input_shape=(9, 9, 48))


def test_the_suites_earlier_networks_are_reused_not_copied():
    assert default_model("lenet5").count_params() == lenet5_count()
    assert default_model("lecun1989").count_params() == lecun1989_count()
    volume = default_model("resnet3d")
    assert volume.count_params() == direct(resnet.resnet3d, (32, 32, 32, 1), 2).count_params()
    assert volume.output.shape == (None, 2)
    segmenter = default_model("unet3d")
    assert segmenter.count_params() == direct(unet.unet3d, (32, 32, 32, 1), 3).count_params()
    assert segmenter.output.shape == (None, 32, 32, 32, 3)
    # Without the top: the features the head reads.
    assert networks.build("lenet5", include_top=False).output.shape == (None, 1, 1, 120)
    assert networks.build("lecun1989", include_top=False).output.shape == (None, 2, 2, 128)
    assert networks.build("unet3d", include_top=False).output.shape == (None, 32, 32, 32, 16)


def test_every_network_is_built_from_our_convolution_and_pooling():
    ours = tuple(getattr(layers, name) for name in layers.__all__ if name[0].isupper())
    for name in networks.names(zoo=True):
        for layer in default_model(name).layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.MaxPooling2D,
                                  keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D,
                                  keras.layers.MaxPooling3D, keras.layers.Conv3DTranspose,
                                  keras.layers.GlobalAveragePooling3D, keras.layers.GlobalMaxPooling3D)):
                assert isinstance(layer, ours), f"{name}: {layer.name} is {type(layer).__name__} from Keras"


BUILT_AT_MINIMUM = {  # the smallest inputs each network takes without its top (the four
    # keras.applications families are built at theirs in test_zoo_keras_applications.py)
    "lecun1989": (5, 5, 1), "lenet5": (28, 28, 1), "alexnet_grouped": (67, 67, 3), "resnet3d": (5, 5, 5, 1),
    "unet3d": (8, 8, 8, 1),
}
MINIMUM = {**{name: shape[0] for name, shape in BUILT_AT_MINIMUM.items()}, "alexnet": 67, "vgg16": 32,
           "resnet50": 32, "densenet121": 32, "inception_v3": 75}


@pytest.mark.parametrize("name", list(MINIMUM))
def test_the_minimum_input_size_builds_and_one_less_is_a_clear_error(name):
    entry = networks.get(name)
    assert entry.min_size == MINIMUM[name]
    if name in BUILT_AT_MINIMUM:
        model = networks.build(name, input_shape=BUILT_AT_MINIMUM[name], include_top=False)
        assert all(size >= 1 for size in model.output.shape[1:])
    smaller = (MINIMUM[name] - 1,) * entry.rank + entry.input_shape[-1:]
    with pytest.raises(ValueError, match=f"network {name} needs inputs of at least {MINIMUM[name]} per side"):
        networks.build(name, input_shape=smaller, include_top=False)


def test_unknown_names_and_wrong_ranks_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown network 'resnet51' \(known: lecun1989, .*unet3d\)"):
        networks.build("resnet51")
    with pytest.raises(ValueError, match=r"network vgg16 takes inputs of shape \(224, 224, 3\)"):
        networks.build("vgg16", input_shape=(32, 32, 32, 3))
    assert networks.names(rank=3, zoo=True) == ("resnet3d", "unet3d")
    assert networks.names(rank=3) == ("cnn3d", "resnet3d", "unet3d")


ROUND_TRIP = {  # reduced inputs and 3 classes (the four keras.applications families: in
    # test_zoo_keras_applications.py, with the models built there)
    "lecun1989": (16, 16, 1), "lenet5": (28, 28, 1), "alexnet_grouped": (67, 67, 3), "alphago_policy": (19, 19, 48), "resnet3d": (8, 8, 8, 1), "unet3d": (8, 8, 8, 1),
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_keras_file_round_trip_keeps_layers_weights_and_predictions(name, tmp_path):
    classes = 361 if name == "alphago_policy" else 3
    model = networks.build(name, input_shape=ROUND_TRIP[name], num_classes=classes)
    x = np.random.default_rng(1).uniform(0, 1, (2, *ROUND_TRIP[name])).astype("float32")
    expected = np.asarray(model(x))
    model.save(tmp_path / f"{name}.keras")
    loaded = keras.models.load_model(tmp_path / f"{name}.keras")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-6)


def test_rank_generic_resnet_and_densenet_build_in_1d_and_3d():
    for shape, rank in (((64, 2), 1), ((32, 32, 32, 1), 3)):
        x = keras.Input(shape)
        for body in (resnet50.resnet_v1(x, (1, 1, 1, 1), num_classes=4), densenet.densenet(x, (1, 2), num_classes=4)):
            model = keras.Model(x, body)
            convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D
                                                                  | keras.layers.Conv3D)]
            assert convs and all(type(layer) is layers.conv_layer(rank) for layer in convs)
            assert model.output.shape == (None, 4)
    # the 3D bottleneck: 1x1x1, 3x3x3, 1x1x1 convolutions (with bias) + batch norms, projection
    x = keras.Input((8, 8, 8, 16))
    block = keras.Model(x, resnet50.bottleneck_block(x, 4, name="b"))
    bn = lambda c: 4 * c  # noqa: E731
    assert block.count_params() == (16 * 4 + 4 + bn(4)) + (27 * 4 * 4 + 4 + bn(4)) + (4 * 16 + 16 + bn(16)) \
        + (16 * 16 + 16 + bn(16))


@pytest.mark.parametrize("name, mode", [("vgg16", "caffe"), ("resnet50", "caffe"), ("densenet121", "torch"),
                                        ("inception_v3", "tf")])
def test_preprocess_input_is_keras_applications(name, mode):
    pixels = np.random.default_rng(2).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    reference = {"VGG16": keras.applications.vgg16, "ResNet50": keras.applications.resnet50,
                 "DenseNet121": keras.applications.densenet,
                 "InceptionV3": keras.applications.inception_v3}[networks.get(name).keras_application]
    assert networks.get(name).preprocessing == mode
    np.testing.assert_allclose(networks.preprocess_input(name, pixels),
                               reference.preprocess_input(pixels.copy()), rtol=1e-6, atol=1e-5)
    as_tensor = networks.preprocess_input(name, keras.ops.convert_to_tensor(pixels))
    np.testing.assert_allclose(np.asarray(as_tensor), reference.preprocess_input(pixels.copy()), atol=1e-5)


def test_alexnet_table_has_the_lectures_totals():
    data = summary.table(default_model("alexnet"))
    totals = data["totals"]
    assert totals["weights"] == 62_378_344 and summary.millions(totals["weights"]) == "62.37 M"
    rows = {row["name"]: row for row in data["rows"]}
    assert rows["conv1"]["output_shape"] == [55, 55, 96] and rows["conv1"]["memory_values"] == 290_400
    assert rows["conv1"]["memory_bytes"] == 4 * 290_400
    assert rows["conv1"]["multiply_adds"] == 55 * 55 * 11 * 11 * 3 * 96
    assert rows["fc6"]["weights"] == 6 * 6 * 256 * 4096 + 4096
    assert rows["pool5"]["output_shape"] == [6, 6, 256]
    assert totals["memory_values"] == sum(row["memory_values"] for row in data["rows"])
    grouped = {row["name"]: row for row in summary.table(default_model("alexnet_grouped"))["rows"]}
    assert grouped["conv2"]["multiply_adds"] == rows["conv2"]["multiply_adds"] // 2
    assert grouped["conv2"]["weights"] == 5 * 5 * 48 * 256 + 256
    text = "\n".join(summary.format_table(data))
    assert "weights 62.37 M" in text and "62,378,344" in text
