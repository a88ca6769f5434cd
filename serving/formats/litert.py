"""A run's Keras model -> a LiteRT flatbuffer (`.tflite`) with the builtin ops only.

Keras's own `model.export(format="litert")` also allows Flex (SELECT_TF_OPS), which the
`ai-edge-litert` runtime cannot run; here the converter keeps to TFLITE_BUILTINS, so the file
runs wherever LiteRT does, and a graph that needs TensorFlow kernels (text's string ops) is
refused with the ops named. The path is Keras's: ExportArchive -> SavedModel -> TFLiteConverter.

Quantization (post-training): `dynamic` stores weights as int8; `float16` stores them as
float16; `int8` also quantizes activations, calibrated on representative examples, with float
input and output (so the served input stays the raw one) and float kernels where an op has no
int8 one. int8 keeps the raw-input preprocessing (the weightless layers in front of the network:
resizing and scaling, log-mel, intensity windowing) in float32 and quantizes the network: a
few hundred calibration examples do not bound what raw input does there. Quantized, audio's
log-mel spans 1e-10 to 1e3 in 256 steps (FSDD test accuracy 98.3% -> 30%), and its
standardisation's divisor quantizes to zero on quiet clips (LiteRT's int8 DIV then fails at run
time); the selective quantization is LiteRT's QuantizationDebugger's `denylisted_nodes`.
"""
from __future__ import annotations

import re
import tempfile

from serving.formats import Refused, ops_phrase, served_function


def convert(model, pipeline, quantize="none", representative=None):
    """The .tflite bytes of `model`; Refused naming the ops LiteRT's builtins lack."""
    import keras
    import numpy as np
    import tensorflow as tf

    function, signature = served_function(model, pipeline)
    with tempfile.TemporaryDirectory(prefix="cnn-litert-") as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", function, input_signature=signature)
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            examples = np.asarray(representative, signature[0].dtype.as_numpy_dtype)

            def calibration():  # one example per step, as the converter's guide shows
                for index in range(len(examples)):
                    yield {pipeline.input_name: examples[index:index + 1]}

            converter.representative_dataset = calibration
        try:
            kept = float_layers(model) if quantize == "int8" else []
            return int8_except(converter, kept) if kept else converter.convert()
        except Exception as error:  # ConverterError; its text lists the ops it could not map
            raise Refused(refusal(pipeline.name, str(error))) from None


def float_layers(model):
    """Names of the layers int8 keeps in float32: the raw-input preprocessing, i.e. the layers
    (in the model's topological order) before the first one with weights."""
    import keras

    names = []
    for layer in model.layers:
        if layer.weights:
            break
        if not isinstance(layer, keras.layers.InputLayer):
            names.append(layer.name)
    return names


def int8_except(converter, layers):
    """The int8 .tflite bytes of `converter` (calibration set up) with the ops of `layers` left in
    float32: LiteRT's selective quantization (QuantizationDebugger, denylisted_nodes)."""
    import tensorflow as tf

    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter)  # calibrates once
    nodes = op_outputs(debugger.calibrated_model, layers)
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    return debugger.get_nondebug_quantized_model()


def op_outputs(flatbuffer, layers):
    """The output tensor names of the ops of `flatbuffer` (a .tflite) traced inside `layers`: a
    name such as `model_1/log_mel_1/Log` (fused ops: names joined by ';') has the layer's name,
    with the tracer's `_<n>` suffix, as one of its scopes."""
    from tensorflow.lite.python import schema_py_generated as schema

    scopes = re.compile("|".join(rf"{re.escape(name)}(_\d+)?" for name in layers))
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    found = []
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)
        for op in (graph.Operators(i) for i in range(graph.OperatorsLength())):
            for tensor in (graph.Tensors(op.Outputs(j)) for j in range(op.OutputsLength())):
                name = tensor.Name().decode()
                if any(scopes.fullmatch(scope) for part in name.split(";") for scope in part.split("/")):
                    found.append(name)
    return found


def unsupported_ops(message):
    """The TensorFlow ops a converter error names as neither builtin nor custom, sorted."""
    ops = set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", message))
    for listed in re.findall(r"TF Select ops: ([\w, ]+)", message):
        ops |= {op.strip() for op in listed.split(",") if op.strip()}
    return sorted(ops)


def refusal(pipeline_name, message):
    ops = unsupported_ops(message)
    if not ops:
        return f"{pipeline_name} cannot be converted to LiteRT: {' '.join(message.split())[:300]}"
    return (f"{pipeline_name} cannot go to LiteRT: {ops_phrase(ops)} TensorFlow's Flex kernels "
            "(SELECT_TF_OPS), which the LiteRT runtime lacks; export --format saved_model and serve it "
            "with TF Serving instead")

