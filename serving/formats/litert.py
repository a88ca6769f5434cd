"""A run's Keras model -> a LiteRT flatbuffer (`.tflite`) with the builtin ops only.

Keras's own `model.export(format="litert")` also allows Flex (SELECT_TF_OPS), which the
`ai-edge-litert` runtime cannot run; here the converter keeps to TFLITE_BUILTINS, so the file
runs wherever LiteRT does, and a graph that needs TensorFlow kernels (text's string ops) is
refused with the ops named. The path is Keras's: ExportArchive -> SavedModel -> TFLiteConverter.

Quantization (post-training): `dynamic` stores weights as int8; `float16` stores them as
float16; `int8` also quantizes activations, calibrated on representative examples, with float
input and output (so the served input stays the raw one) and float kernels where an op has no
int8 one.
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
            return converter.convert()
        except Exception as error:  # ConverterError; its text lists the ops it could not map
            raise Refused(refusal(pipeline.name, str(error))) from None


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

