"""A run's Keras model -> ONNX (`.onnx`), with tf2onnx (as Keras's `model.export(format="onnx")`).

The graph is the served function (raw input -> preprocessing -> network -> probabilities), input
named as the SavedModel's (`image`, `waveform`, `volume`) and output `probabilities`. tf2onnx
leaves a TensorFlow op it cannot map in the graph (logging the error and going on), where ONNX
Runtime would fail to load it, so such a graph is refused here, with the ops named.
"""
from __future__ import annotations

import contextlib
import logging
import re

from serving.formats import OUTPUT, Refused, ops_phrase, served_function

OPSET = 17  # ONNX's DFT (the log-mel's STFT) arrives in opset 17; ONNX Runtime 1.31 runs up to 23


def convert(model, pipeline):
    """The .onnx bytes of `model`; Refused naming the ops ONNX has no mapping for."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx


    function, signature = served_function(model, pipeline)
    patch_tf2onnx()  # Keras's NumPy 2 fix for tf2onnx 1.17, as model.export(format="onnx") applies it
    try:
        with quiet("tf2onnx"):
            proto, _ = tf2onnx.convert.from_function(
                tf.function(function, input_signature=signature), input_signature=signature, opset=OPSET,
                output_path=None)
    except Exception as error:
        raise Refused(refusal(pipeline.name, str(error))) from None
    names = [output.name for output in proto.graph.output]
    if names != [OUTPUT]:
        raise Refused(f"{pipeline.name} cannot go to ONNX: its outputs are {names}, expected [{OUTPUT!r}]")
    # an op tf2onnx failed to map stays in the graph under its TensorFlow name (e.g. ComplexAbs)
    unmapped = sorted({node.op_type for node in proto.graph.node if not onnx.defs.has(node.op_type, node.domain)})
    if unmapped:
        raise Refused(refusal(pipeline.name, "", unmapped))
    return proto.SerializeToString()


def refusal(pipeline_name, message, ops=()):
    ops = sorted({*ops, *re.findall(r"Tensorflow op \[[^\]]*: (\w+)\] is not supported", message)})
    if not ops:
        return f"{pipeline_name} cannot be converted to ONNX: {' '.join(message.split())[:300]}"
    return (f"{pipeline_name} cannot go to ONNX: {ops_phrase(ops, 'has', 'have')} no ONNX mapping in tf2onnx; "
            "export --format saved_model and serve it with TF Serving instead")


@contextlib.contextmanager
def quiet(name):
    """Silence a library's logger: tf2onnx logs a traceback for each op it fails to map, which
    the refusal then names in one line."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
