"""The export's serving signatures, and calling them with the right input dtype.

- `serving_default`: `<input_name>` (batch None, the pipeline's dtype) -> the pipeline's named
  outputs (`probabilities`, `class_id`, `label` for classifiers);
- `<input_name>_bytes`: a DT_STRING input of the same name, one encoded example per element.
  Pipelines that decode files in the graph (`decode_bytes`: PNG/JPEG, WAV) take the file; a
  pipeline with a fixed-shape float input and no decoder (volumes, segment) takes the example's
  raw little-endian float32 bytes in C order (`RAW_BYTES`), because NIfTI cannot be decoded with
  core TensorFlow ops. TF Serving's REST API base64-decodes `{"b64": ...}` itself, so the graph
  never calls `decode_base64`. String inputs (text) take `{"b64": ...}` directly: no second one.
"""
from __future__ import annotations

import pathlib

RAW_BYTES = "raw little-endian float32, C order"


def bytes_input(pipeline):
    """How the `<input>_bytes` signature reads one element: "decode_bytes", RAW_BYTES, or None."""
    if pipeline.has_bytes_input():
        return "decode_bytes"
    spec = pipeline.input_spec()
    if spec.dtype.is_floating and spec.shape.is_fully_defined():
        return RAW_BYTES
    return None


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
    """Write the SavedModel of `model` (served input -> probabilities) to `path`; `scratch` is a
    folder for the class-names asset."""
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


def caller(loaded, input_name, signature="serving_default"):
    """A function: a NumPy batch -> the signature's outputs as NumPy arrays, the batch cast to
    the dtype the signature declares for `input_name`."""
    import tensorflow as tf

    function = loaded.signatures[signature]
    dtype = function.structured_input_signature[1][input_name].dtype

    def call(batch):
        outputs = function(**{input_name: tf.cast(batch, dtype)})
        return {key: value.numpy() for key, value in outputs.items()}

    return call
