"""Reading LiteRT and ONNX exports back: a batch of served inputs -> probabilities.

Only the runtimes a device has are used (`ai-edge-litert`'s interpreter, else TensorFlow's
`tf.lite.Interpreter`; `onnxruntime`), with the class names and metadata written beside the file,
so what is measured here is the file that ships. For the loader that opens exports (`cnn predict`,
`cnn evaluate`).
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from serving.formats import CLASS_NAMES, FILES, METADATA, OUTPUT


def model_file(path):
    """The .tflite or .onnx file of an export: the file itself or its version folder."""
    path = pathlib.Path(path)
    if path.is_file() and path.suffix in (".tflite", ".onnx"):
        return path
    found = [path / name for name in FILES.values() if (path / name).is_file()]
    if not found:
        raise FileNotFoundError(f"{path}: no {' or '.join(FILES.values())} here (a LiteRT or ONNX export version)")
    return found[0]


def is_export(path):
    """Whether `path` is a LiteRT or ONNX export (its file or version folder)."""
    try:
        model_file(path)
    except FileNotFoundError:
        return False
    return True


class Export:
    """One LiteRT or ONNX export: `predict(batch)` -> probabilities (batch, ...classes),
    `class_names`, `metadata` (cnn_suite.json)."""

    def __init__(self, path):
        self.file = model_file(path)
        folder = self.file.parent
        self.class_names = (folder / CLASS_NAMES).read_text().splitlines()
        self.metadata = json.loads((folder / METADATA).read_text())
        self.input_name = self.metadata["input"]
        self.dtype = np.dtype(self.metadata.get("input_dtype", "float32"))
        self.predict = litert_predictor(self.file, self.input_name) if self.file.suffix == ".tflite" \
            else onnx_predictor(self.file)

    def __call__(self, batch):
        return self.predict(np.asarray(batch, self.dtype))


def litert_interpreter(file=None, content=None):
    """LiteRT's own interpreter, else TensorFlow's (the same runtime, in TensorFlow's wheel), of a
    .tflite `file` or its bytes (`content`)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(file)) if content is None else Interpreter(model_content=content)


def run_time_error(format, data, input_name, examples, batch):
    """What a LiteRT or ONNX file (its bytes, `data`) raises on `examples` (served inputs, batch
    first) in its runtime, `batch` at a time, in one line, else None: a file converts, yet a kernel can refuse its
    node when it runs (LiteRT's REVERSE_V2 on non-contiguous axes, int8 DIV by a zero). None too
    when the ONNX runtime is not installed."""
    if format == "litert":
        runner = litert_interpreter(content=data).get_signature_runner("serving_default")

        def predict(inputs):
            return runner(**{input_name: inputs})
    else:
        try:
            import onnxruntime
        except ImportError:
            return None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])

        def predict(inputs):
            return session.run([OUTPUT], {session.get_inputs()[0].name: inputs})
    examples = np.asarray(examples)
    try:
        for start in range(0, len(examples), batch):
            predict(examples[start:start + batch])
    except Exception as error:  # RuntimeError (LiteRT), onnxruntime's Fail/RuntimeException
        return " ".join(str(error).split())[-300:]
    return None


def litert_predictor(file, input_name):
    """batch -> probabilities through the file's `serving_default` signature, which resizes its
    input to each batch (free batch and image dimensions)."""
    runner = litert_interpreter(file).get_signature_runner("serving_default")

    def predict(batch):
        return runner(**{input_name: batch})[OUTPUT]

    return predict


def onnx_predictor(file):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    (single,) = session.get_inputs()

    def predict(batch):
        return session.run([OUTPUT], {single.name: batch})[0]

    return predict
