"""The zoo's VGG16, ResNet50, DenseNet121 and InceptionV3 against keras.applications: same
layers, names and weight order, so both kinds of weight file load (a `.weights.h5` saved from
the keras.applications model, and the legacy `.h5` format of its ImageNet downloads, written
here offline from a seeded random model), and then the same predictions within 1e-4.
Reduced inputs (the smallest each family takes) keep it fast."""
import functools

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import networks
from networks import weights as weight_files

FAMILIES = {  # zoo name: (keras.applications model, reduced input, its last feature layer)
    "vgg16": (keras.applications.VGG16, (32, 32, 3), "block5_pool"),
    "resnet50": (keras.applications.ResNet50, (32, 32, 3), "conv5_block3_out"),
    "densenet121": (keras.applications.DenseNet121, (32, 32, 3), "relu"),
    "inception_v3": (keras.applications.InceptionV3, (75, 75, 3), "mixed10"),
}
WITHOUT_TOP = {"vgg16": 14_714_688, "resnet50": 23_587_712, "densenet121": 7_037_504,
               "inception_v3": 21_802_784}  # REFERENCES.md, "Model zoo facts"
CLASSES = 10


def randomise_batch_norm(model, rng):
    """Moving statistics and affine weights away from 0/1, so inference-mode batch norm counts."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") if "variance" in w.path
                               or "gamma" in w.path else rng.normal(0, 0.1, w.shape).astype("float32")
                               for w in layer.weights])


@functools.cache
def family(name, folder):
    """(keras.applications model with seeded random weights, its .weights.h5, its legacy .h5,
    a batch of preprocessed images)."""
    application, shape, _ = FAMILIES[name]
    keras.utils.set_random_seed(7)
    reference = application(weights=None, input_shape=shape, classes=CLASSES)
    randomise_batch_norm(reference, np.random.default_rng(7))
    keras_file, legacy_file = folder / f"{name}.weights.h5", folder / f"{name}_legacy.h5"
    reference.save_weights(keras_file)
    with h5py.File(legacy_file, "w") as store:  # the format keras.applications downloads
        legacy_h5_format.save_weights_to_hdf5_group(store, reference)
    images = np.random.default_rng(8).uniform(0, 255, (2, *shape)).astype("float32")
    return reference, keras_file, legacy_file, networks.preprocess_input(name, images)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("keras-applications")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_same_layers_and_predictions_from_both_weight_files(name, folder):
    reference, keras_file, legacy_file, images = family(name, folder)
    ours = networks.build(name, input_shape=FAMILIES[name][1], num_classes=CLASSES, weights=keras_file)
    weighted = lambda model: [layer for layer in model.layers if layer.weights]  # noqa: E731
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in reference.layers]
    if name != "inception_v3":  # Keras names InceptionV3's layers automatically (per process)
        assert [layer.name for layer in weighted(ours)] == [layer.name for layer in weighted(reference)]
    assert [[w.shape for w in layer.weights] for layer in weighted(ours)] == \
        [[w.shape for w in layer.weights] for layer in weighted(reference)]
    expected = np.asarray(reference(images))
    np.testing.assert_allclose(np.asarray(ours(images)), expected, atol=1e-4)
    # The legacy ImageNet format: erase, load, predict again.
    ours.set_weights([np.zeros(w.shape, "float32") for w in ours.weights])
    weight_files.load(ours, legacy_file)
    np.testing.assert_allclose(np.asarray(ours(images)), expected, atol=1e-4)


def test_keras_file_round_trip_keeps_every_class_and_weight(folder, tmp_path):
    """One family: every network saves through the same layer classes, and a round trip of each
    would cost as much as the comparisons above."""
    _, keras_file, _, images = family("resnet50", folder)
    ours = networks.build("resnet50", input_shape=FAMILIES["resnet50"][1], num_classes=CLASSES, weights=keras_file)
    ours.save(tmp_path / "resnet50.keras")
    loaded = keras.models.load_model(tmp_path / "resnet50.keras")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in ours.layers]
    for saved, restored in zip(ours.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(ours(images)), atol=1e-5)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_files_with_the_top_load_into_the_network_without_it(name, folder):
    reference, keras_file, legacy_file, images = family(name, folder)
    features = keras.Model(reference.input, reference.get_layer(FAMILIES[name][2]).output)
    expected = np.asarray(features(images))
    for weights in (legacy_file, keras_file):
        ours = networks.build(name, input_shape=FAMILIES[name][1], include_top=False, weights=weights)
        assert ours.count_params() == WITHOUT_TOP[name]
        got = np.asarray(ours(images))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
        if name != "vgg16":
            break  # one file kind suffices for the rest: both read through the same layer order


def test_unusable_weight_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file .*missing.h5: no such file"):
        networks.build("lenet5", weights=tmp_path / "missing.h5")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"notes.txt: expected a \.weights\.h5 or \.h5 file"):
        networks.build("lenet5", weights=tmp_path / "notes.txt")
    (tmp_path / "fake.h5").write_text("not HDF5")
    with pytest.raises(ValueError, match="fake.h5: not an HDF5 weights file"):
        networks.build("lenet5", weights=tmp_path / "fake.h5")
    networks.build("lenet5", include_top=False).save_weights(tmp_path / "features.weights.h5")
    with pytest.raises(ValueError, match="does not fit network lenet5: no weights for layer f6"):
        networks.build("lenet5", weights=tmp_path / "features.weights.h5")
    networks.build("lecun1989", input_shape=(28, 28, 1)).save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(ValueError, match=r"does not fit network lenet5: layer c1 has weights \[\(5, 5, 1, 6\)"):
        networks.build("lenet5", weights=tmp_path / "other.weights.h5")
