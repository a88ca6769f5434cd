"""`cnn evaluate` (a run folder or an export on a SOURCE) and `cnn predict` (files through an
export).

`cnn predict` goes through the SavedModel alone: file bytes into `<input>_bytes`, the outputs
printed. Only an export whose pipeline declares `custom_predict` (no bytes signature, or its
own output such as a segmentation file) imports that pipeline for `read_file`/`write_prediction`;
so does a LiteRT or ONNX export (no bytes input), whose outputs are made from its probabilities.
"""
from __future__ import annotations

import pathlib

from analysis import artifacts
from pipelines.core import scoring, sources
from pipelines.engine import training


def evaluate(model_path, data, data_dir=None, batch_size=None, assignments=(), label_map=None):
    """Test metrics of a run folder or export on SOURCE `data` (its test split, else all of it).

    The source is read with the model's recorded source options, changed by `assignments`
    (`--set KEY=VALUE`, source options only); its labels are matched to the model's classes
    by name, by `label_map` ('LABEL=CLASS,...'), or by index (datasets/label_maps.py), and the
    metrics' notes say how."""
    from datasets import label_maps

    mapping = label_maps.parse(label_map) if label_map else None  # before any model is loaded
    artifact = artifacts.open(model_path)
    pipeline = with_source_options(artifact.pipeline, assignments)
    source, note = label_maps.onto(sources.load(pipeline, data, data_dir), artifact.class_names, mapping)
    examples = source.split("test") or source.split("all") or source.split("train")
    metrics = training.evaluate(pipeline, artifact.predict, examples, artifact.class_names, batch_size)
    metrics["data"] = examples.origin
    if note:
        metrics["notes"] = [note, *metrics.get("notes", ())]
    return metrics


def with_source_options(pipeline, assignments):
    """`pipeline` with `--set KEY=VALUE` applied to its source options (how a SOURCE is read);
    any other field would change what the trained model expects, and is refused."""
    from pipelines.core import config as configs

    if not assignments:
        return pipeline
    allowed = tuple(pipeline.source_options)
    for assignment in assignments:
        key = assignment.partition("=")[0].strip()
        if key not in allowed:
            raise ValueError(f"--set {assignment}: evaluate changes only how a source is read "
                             f"(options of {pipeline.name}: {', '.join(allowed) or 'none'})")
    return type(pipeline)(configs.override(pipeline.config, list(assignments)))


def predict_files(export_path, files):
    """One line per file: path, label, probability (or the pipeline's own line)."""
    artifact = artifacts.open(export_path, artifacts.EXPORT)
    metadata = artifact.record
    bytes_key = f"{metadata['input']}_bytes"
    pipeline = None
    if metadata.get("custom_predict") or bytes_key not in artifact.saved_model.signatures:
        pipeline = artifact.pipeline
    serve = artifact.signature()
    serve_bytes = artifact.signature(bytes_key) if pipeline is None else None
    lines = []
    for file in files:
        file = pathlib.Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file")
        if pipeline is not None:
            lines.append(pipeline.predict_file(str(file), serve))
            continue
        import tensorflow as tf

        try:
            outputs = serve_bytes([file.read_bytes()])
        except tf.errors.InvalidArgumentError:
            raise ValueError(f"{file}: cannot be decoded as {metadata['input']}") from None
        lines.append(scoring.prediction_line(file, outputs["label"][0], outputs["probabilities"][0]))
    return lines
