"""The explanation methods on a trained digits model: the maps point at what matters (deletion
test), depend on the class asked about, and come from our hand-written gradients exactly as
they would from keras.layers."""
import keras
import numpy as np
import pytest

from explain_runs import trained_digits
from analysis.explanations import explainer as explaining
from analysis.explanations import methods
from analysis.explanations import stages as splits


@pytest.fixture(scope="module")
def digits():
    pipeline, run = trained_digits()
    test = run.splits.test
    inputs, labels = next(iter(pipeline.input_dataset(test.take(np.arange(64)), 64)))
    return pipeline, run, np.asarray(inputs, np.float32), np.asarray(labels)


def _deleted(images, order, fraction=0.1):
    """Copies of images (N, H, W, 1) with the first `fraction` of pixels of each `order` set to 0."""
    count = int(round(fraction * images[0].size))
    flat = images.reshape(len(images), -1).copy()
    np.put_along_axis(flat, order[:, :count], 0.0, axis=1)
    return flat.reshape(images.shape)


@pytest.mark.parametrize("method", ["saliency", "integrated-gradients"])
def test_deleting_the_most_important_pixels_hurts_more_than_random_ones(digits, method):
    pipeline, run, images, _ = digits
    assert run.metrics["accuracy"] > 0.75  # a model that has learned digits
    explainer = explaining.for_model(run.model, pipeline)
    probabilities = explainer.probabilities(images)
    predicted = probabilities.argmax(-1)
    maps = explainer.maps(images, method, predicted)
    assert maps.shape == images.shape[:-1]
    important = np.argsort(-maps.reshape(len(maps), -1), axis=1, kind="stable")
    random = np.random.default_rng(0).permuted(np.tile(np.arange(important.shape[1]), (len(maps), 1)), axis=1)
    rows = np.arange(len(images))

    def drop(order):
        after = explainer.probabilities(_deleted(images, order))
        return float((probabilities[rows, predicted] - after[rows, predicted]).mean())

    assert drop(important) > drop(random) + 0.05, (drop(important), drop(random))


def test_maps_for_two_classes_differ(digits):
    pipeline, run, images, labels = digits
    explainer = explaining.for_model(run.model, pipeline)
    for method in ("saliency", "gradcam", "smoothgrad"):
        first, second = (explainer.maps(images[:1], method, c)[0] for c in (int(labels[0]), (int(labels[0]) + 1) % 10))
        assert first.shape == second.shape == images.shape[1:3]
        assert np.abs(first - second).max() > 0.05 * max(first.max(), second.max()), method


def _with_keras_layers(model):
    """The same network with keras.layers' Conv2D in place of ours, weights copied."""
    config = model.get_config()
    for layer in config["layers"]:
        if str(layer.get("registered_name") or "").startswith("cnn_suite>"):
            layer["module"], layer["registered_name"] = "keras.layers", None
    twin = keras.Model.from_config(config)
    twin.set_weights(model.get_weights())
    return twin


def test_maps_of_our_layers_equal_those_of_keras_layers(digits):
    pipeline, run, images, _ = digits
    twin = _with_keras_layers(run.model)
    assert {type(layer).__module__.split(".")[0] for layer in twin.layers if "Conv" in type(layer).__name__} == {"keras"}
    ours, theirs = explaining.for_model(run.model, pipeline), explaining.for_model(twin, pipeline)
    batch = images[:8]
    for method in ("saliency", "gradcam", "integrated-gradients"):
        a, b = ours.maps(batch, method, 3), theirs.maps(batch, method, 3)
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(b).max()), method
        assert np.abs(b).max() > 0


def test_integrated_gradients_add_up_to_the_score_difference(digits):
    """Completeness: the attributions sum to p(x) - p(0) (Riemann sum, 128 steps)."""
    pipeline, run, images, labels = digits
    explainer = explaining.for_model(run.model, pipeline)
    x = images[:1]
    target = int(labels[0])
    path = (np.arange(128, dtype=np.float32)[:, None, None, None] + 0.5) / 128 * x
    grads = np.asarray(methods.gradients(explainer.head, path, target)).mean(0)
    total = float((x[0] * grads).sum())
    p = explainer.probabilities(np.concatenate([x, np.zeros_like(x)]))[:, target]
    assert total == pytest.approx(p[0] - p[1], abs=0.02)


def test_gradcam_is_cut_from_the_functional_graph_with_preprocessing_inside(digits):
    pipeline, run, images, _ = digits
    stage, name = splits.conv_stage(run.model)
    assert name == splits.default_stage(run.model) == splits.convolution_stages(run.model)[1]
    assert tuple(run.model.get_layer(name).output.shape[1:3]) == (4, 4)  # not the last stage, 2x2
    assert isinstance(run.model.get_layer("resize"), keras.layers.Resizing)  # in-graph preprocessing
    activations, probabilities = stage(images[:2])
    assert np.allclose(probabilities, run.model(images[:2], training=False), atol=1e-6)
    # any input size: the Resizing layer is part of the cut, so a 40x40 image works too
    big = np.asarray(keras.ops.image.resize(images[:1], (40, 40)))
    assert explaining.for_model(run.model, pipeline).maps(big, "gradcam", 0).shape == (1, 40, 40)


def test_resize_interpolates_leading_axes_and_broadcasts_the_rest():
    cam = np.array([[0.0, 1.0]], np.float32)  # (B=1, T=2)
    out = methods.resize(cam, (4, 3))
    assert out.shape == (1, 4, 3)
    assert np.allclose(out[0, :, 0], out[0, :, 2]) and out[0, 0, 0] < out[0, -1, 0]
