"""`cnn evaluate` (a run folder or an export on a SOURCE, by default a run's own test split) and
`cnn predict` (files, folders and glob patterns through a run folder or an export).

`cnn predict` goes through the SavedModel alone where it can: file bytes into `<input>_bytes`,
the outputs printed. A run folder, a LiteRT or ONNX export (no bytes input), an export whose
pipeline declares `custom_predict` (its own output such as a segmentation file) and a pipeline
that reads files as training does (`predict_reads_like_training`: audio at any sample rate) go
through the pipeline's `read_file`/`predict_file`.
"""
from __future__ import annotations

import pipelines
from analysis import artifacts
from pipelines.core import predictions, runs, sources
from pipelines.engine import training


def evaluate(model_path, data=None, data_dir=None, batch_size=None, assignments=(), label_map=None):
    """Test metrics of a run folder or export on SOURCE `data` (its test split, else all of it);
    without `data`, on the test split recorded in the run's config.json (an export's run folder,
    when it is still there), with `metrics["split"]` saying how that split was made.

    The source is read with the model's recorded source options, changed by `assignments`
    (`--set KEY=VALUE`, source options only); its labels are matched to the model's classes
    by name, by `label_map` ('LABEL=CLASS,...'), or by index (datasets/label_maps.py), and the
    metrics' notes say how."""
    from datasets import label_maps

    mapping = label_maps.parse(label_map) if label_map else None  # before any model is loaded
    artifact = artifacts.open(model_path)
    pipeline = with_source_options(artifact.pipeline, assignments)
    if data is None:
        if mapping is not None:
            raise ValueError("--label-map: only with --data (the run's own test split has its classes)")
        record = recorded_run(artifact)
        made = runs.splits_of(pipeline, {**record, "data_dir": data_dir or record.get("data_dir")})
        examples, note, split = made.test, None, made.record["test"]
    else:
        source, note = label_maps.onto(sources.load(pipeline, data, data_dir), artifact.class_names, mapping)
        examples = source.split("test") or source.split("all") or source.split("train")
        split = None
    metrics = training.evaluate(pipeline, artifact.predict, examples, artifact.class_names, batch_size)
    metrics["data"] = examples.origin
    if split:
        metrics["split"] = split
    if note:
        metrics["notes"] = [note, *metrics.get("notes", ())]
    return metrics


def recorded_run(artifact):
    """The config.json of the run that made `artifact` (itself, or an export's run folder if it is
    still there); a ValueError saying to pass --data when there is none."""
    if artifact.kind == artifacts.RUN:
        return artifact.record
    run_dir = artifact.record.get("run_dir")
    if run_dir and runs.is_run(run_dir):
        return runs.read_record(run_dir)
    raise ValueError(f"{artifact.path}: this export records no data source (its run folder is not here); "
                     f"pass --data SOURCE")


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


def predict_files(model_path, inputs, top_k=1):
    """A `predictions.Prediction` per file of `inputs` (files, folders, glob patterns), in order,
    through a run folder or an export; a file that cannot be read or predicted gives one with its
    `error`, and the rest go on. `top_k`: how many classes each names (1 to the model's classes)."""
    artifact = artifacts.open(model_path)
    predictions.check_top_k(top_k, len(artifact.class_names))
    pipeline = artifact.pipeline if _reads_with_pipeline(artifact) else None
    serve = artifact.signature()
    serve_bytes = artifact.signature(f"{artifact.record['input']}_bytes") if pipeline is None else None
    names = artifact.class_names.__getitem__
    extensions = pipelines.get(artifact.record["pipeline"]).file_extensions
    files, empty = predictions.expand(inputs, extensions)
    for given in empty:
        yield predictions.Prediction(given, error=predictions.nothing_found(given, extensions))
    for file in files:
        try:
            if not file.is_file():
                raise FileNotFoundError(f"{file}: no such file")
            if pipeline is not None and pipeline.own_prediction_output():
                yield predictions.Prediction(str(file), line=pipeline.predict_file(str(file), serve))
                continue
            batch = pipeline.read_file(str(file))[None] if pipeline is not None else None
            outputs = serve(batch) if pipeline is not None else _serve_file(serve_bytes, file, artifact.record)
            yield predictions.Prediction.of(file, outputs["probabilities"][0], names, top_k)
        except (ValueError, OSError) as error:
            yield predictions.Prediction.failed(file, error)


def _reads_with_pipeline(artifact):
    """Whether files go through the pipeline's own reader (`read_file`/`predict_file`) rather than
    the export's bytes signature: a run folder or a LiteRT/ONNX export (no bytes input), an export
    that records it needs the pipeline's code, or a pipeline that reads files as training does
    (audio resamples any rate with librosa, which no graph can)."""
    record = artifact.record
    if artifact.kind != artifacts.EXPORT or record.get("custom_predict"):
        return True
    if f"{record['input']}_bytes" not in artifact.saved_model.signatures:
        return True
    return pipelines.get(record["pipeline"]).predict_reads_like_training


def _serve_file(serve_bytes, file, record):
    """The bytes signature's outputs for one encoded file; the graph's refusal as a ValueError."""
    import tensorflow as tf

    try:
        return serve_bytes([file.read_bytes()])
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"{file}: cannot be decoded as {record['input']} ({graph_reason(error.message)})") from None


def graph_reason(message):
    """The op's own words in a TensorFlow graph error, without its node and stack decorations."""
    decorations = ("Graph execution error", "Detected at node", "<stack traces")
    lines = [line for line in message.splitlines()
             if line.strip() and not line.startswith(("\t", " ", *decorations))]
    return (lines[-1] if lines else message).split(" [Op:", 1)[0].strip()
