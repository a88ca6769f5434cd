"""LiteRT and ONNX files ship the runtime's own convolution and pooling (serving/formats/native.py):
the objects network's file has one Conv node per convolution layer and none of the Gather +
MatMul graph our layers trace to (in every --quantize mode); a layer of ours without a
keras.layers reference stays ours, still exports, and is named in one line and in the metadata;
a twin that differs from ours is refused. Objects at 16x16, width 4, untrained (seeded)."""
import collections
import json

import numpy as np
import pytest

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
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel((path / "model.tflite").read_bytes(), 0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    counts = collections.Counter()
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)
        counts.update(names[codes[graph.Operators(i).OpcodeIndex()]] for i in range(graph.OperatorsLength()))
    return counts


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
