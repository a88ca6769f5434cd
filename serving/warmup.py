"""TF Serving warmup records: `assets.extra/tf_serving_warmup_requests` in each export.

TF Serving replays these `PredictionLog` records when it loads a version, before it reports the
version AVAILABLE, so the first real request does not pay for graph initialisation. A record
that fails makes the load fail, so the records are real held-out examples of the run, encoded
the way clients send them: one record per example and signature, batch 1 (the size of most
online requests), `PER_SIGNATURE` of them, never more than TF Serving's limit of 1,000.
"""
from __future__ import annotations

import pathlib

import numpy as np

from serving.signatures import RAW_BYTES, bytes_input

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving reads no more than this
PER_SIGNATURE = 4


def served_examples(pipeline, examples, count):
    """Up to `count` examples as `serving_default` takes them (NumPy, batch first, its dtype)."""
    chosen = examples.take(np.arange(min(count, len(examples))))
    inputs, _ = next(iter(pipeline.input_dataset(chosen, count)))
    return inputs.numpy().astype(pipeline.input_spec().dtype.as_numpy_dtype)


def encode(pipeline, example, reader):
    """One served example encoded as a client sends it to the `<input>_bytes` signature."""
    if reader == RAW_BYTES:
        return np.asarray(example, "<f4").tobytes()
    return pipeline.encode_bytes(example)


def requests(pipeline, examples):
    """(signature name, input name, one-example batch) for every warmup record."""
    served = served_examples(pipeline, examples, PER_SIGNATURE)
    name = pipeline.input_name
    # Slices, not example[None]: a string example is a Python bytes object, which cannot be indexed so.
    result = [("serving_default", name, served[i:i + 1]) for i in range(len(served))]
    reader = bytes_input(pipeline)
    if reader is not None:
        result += [(f"{name}_bytes", f"{name}_bytes",
                    np.array([encode(pipeline, example, reader)], dtype=object)) for example in served]
    return result[:MAX_RECORDS]


def write(export_dir, pipeline, examples, model_name):
    """Write the warmup file of the SavedModel in `export_dir`; the number of records."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    file = pathlib.Path(export_dir) / WARMUP_FILE
    file.parent.mkdir(parents=True, exist_ok=True)
    records = requests(pipeline, examples)
    with tf.io.TFRecordWriter(str(file)) as writer:
        for signature, key, batch in records:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature
            request.inputs[key].CopyFrom(tf.make_tensor_proto(batch))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(records)


def read(export_dir):
    """The warmup records of an export as (signature name, {input: NumPy array}) pairs."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    result = []
    for raw in tf.data.TFRecordDataset(str(pathlib.Path(export_dir) / WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        request = log.predict_log.request
        result.append((request.model_spec.signature_name,
                       {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}))
    return result
