"""Using what training produced: evaluate a run folder or an export, predict files with an
export, export a run (again).

`cnn predict` goes through the SavedModel alone: file bytes into `<input>_bytes`, the outputs
printed. Only an export whose pipeline declares `custom_predict` (no bytes signature, or its
own output such as a segmentation file) imports that pipeline for `read_file`/`write_prediction`.
"""
from __future__ import annotations

import json
import pathlib

from pipelines.core import evaluation, runs, sources, training
from serving import export, signatures


def is_export(path):
    return (pathlib.Path(path) / "saved_model.pb").is_file()


def read_metadata(path):
    file = pathlib.Path(path) / export.METADATA
    if not file.is_file():
        raise FileNotFoundError(f"{path}: not a cnn-suite export (no {export.METADATA})")
    return json.loads(file.read_text())


def _export_predictor(path, metadata):
    """probabilities (N, classes) for a batch, through the export's serving_default."""
    import tensorflow as tf

    serve = signatures.caller(tf.saved_model.load(str(path)), metadata["input"])
    return lambda batch: serve(batch)["probabilities"]


def evaluate(model_path, data, data_dir=None, batch_size=None, assignments=(), label_map=None):
    """Test metrics of a run folder or export on SOURCE `data` (its test split, else all of it).

    The source is read with the model's recorded source options, changed by `assignments`
    (`--set KEY=VALUE`, source options only); its labels are matched to the model's classes
    by name, by `label_map` ('LABEL=CLASS,...'), or by index (datasets/label_maps.py), and the
    metrics' notes say how."""
    from datasets import label_maps

    mapping = label_maps.parse(label_map) if label_map else None  # before any model is loaded
    model_path = pathlib.Path(model_path)
    if is_export(model_path):
        record = read_metadata(model_path)
        pipeline = runs.pipeline_from_record(record)
        predictor = _export_predictor(model_path, record)
    elif (model_path / runs.CONFIG).is_file():
        record = runs.read_record(model_path)
        pipeline = runs.pipeline_from_record(record)
        predictor = runs.load_model(pipeline, runs.finished_model(model_path)).predict_on_batch
    else:
        raise FileNotFoundError(f"{model_path}: neither a run folder nor a SavedModel export")
    pipeline = with_source_options(pipeline, assignments)
    source, note = label_maps.onto(sources.load(pipeline, data, data_dir), record["class_names"], mapping)
    examples = source.split("test") or source.split("all") or source.split("train")
    metrics = training.evaluate(pipeline, predictor, examples, record["class_names"], batch_size)
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
    import tensorflow as tf

    metadata = read_metadata(export_path)
    loaded = tf.saved_model.load(str(export_path))
    bytes_key = f"{metadata['input']}_bytes"
    pipeline = None
    if metadata.get("custom_predict") or bytes_key not in loaded.signatures:
        pipeline = runs.pipeline_from_record(metadata)
    serve = signatures.caller(loaded, metadata["input"])
    serve_bytes = signatures.caller(loaded, bytes_key, bytes_key) if pipeline is None else None
    lines = []
    for file in files:
        file = pathlib.Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file")
        if pipeline is not None:
            lines.append(pipeline.predict_file(str(file), serve))
            continue
        try:
            outputs = serve_bytes([file.read_bytes()])
        except tf.errors.InvalidArgumentError:
            raise ValueError(f"{file}: cannot be decoded as {metadata['input']}") from None
        lines.append(evaluation.prediction_line(file, outputs["label"][0], outputs["probabilities"][0]))
    return lines


def export_run(run_dir, root="saved_models", name=None, version=None):
    """Export a run folder's trained model (again) as a new SavedModel version; its path."""
    record = runs.read_record(run_dir)
    model_file = runs.finished_model(run_dir)
    pipeline = runs.pipeline_from_record(record)
    model = runs.load_model(pipeline, model_file)
    return export.export(
        model, pipeline, record["class_names"], root, name=name, version=version,
        provenance={"run_dir": str(pathlib.Path(run_dir).resolve())},
        examples=held_out_examples(pipeline, record),
    )


def held_out_examples(pipeline, record):
    """The run's validation (else test) examples, re-read from its sources, for warmup records;
    None, with a warning, when the data is no longer there."""
    import warnings

    try:
        splits = runs.splits_of(pipeline, record)
    except (OSError, ValueError) as error:
        warnings.warn(f"no warmup records: the run's data cannot be read ({error})", stacklevel=2)
        return None
    return splits.val if splits.val is not None else splits.test


def export_ensemble(run_dirs, root="saved_models", name=None, version=None):
    """Build the ensemble of `run_dirs`, evaluate it on their test split and export it as a new
    SavedModel version; (export path, ensemble metrics, each member's own test metrics)."""
    from pipelines.core import ensemble

    pipeline, record, model, examples, metrics = ensemble.evaluate_runs(run_dirs)
    member_metrics = [json.loads((pathlib.Path(run_dir) / "metrics.json").read_text()) for run_dir in run_dirs]
    path = export.export(
        model, pipeline, record["class_names"], root, name=name, version=version,
        provenance={"ensemble_of": [str(pathlib.Path(run_dir).resolve()) for run_dir in run_dirs]},
        examples=examples,
    )
    return path, metrics, member_metrics
