"""Versioned, atomic SavedModel export: `<root>/<pipeline>/<integer version>/`.

The SavedModel is written to a hidden temporary folder in the same parent and renamed into
place, so TF Serving (which ignores non-integer folders) never sees half a model, and an
existing version is never overwritten. Signatures:

- `serving_default`: `<input_name>` (batch None, the pipeline's dtype) -> `probabilities`,
  `class_id`, `label` (string);
- `<input_name>_bytes`: a DT_STRING input of the same name, one encoded example per element.
  Pipelines that decode files in the graph (`decode_bytes`: PNG/JPEG, WAV) take the file; a
  pipeline with a fixed-shape float input and no decoder (volumes, segment) takes the example's
  raw little-endian float32 bytes in C order (`RAW_BYTES`), because NIfTI cannot be decoded with
  core TensorFlow ops. TF Serving's REST API base64-decodes `{"b64": ...}` itself, so the graph
  never calls `decode_base64`. String inputs (text) take `{"b64": ...}` directly: no second one.

Class names are an asset (`assets/class_names.txt`, read by a lookup table) and, with the
pipeline name and config, `assets.extra/cnn_suite.json`; `assets.extra/tf_serving_warmup_requests`
holds warmup PredictionLogs built from the run's held-out examples (pipelines/warmup.py).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

METADATA = "assets.extra/cnn_suite.json"
RAW_BYTES = "raw little-endian float32, C order"


def next_version(root):
    versions = [int(p.name) for p in pathlib.Path(root).iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def _label_table(class_names, folder):
    import tensorflow as tf

    names_file = pathlib.Path(folder) / "class_names.txt"
    names_file.write_text("".join(f"{name}\n" for name in class_names))
    initializer = tf.lookup.TextFileInitializer(
        str(names_file),
        key_dtype=tf.int64, key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        value_dtype=tf.string, value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
    )
    return tf.lookup.StaticHashTable(initializer, default_value="")


def bytes_input(pipeline):
    """How the `<input>_bytes` signature reads one element: "decode_bytes", RAW_BYTES, or None."""
    if pipeline.has_bytes_input():
        return "decode_bytes"
    spec = pipeline.input_spec()
    if spec.dtype.is_floating and spec.shape.is_fully_defined():
        return RAW_BYTES
    return None


def _decode_raw(data, spec):
    """[batch] strings of raw little-endian float32 -> [batch, *spec.shape], checked in size."""
    import tensorflow as tf

    size = spec.shape.num_elements() * 4
    check = tf.debugging.assert_equal(
        tf.strings.length(data), size,
        message=f"each element must be {size} bytes: {RAW_BYTES} of shape {spec.shape.as_list()}",
    )
    with tf.control_dependencies([check]):
        values = tf.io.decode_raw(data, tf.float32, little_endian=True)
    return tf.cast(tf.reshape(values, (-1, *spec.shape)), spec.dtype)


def write_archive(model, pipeline, class_names, path, scratch):
    """Write the SavedModel of `model` (served input -> probabilities) to `path`."""
    import keras
    import tensorflow as tf

    table = _label_table(class_names, scratch)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(table)
    spec = pipeline.input_spec()
    name = pipeline.input_name

    def labels_of(class_id):
        return table.lookup(tf.cast(class_id, tf.int64))

    def predict(inputs):
        probabilities = tf.cast(model(inputs, training=False), tf.float32)
        return pipeline.serving_outputs(probabilities, labels_of)

    archive.add_endpoint(
        "serving_default", predict,
        input_signature=[tf.TensorSpec((None, *spec.shape), spec.dtype, name=name)],
    )
    reader = bytes_input(pipeline)
    if reader is not None:
        def predict_bytes(data):
            if reader == RAW_BYTES:
                return predict(_decode_raw(data, spec))
            inputs = tf.map_fn(
                lambda item: tf.cast(pipeline.decode_bytes(item), spec.dtype), data,
                fn_output_signature=tf.TensorSpec(spec.shape, spec.dtype),
            )
            return predict(inputs)

        archive.add_endpoint(
            f"{name}_bytes", predict_bytes,
            input_signature=[tf.TensorSpec((None,), tf.string, name=f"{name}_bytes")],
        )
    archive.write_out(str(path), verbose=False)


def export(model, pipeline, class_names, root, metadata=None, name=None, version=None, examples=None):
    """Export to `<root>/<name or pipeline.name>/<version or the next free one>/`; its path.

    `examples` (the run's validation or test `Examples`) give the warmup records; without them
    the export has none."""
    parent = pathlib.Path(root) / (name or pipeline.name)
    if version is not None and (int(version) < 0 or (parent / str(int(version))).exists()):
        raise ValueError(f"{parent / str(version)}: version exists or is negative (never overwritten)")
    parent.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="cnn-export-"))
    try:
        target = temporary / "model"
        write_archive(model, pipeline, class_names, target, scratch)
        extra = target / METADATA
        extra.parent.mkdir(exist_ok=True)
        info = {"pipeline": pipeline.name, "input": pipeline.input_name,
                "class_names": list(class_names), "bytes_input": bytes_input(pipeline),
                **(metadata or {})}
        extra.write_text(json.dumps(info, indent=2))
        if examples is not None and len(examples):
            from serving import warmup

            warmup.write(target, pipeline, examples, parent.name)
        while True:
            final = parent / str(next_version(parent) if version is None else int(version))
            try:
                os.rename(target, final)  # fails if another export took this version meanwhile
                return final
            except OSError:
                if version is not None or not final.exists():
                    raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
