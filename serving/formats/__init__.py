"""Exports for runtimes other than TF Serving: LiteRT (`model.tflite`, float or quantized) and
ONNX (`model.onnx`), beside the SavedModel of serving/export.py.

Each is written as SavedModel versions are: `<root>/<name>/<integer version>/`, built in a hidden
temporary folder and renamed into place, never overwritten. The file maps the raw served input
(the pipeline's preprocessing inside it: resizing and scaling, log-mel, intensity windowing) to
probabilities. Neither format can hold our label lookup table (a .tflite converted with it fails
at run time with `HASHTABLE_FIND`), so `class_names.txt` (one name per line, in class-id order)
and `cnn_suite.json` (the SavedModel's metadata, plus format, quantization, input and output
names, and which kernels the file uses) lie beside the file. The default model name is
`<pipeline>-<format>`, not the pipeline's: TF Serving loads every integer folder of a model as a
SavedModel, so a .tflite version among a model's SavedModel versions would be its newest
version, and fail to load.

The network in the file is the runtime's own: each of our convolution and pooling layers is
replaced by its keras.layers reference, the weights copied, and checked against ours on served
examples first (serving/formats/native.py), because LiteRT and ONNX Runtime have fast kernels
only for their Conv and Pool nodes. The SavedModel (serving/export.py) keeps our layers.

Converters: serving/formats/litert.py and onnx_export.py; the runtimes that read the files back
(LiteRT's interpreter, ONNX Runtime; the optional extra `formats`): serving/formats/runtime.py.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

FORMATS = ("saved_model", "litert", "onnx")
QUANTIZE = ("none", "dynamic", "float16", "int8")
FILES = {"litert": "model.tflite", "onnx": "model.onnx"}
CLASS_NAMES = "class_names.txt"
METADATA = "cnn_suite.json"
OUTPUT = "probabilities"
CALIBRATION_EXAMPLES = 300  # int8: a few hundred training examples, as LiteRT's guide advises
CHECK_EXAMPLES = 64  # float formats: training examples the keras.layers twin is checked on
CHECK_BATCH = 32  # examples per call of the checks, at most,
CHECK_VALUES = 2 ** 18  # and served values per call: a 32x48x32 volume (49,152) goes 5 at a time


def check_batch(examples):
    """Examples per call when the checks run the model or the file on `examples` (batch first):
    32, fewer for large inputs. Hippocampus's U-Net on 32 whole volumes peaked at 18 GB in LiteRT."""
    import numpy as np

    per_example = max(1, int(np.prod(np.shape(examples)[1:])))
    return max(1, min(CHECK_BATCH, CHECK_VALUES // per_example))


class Refused(ValueError):
    """A pipeline that cannot go to a format; the message is one line for the user."""


def served_function(model, pipeline):
    """(function: served batch -> {"probabilities": float32}, its input signature)."""
    import tensorflow as tf

    spec = pipeline.input_spec()
    signature = [tf.TensorSpec((None, *spec.shape), spec.dtype, name=pipeline.input_name)]

    def probabilities(inputs):
        return {OUTPUT: tf.cast(model(inputs, training=False), tf.float32)}

    return probabilities, signature


def ops_phrase(ops, one="needs", many="need"):
    """"op X needs" or "ops X, Y need", for refusals."""
    return f"op {ops[0]} {one}" if len(ops) == 1 else f"ops {', '.join(ops)} {many}"


def check(format, quantize="none", representative=None):
    """Refuse an unknown format or quantization, or one that needs what is missing."""
    if format == "saved_model":
        raise ValueError("--format saved_model is written by serving/export.py, not serving.formats")
    if format not in FILES:
        raise ValueError(f"--format {format}: expected one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZE:
        raise ValueError(f"--quantize {quantize}: expected one of {', '.join(QUANTIZE)}")
    if quantize != "none" and format != "litert":
        raise ValueError(f"--quantize {quantize}: only for --format litert ({format} is exported as float)")
    if quantize == "int8" and (representative is None or not len(representative)):
        raise ValueError("--quantize int8: needs training examples to calibrate on (the run's training split)")


def convert(model, pipeline, format, quantize="none", representative=None):
    """The bytes of `model` (served input -> probabilities) in `format`; Refused when the
    pipeline's graph has ops the format's runtime lacks."""
    check(format, quantize, representative)
    if format == "litert":
        from serving.formats import litert

        return litert.convert(model, pipeline, quantize, representative)
    from serving.formats import onnx_export

    return onnx_export.convert(model, pipeline)


def metadata(pipeline, class_names, format, quantize="none", provenance=None, kernels=None, float_layers=None):
    """The SavedModel's metadata (serving/export.py), how to call the file, which kernels it
    uses (`kernels`: native.Shipped.kernels()) and, for int8, the layers it keeps in float32."""
    from serving import export as saved_model

    return {**saved_model.metadata(pipeline, class_names, provenance), "format": format,
            "file": FILES[format], "quantize": quantize, "output": OUTPUT, "kernels": kernels,
            "float32_layers": float_layers,
            "input_dtype": pipeline.input_spec().dtype.name,
            # no `<input>_bytes` signature: files are decoded by the pipeline's code, then sent as arrays
            "bytes_input": None, "custom_predict": True}


def export(model, pipeline, class_names, root, format, quantize="none", representative=None,
           provenance=None, name=None, version=None):
    """Convert `model`'s keras.layers twin (native.py) and write `<root>/<name or
    <pipeline>-<format>>/<version or the next free one>/`; its path. `representative`: served
    training inputs (NumPy, batch first) the twin is checked on, int8 calibrates on, and the file
    is run on in its runtime before it is written (Refused when it fails there)."""
    import numpy as np

    from serving.formats import native, runtime

    for class_name in class_names:
        if "".join(str(class_name).splitlines()) != str(class_name):
            raise ValueError(f"class name {str(class_name)!r} contains a line break; it cannot be exported")
    check(format, quantize, representative)
    shipped = native.shipped(model, pipeline.name, representative, format)
    data = convert(shipped.model, pipeline, format, quantize, representative)
    examples = np.asarray(representative, pipeline.input_spec().dtype.as_numpy_dtype)
    failure = runtime.run_time_error(format, data, pipeline.input_name, examples, check_batch(examples))
    if failure:
        raise Refused(f"{pipeline.name}: the {format} file converts but fails at run time on its training "
                      f"examples ({failure}); export --format saved_model and serve it with TF Serving instead")
    float_layers = None
    if quantize == "int8":
        from serving.formats import litert

        float_layers = litert.float_layers(shipped.model)
    record = metadata(pipeline, class_names, format, quantize, provenance, shipped.kernels(), float_layers)
    files = {FILES[format]: data,
             CLASS_NAMES: "".join(f"{name}\n" for name in class_names).encode(),
             METADATA: json.dumps(record, indent=2).encode()}
    return write_version(pathlib.Path(root) / (name or f"{pipeline.name}-{format}"), files, version)


def write_version(parent, files, version=None):
    """Write `files` ({name: bytes}) as a new integer version folder of `parent`, whole or not
    at all (a hidden temporary folder renamed into place); its path."""
    from serving.export import publish

    parent = pathlib.Path(parent)
    if version is not None and (int(version) < 0 or (parent / str(int(version))).exists()):
        raise ValueError(f"{parent / str(version)}: version exists or is negative (never overwritten)")
    parent.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    try:
        target = temporary / "model"
        target.mkdir()
        for file_name, data in files.items():
            with open(target / file_name, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        return publish(target, parent, version)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def representative_examples(pipeline, examples, count=CALIBRATION_EXAMPLES):
    """Up to `count` served inputs (NumPy, batch first) of `examples` (the run's training split),
    to calibrate int8 on."""
    from serving import warmup

    return warmup.served_examples(pipeline, examples, count)


def export_run(run_dir, root="saved_models", format="litert", quantize="none", name=None, version=None):
    """Export a run folder's model.keras in `format` (`cnn export RUN --format ...`); its path.
    The twin is checked, and int8 calibrates, on the run's own training split, re-read from its
    recorded sources."""
    from pipelines.core import runs

    check(format, quantize, representative=[0])
    record = runs.read_record(run_dir)
    pipeline = runs.pipeline_from_record(record)
    model = runs.load_model(pipeline, runs.finished_model(run_dir))
    count = CALIBRATION_EXAMPLES if quantize == "int8" else CHECK_EXAMPLES
    try:
        train = runs.splits_of(pipeline, record).train
    except (OSError, ValueError) as error:
        purpose = "check the file against model.keras" + (" and calibrate int8" if quantize == "int8" else "")
        raise ValueError(f"{run_dir}: the run's training data cannot be read to {purpose} "
                         f"({' '.join(str(error).split())})") from None
    representative = representative_examples(pipeline, train, count)
    return export(model, pipeline, record["class_names"], root, format, quantize, representative,
                  provenance={"run_dir": str(pathlib.Path(run_dir).resolve())}, name=name, version=version)
