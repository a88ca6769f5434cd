"""LiteRT and ONNX files ship the runtime's own convolution and pooling (serving/formats/native.py):
the objects network's file has one Conv node per convolution layer and none of the Gather +
MatMul graph our layers trace to (in every --quantize mode); a layer of ours without a
keras.layers reference stays ours, still exports, and is named in one line and in the metadata;
a twin that differs from ours is refused. Objects at 16x16, width 4, untrained (seeded)."""
import collections
import json

import numpy as np
import pytest

import tflite_graph
from factories import make_pipeline
from serving_exports import TINY

FLOAT_TOLERANCE = 1e-4  # tests/serving/test_formats.py's: the file against model.keras
EXAMPLES = 16
# the im2col / shifted-rows graph of our layers: Gather + (Batch)MatMul; a Conv node instead in the twin's
OURS_ONLY = {"onnx": {"Gather"}, "litert": {"GATHER", "BATCH_MATMUL", "GATHER_ND"}}
CONV = {"onnx": "Conv", "litert": "CONV_2D"}
POOL = {"onnx": "GlobalAveragePool", "litert": "MEAN"}


def op_counts(path):
    """{op name: nodes} of the model file in export folder `path` (ONNX node types, LiteRT builtins)."""
    if (path / "model.onnx").is_file():
        import onnx

        return collections.Counter(node.op_type for node in onnx.load(str(path / "model.onnx")).graph.node)
    return collections.Counter(name for name, _ in tflite_graph.operators(path))


@pytest.fixture(scope="module")
def objects():
    """(pipeline, seeded model, class names, served training inputs)."""
    import keras

    from pipelines.core import sources
    from serving import warmup

    pipeline = make_pipeline("objects", *TINY["objects"])
    splits = sources.load_splits(pipeline, "bundled")
    keras.utils.set_random_seed(0)
    model = pipeline.build_model(len(splits.class_names))
    return pipeline, model, list(splits.class_names), warmup.served_examples(pipeline, splits.train, EXAMPLES)


@pytest.mark.parametrize("format,quantize", [("onnx", "none"), ("litert", "none"), ("litert", "dynamic"),
                                             ("litert", "float16"), ("litert", "int8")])
def test_the_file_runs_the_runtimes_own_convolution_and_pooling(objects, tmp_path, format, quantize):
    import layers
    from serving import formats

    pipeline, model, class_names, inputs = objects
    path = formats.export(model, pipeline, class_names, tmp_path, format, quantize, representative=inputs)
    convolutions = sum(isinstance(layer, layers.Conv2D) for layer in model.layers)
    assert convolutions >= 10 and any(isinstance(layer, layers.GlobalAveragePooling2D) for layer in model.layers)
    ops = op_counts(path)
    assert ops[CONV[format]] == convolutions and ops[POOL[format]] == 1
    assert not OURS_ONLY[format] & set(ops), ops
    kernels = json.loads((path / "cnn_suite.json").read_text())["kernels"]
    assert kernels["native"] == {"Conv2D": convolutions, "GlobalAveragePooling2D": 1} and kernels["ours"] == []
    assert 0 <= kernels["checked_max_difference"] <= FLOAT_TOLERANCE


def test_our_layers_trace_to_the_graph_the_twin_avoids(objects):
    """The other side of the test above: converted as it is, our network has no Conv node."""
    from serving import formats
    import onnx

    pipeline, model, _, _ = objects
    ops = collections.Counter(node.op_type for node in onnx.ModelProto.FromString(
        formats.convert(model, pipeline, "onnx")).graph.node)
    assert ops["Conv"] == 0 and ops["Gather"] > 0


def scale_layer():
    """A user's hand-written layer: per-channel scale, no keras.layers reference."""
    import tensorflow as tf

    from layers.base import HandWrittenLayer

    class Scale(HandWrittenLayer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def forward(self, inputs, scale):
            return inputs * scale, (inputs, scale)

        def backward(self, grad, saved):
            inputs, scale = saved
            return grad * scale, tf.reduce_sum(grad * inputs, axis=tuple(range(len(inputs.shape) - 1)))

    return Scale


def model_with(scale_class, pipeline, classes):
    """Raw image -> resize, scale -> our Conv2D -> the user's layer -> our global pooling -> softmax."""
    import keras

    import layers

    spec = pipeline.input_spec()
    inputs = keras.Input(spec.shape, name=pipeline.input_name)
    x = keras.layers.Resizing(16, 16)(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    x = layers.Conv2D(4, 3, padding="same", name="conv")(x)
    x = scale_class(name="gate")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    model.get_layer("gate").scale.assign(np.linspace(0.5, 2.0, 4))
    return model


@pytest.mark.parametrize("registered", [True, False])
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_a_layer_without_a_keras_reference_stays_ours_and_is_named(objects, tmp_path, monkeypatch, caplog,
                                                                     registered, format):
    import keras

    from layers import registry
    from serving import formats
    from serving.formats import runtime

    pipeline, _, class_names, inputs = objects
    scale = scale_layer()
    if registered:  # registered for gradcheck, without a reference
        monkeypatch.setitem(registry._REGISTRY, "Scale", registry.LayerEntry(
            "Scale", scale, [registry.Case({}, (1, 3, 3, 2))]))
    keras.utils.set_random_seed(1)
    model = model_with(scale, pipeline, len(class_names))
    with caplog.at_level("WARNING", logger="serving.formats.native"):
        path = formats.export(model, pipeline, class_names, tmp_path, format, representative=inputs)
    np.testing.assert_allclose(runtime.Export(path)(inputs), model(inputs, training=False), atol=FLOAT_TOLERANCE,
                               rtol=0)
    # the export's own line (the converters log warnings of their own, e.g. tf2onnx's, depending on
    # what earlier tests set their loggers to)
    (line,) = [record.getMessage() for record in caplog.records if record.name == "serving.formats.native"]
    assert "\n" not in line and line.startswith("objects: gate (Scale) stay our layers")
    kernels = json.loads((path / "cnn_suite.json").read_text())["kernels"]
    assert kernels["ours"] == ["gate (Scale)"] and kernels["native"] == {"Conv2D": 1, "GlobalAveragePooling2D": 1}
    assert op_counts(path)[CONV[format]] == 1


def test_a_twin_that_differs_from_ours_is_refused_and_nothing_is_written(objects, tmp_path, monkeypatch):
    import dataclasses

    import keras

    from layers import registry
    from serving import formats

    pipeline, model, class_names, inputs = objects
    entry = registry.get("Conv2D")
    wrong = dataclasses.replace(entry, reference=lambda config: keras.layers.Conv2D(**{**config, "activation": "relu"}))
    monkeypatch.setitem(registry._REGISTRY, "Conv2D", wrong)
    with pytest.raises(formats.Refused) as refused:
        formats.export(model, pipeline, class_names, tmp_path, "onnx", representative=inputs)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("objects: the network of the runtime's own convolution")
    assert "saved_model" in message
    assert not any(tmp_path.rglob("model.onnx"))


# (input shape, pool_size, strides, padding): odd sizes, non-cubic windows and strides, windows
# that do not tile the volume, SAME padding on every axis
POOL3D_CASES = [((2, 7, 9, 5, 3), (3, 2, 1), (2, 3, 1), "same"), ((2, 7, 9, 5, 3), (3, 2, 2), (2, 1, 2), "valid"),
                ((1, 5, 5, 5, 2), (2, 2, 2), (2, 2, 2), "same"), ((1, 6, 4, 8, 1), (1, 3, 2), (1, 2, 3), "same"),
                ((3, 9, 6, 7, 4), (3, 3, 3), (1, 1, 1), "same"), ((2, 8, 8, 8, 2), (2, 3, 4), (2, 3, 4), "valid")]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape,pool_size,strides,padding", POOL3D_CASES)
def test_3d_pooling_by_2d_poolings_equals_tensorflows_and_ours(mode, shape, pool_size, strides, padding):
    """LiteRT's twin of our 3D pooling (serving/formats/pool3d.py): a 2D pooling over (H, W), then
    one over D. Max is exact; average up to float rounding, SAME padding's counts included."""
    import tensorflow as tf

    import layers
    from serving.formats import pool3d

    x = np.random.default_rng(0).uniform(-1, 3, shape).astype(np.float32)
    reference = {"max": tf.nn.max_pool3d, "average": tf.nn.avg_pool3d}[mode](x, pool_size, strides, padding.upper())
    ours = {"max": layers.MaxPooling3D, "average": layers.AveragePooling3D}[mode](pool_size, strides, padding)(x)
    twin_class = {"max": pool3d.MaxPooling3DBy2D, "average": pool3d.AveragePooling3DBy2D}[mode]
    twin = twin_class(pool_size, strides, padding)(x)
    assert twin.shape == reference.shape == ours.shape
    if mode == "max":
        np.testing.assert_array_equal(twin, reference)
        np.testing.assert_array_equal(twin, ours)
    else:
        np.testing.assert_allclose(twin, reference, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(twin, ours, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["max", "average"])
def test_3d_pooling_by_2d_poolings_takes_channels_first(mode):
    import layers
    from serving.formats import pool3d

    x = np.random.default_rng(1).uniform(-1, 3, (2, 3, 7, 6, 5)).astype(np.float32)  # (N, C, D, H, W)
    config = dict(pool_size=(3, 2, 2), strides=(2, 2, 1), padding="same", data_format="channels_first")
    ours = {"max": layers.MaxPooling3D, "average": layers.AveragePooling3D}[mode](**config)(x)
    twin = {"max": pool3d.MaxPooling3DBy2D, "average": pool3d.AveragePooling3DBy2D}[mode](**config)(x)
    assert twin.shape == ours.shape == (2, 3, 4, 3, 5)
    np.testing.assert_allclose(twin, ours, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_3d_pooling_goes_to_litert_as_2d_pooling_builtins(tmp_path, quantize):
    """The twin converts to MAX_POOL_2D and AVERAGE_POOL_2D (no Flex op, nothing above 5-D for
    int8's kernels), and LiteRT's kernels give TensorFlow's 3D pooling."""
    import tensorflow as tf

    from serving.formats import pool3d
    from serving.formats import runtime

    shape, pool_size, strides, _ = POOL3D_CASES[0]
    x = np.random.default_rng(2).uniform(0, 1, (40, *shape[1:])).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec((None, *shape[1:]), tf.float32)])
    def pooled(volume):
        maximum = pool3d.pool3d_by_2d(volume, "max", pool_size, strides, "same")
        return {"max": maximum, "average": pool3d.pool3d_by_2d(maximum, "average", (2, 3, 2), (1, 2, 2), "valid")}

    module = tf.Module()
    module.pooled = pooled
    converter = tf.lite.TFLiteConverter.from_concrete_functions([pooled.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
    (tmp_path / "model.tflite").write_bytes(converter.convert())
    ops = op_counts(tmp_path)
    assert ops["MAX_POOL_2D"] == 2 and ops["AVERAGE_POOL_2D"] == 2, ops
    assert set(ops) <= {"RESHAPE", "MAX_POOL_2D", "AVERAGE_POOL_2D", "QUANTIZE", "DEQUANTIZE"}, ops
    runner = runtime.litert_interpreter(tmp_path / "model.tflite").get_signature_runner()
    got = runner(volume=x[:4])
    maximum = tf.nn.max_pool3d(x[:4], pool_size, strides, "SAME")
    expected = {"max": maximum, "average": tf.nn.avg_pool3d(maximum, (2, 3, 2), (1, 2, 2), "VALID")}
    tolerance = 1e-6 if quantize == "none" else 2 / 255  # int8: within two steps of the [0, 1] range
    for output in expected:
        np.testing.assert_allclose(got[output], expected[output], atol=tolerance, rtol=0)
