"""Using what training produced: evaluate a run folder or an export, predict files with an export.

`cnn predict` goes through the SavedModel alone: file bytes into `<input>_bytes`, the outputs
printed. Only an export whose pipeline declares `custom_predict` (no bytes signature, or its
own output such as a segmentation file) imports that pipeline for `read_file`/`write_prediction`.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from serving.export import METADATA


def is_export(path):
    return (pathlib.Path(path) / "saved_model.pb").is_file()


def read_metadata(path):
    file = pathlib.Path(path) / METADATA
    if not file.is_file():
        raise FileNotFoundError(f"{path}: not a cnn-suite export (no {METADATA})")
    return json.loads(file.read_text())


def _export_predictor(path, metadata):
    """probabilities (N, classes) for a batch, through the export's serving_default."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    name = metadata["input"]
    dtype = signature.structured_input_signature[1][name].dtype

    def probabilities(batch):
        return signature(**{name: tf.cast(batch, dtype)})["probabilities"].numpy()

    return probabilities


def evaluate(model_path, data, data_dir=None, batch_size=None):
    """Test metrics of a run folder or export on SOURCE `data` (its test split, else all of it)."""
    from datasets import sources
    from pipelines.core import runs

    model_path = pathlib.Path(model_path)
    if is_export(model_path):
        record = read_metadata(model_path)
        predictor = _export_predictor(model_path, record)
    elif (model_path / runs.CONFIG).is_file():
        import keras

        import layers  # noqa: F401  (registers our layers for loading)

        record = runs.read_record(model_path)
        # The pipeline first: importing it registers its own Keras layers (e.g. log-mel).
        runs.pipeline_from_record(record)
        model = keras.models.load_model(model_path / "model.keras")
        predictor = lambda batch: model.predict_on_batch(batch)  # noqa: E731
    else:
        raise FileNotFoundError(f"{model_path}: neither a run folder nor a SavedModel export")
    pipeline = runs.pipeline_from_record(record)
    source = sources.align(sources.load(pipeline, data, data_dir), record["class_names"])
    examples = source.split("test") or source.split("all") or source.split("train")
    labels, probabilities = pipeline.predict_examples(
        predictor, examples, batch_size or pipeline.config.batch_size
    )
    metrics = pipeline.report(labels, probabilities, record["class_names"])
    metrics["data"] = examples.origin
    return metrics


def predict_files(export_path, files):
    """One line per file: path, label, probability (or the pipeline's own line)."""
    import tensorflow as tf

    metadata = read_metadata(export_path)
    loaded = tf.saved_model.load(str(export_path))
    bytes_key = f"{metadata['input']}_bytes"
    pipeline = None
    if metadata.get("custom_predict") or bytes_key not in loaded.signatures:
        from pipelines.core import runs

        pipeline = runs.pipeline_from_record(metadata)
    lines = []
    for file in files:
        file = pathlib.Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file")
        if pipeline is None:
            try:
                outputs = loaded.signatures[bytes_key](**{bytes_key: tf.constant([file.read_bytes()])})
            except tf.errors.InvalidArgumentError:
                raise ValueError(f"{file}: cannot be decoded as {metadata['input']}") from None
            outputs = {key: value.numpy()[0] for key, value in outputs.items()}
            label = outputs["label"].decode()
            lines.append(f"{file}\t{label}\t{float(np.max(outputs['probabilities'])):.4f}")
        else:
            signature = loaded.signatures["serving_default"]
            name = metadata["input"]
            dtype = signature.structured_input_signature[1][name].dtype

            def serve(batch):
                outputs = signature(**{name: tf.cast(batch, dtype)})
                return {key: value.numpy() for key, value in outputs.items()}

            lines.append(pipeline.predict_file(str(file), serve))
    return lines


def export_run(run_dir, root="saved_models", name=None, version=None):
    """Export a run folder's trained model (again) as a new SavedModel version; its path."""
    import keras

    import layers  # noqa: F401  (registers our layers for loading)
    from serving import export
    from pipelines.core import runs
    from pipelines.core.config import to_dict

    record = runs.read_record(run_dir)
    model_file = pathlib.Path(run_dir) / "model.keras"
    if not model_file.is_file():
        raise FileNotFoundError(f"{run_dir}: the run has not finished (no model.keras)")
    pipeline = runs.pipeline_from_record(record)  # registers the pipeline's own Keras layers
    model = keras.models.load_model(model_file)
    return export.export(
        model, pipeline, record["class_names"], root, name=name, version=version,
        metadata={"config": to_dict(pipeline.config), "run_dir": str(pathlib.Path(run_dir).resolve()),
                  "custom_predict": pipeline.custom_predict()},
        examples=held_out_examples(pipeline, record),
    )


def held_out_examples(pipeline, record):
    """The run's validation (else test) examples, re-read from its sources, for warmup records;
    None, with a warning, when the data is no longer there."""
    import warnings

    from pipelines.core import runs

    try:
        splits = runs.splits_of(pipeline, record)
    except (OSError, ValueError) as error:
        warnings.warn(f"no warmup records: the run's data cannot be read ({error})", stacklevel=2)
        return None
    return splits.val if splits.val is not None else splits.test
