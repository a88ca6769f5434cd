"""serving.signatures on models with hand-set weights (what they answer is known): the names,
dtypes and outputs of each signature, labels looked up in class order, raw float32 bytes read
little-endian in C order and checked in size, image bytes decoded as the pixels, and `caller`
casting a batch to the signature's dtype. Small enough to run for each mutant of `make mutate`."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from factories import make_pipeline
from fixed_models import halves_classifier, halves_probabilities, mean_pixel_classifier
from pipelines.core.base import Pipeline
from serving import signatures

SHAPE = (4, 2, 3)  # not a cube: a transposed volume would be another one
VOLUME_NAMES = ["lower", "upper"]
DIGIT_NAMES = [f"class {c}" for c in range(10)]


# The exports are made in each test, not once per module: the graph traces `write_archive` and
# `_decode_raw` once, so only the test that exports calls them in Python, and mutation testing
# (make mutate) runs for a mutant only the tests that called the mutated function.
def _write(model, pipeline, class_names, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    signatures.write_archive(model, pipeline, class_names, tmp_path / "model", scratch)
    assert (scratch / "class_names.txt").read_text() == "".join(f"{name}\n" for name in class_names)
    return tf.saved_model.load(str(tmp_path / "model"))


@pytest.fixture
def volumes(tmp_path):
    pipeline = make_pipeline("volumes", "shape=" + ",".join(map(str, SHAPE)))
    return _write(halves_classifier(SHAPE, scale=0.005), pipeline, VOLUME_NAMES, tmp_path)


@pytest.fixture
def digits(tmp_path):
    pipeline = make_pipeline("digits", "image_size=8")
    return _write(mean_pixel_classifier(), pipeline, DIGIT_NAMES, tmp_path)


def _volumes(count):
    """(count, *SHAPE) float32, each voxel its own value, the upper and lower half told apart."""
    base = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 11.5
    return np.stack([base * (1 if i % 2 else -1) + i for i in range(count)])


def _inputs(function):
    return {k: (v.dtype, v.shape.as_list()) for k, v in function.structured_input_signature[1].items()}


def test_volume_signatures_answer_with_probabilities_class_and_label(volumes):
    assert set(volumes.signatures) == {"serving_default", "volume_bytes"}
    default = volumes.signatures["serving_default"]
    assert _inputs(default) == {"volume": (tf.float32, [None, *SHAPE, 1])}
    batch = _volumes(3)
    outputs = default(volume=tf.constant(batch[..., None]))
    expected = halves_probabilities(batch, scale=0.005)
    assert 0.05 < expected.min() and expected.max() < 0.95  # not saturated: each example tells
    assert outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs["class_id"].numpy(), expected.argmax(-1))
    assert outputs["class_id"].dtype == tf.int32
    assert [label.decode() for label in outputs["label"].numpy()] == [VOLUME_NAMES[c] for c in expected.argmax(-1)]


def test_raw_bytes_are_little_endian_float32_in_c_order_and_checked_in_size(volumes):
    function = volumes.signatures["volume_bytes"]
    assert _inputs(function) == {"volume_bytes": (tf.string, [None])}
    batch = _volumes(2)
    data = [volume.astype("<f4").tobytes(order="C") for volume in batch]
    outputs = function(volume_bytes=tf.constant(data))
    expected = volumes.signatures["serving_default"](volume=tf.constant(batch[..., None]))
    assert set(outputs) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(outputs[key].numpy(), expected[key].numpy())
    size = int(np.prod(SHAPE)) * 4
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"each element must be {size} bytes: raw little-endian float32, C order of shape "
                             rf"\[4, 2, 3, 1\]"):
        function(volume_bytes=tf.constant([data[0] + b"\0\0\0\0"]))


def test_image_bytes_decode_to_the_pixels_of_serving_default(digits):
    assert set(digits.signatures) == {"serving_default", "image_bytes"}
    assert _inputs(digits.signatures["image_bytes"]) == {"image_bytes": (tf.string, [None])}
    levels = [np.full((8, 8), 30, np.uint8), np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))]
    files = []
    for pixels in levels:
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(buffer, "PNG")
        files.append(buffer.getvalue())
    outputs = digits.signatures["image_bytes"](image_bytes=tf.constant(files))
    expected = digits.signatures["serving_default"](image=tf.constant(np.stack(levels)[..., None], tf.float32))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected["probabilities"].numpy(), rtol=1e-6)
    assert outputs["label"].numpy().tolist() == expected["label"].numpy().tolist()
    assert outputs["label"].numpy()[0].decode() == DIGIT_NAMES[int(expected["class_id"][0])]


class _Counts:
    """A pipeline serving int32 counts (3,): no file decoder, no fixed float shape, so no bytes
    signature; its outputs are the framework's."""

    input_name = "counts"
    serving_outputs = Pipeline.serving_outputs

    def has_bytes_input(self):
        return False

    def input_spec(self):
        return tf.TensorSpec((3,), tf.int32)


def test_serving_default_takes_the_pipelines_dtype(tmp_path, capsys):
    import keras

    inputs = keras.Input((3,), dtype="int32", name="counts")
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, keras.layers.Softmax()(dense(keras.ops.cast(inputs, "float32"))))
    dense.set_weights([np.array([[0.1, -0.1], [0.0, 0.0], [0.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    loaded = _write(model, _Counts(), ["few", "many"], tmp_path)
    assert capsys.readouterr().out == ""  # the export prints nothing of its own
    assert set(loaded.signatures) == {"serving_default"}
    assert _inputs(loaded.signatures["serving_default"]) == {"counts": (tf.int32, [None, 3])}
    outputs = loaded.signatures["serving_default"](counts=tf.constant([[5, 0, 0], [-5, 9, 9]], tf.int32))
    assert [label.decode() for label in outputs["label"].numpy()] == ["few", "many"]


def test_the_export_predicts_in_inference_mode_and_a_class_without_a_name_has_an_empty_label(tmp_path):
    import keras

    inputs = keras.Input((None, None, 1), name="image")
    dense = keras.layers.Dense(3)
    pooled = keras.layers.Dropout(0.5)(keras.layers.GlobalAveragePooling2D()(inputs))  # training only
    model = keras.Model(inputs, keras.layers.Softmax()(dense(pooled)))
    dense.set_weights([np.array([[-0.01, 0.0, 0.01]], np.float32), np.zeros(3, np.float32)])
    loaded = _write(model, make_pipeline("digits", "image_size=8"), ["a", "b"], tmp_path)  # 3 classes, 2 names
    outputs = loaded.signatures["serving_default"](image=tf.fill((1, 8, 8, 1), 50.0))
    logits = np.array([-0.5, 0.0, 0.5])
    np.testing.assert_allclose(outputs["probabilities"].numpy()[0], np.exp(logits) / np.exp(logits).sum(), rtol=1e-5)
    assert outputs["class_id"].numpy().tolist() == [2] and outputs["label"].numpy().tolist() == [b""]


def test_caller_casts_the_batch_to_the_signatures_dtype(volumes):
    call = signatures.caller(volumes, "volume")
    batch = _volumes(2)[..., None].astype(np.float64)  # the signature takes float32
    outputs = call(batch)
    assert isinstance(outputs["probabilities"], np.ndarray)
    np.testing.assert_allclose(outputs["probabilities"], halves_probabilities(batch[..., 0], 0.005), rtol=1e-5)
    raw = signatures.caller(volumes, "volume_bytes", "volume_bytes")
    assert raw(np.array([v.astype("<f4").tobytes() for v in _volumes(2)]))["class_id"].tolist() == \
        outputs["class_id"].tolist()


class _Spec:
    """A pipeline as `bytes_input` sees it: whether it decodes files, and its served input."""

    def __init__(self, decodes, spec):
        self.decodes, self.spec = decodes, spec

    def has_bytes_input(self):
        return self.decodes

    def input_spec(self):
        return self.spec


@pytest.mark.parametrize("decodes, spec, reader", [
    (True, tf.TensorSpec((None, None, 1), tf.float32), "decode_bytes"),
    (False, tf.TensorSpec((4, 2, 3, 1), tf.float32), signatures.RAW_BYTES),
    (False, tf.TensorSpec((4, 2, 3, 1), tf.float16), signatures.RAW_BYTES),
    (False, tf.TensorSpec((None, 3), tf.float32), None),  # a size the bytes cannot tell
    (False, tf.TensorSpec((4, 3), tf.int32), None),
    (False, tf.TensorSpec((), tf.string), None),  # text: {"b64": ...} goes to the input itself
])
def test_bytes_input_names_how_the_bytes_signature_reads(decodes, spec, reader):
    assert signatures.bytes_input(_Spec(decodes, spec)) == reader
