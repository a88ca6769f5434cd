"""A run's report.html and its export: the export section filled in after `cnn train` exports,
and `cnn report RUN` (the whole report again). Signatures are read from saved_model.pb alone."""
from __future__ import annotations

import pathlib

from pipelines.core import runs


def signatures_of(export_path):
    """[(name, {input: "dtype shape"}, {output: "dtype shape"})] read from saved_model.pb alone
    (no graph is loaded)."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString((pathlib.Path(export_path) / "saved_model.pb").read_bytes())

    def describe(tensors):
        import tensorflow as tf

        return {key: f"{tf.dtypes.as_dtype(info.dtype).name} "
                     f"{[d.size if d.size >= 0 else None for d in info.tensor_shape.dim]}"
                for key, info in sorted(tensors.items())}

    graph = model.meta_graphs[0]
    return [(name, describe(sig.inputs), describe(sig.outputs))
            for name, sig in sorted(graph.signature_def.items()) if not name.startswith("__")]


def report_export(run_dir, export_path):
    """Fill in the export section of a run's report.html."""
    from pipelines.core import report

    return report.set_export(run_dir, export_path, signatures_of(export_path))


def report_run(run_dir):
    """`cnn report RUN`: write the run's report.html again, with its export when that exists;
    (the report's path, notes for the user)."""
    import json
    import warnings

    from pipelines.core import report

    run_dir = pathlib.Path(run_dir)
    record = runs.read_record(run_dir)
    model_file = runs.finished_model(run_dir)
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.json (the run was not evaluated)")
    pipeline = runs.pipeline_from_record(record)
    model = runs.load_model(pipeline, model_file)
    notes = []
    try:
        data_splits = runs.splits_of(pipeline, record)
    except (OSError, ValueError) as error:
        data_splits = None
        notes.append(f"the run's data cannot be read ({error}): no class counts or errors in the report")
    export = None
    if record.get("export") and (pathlib.Path(record["export"]) / "saved_model.pb").is_file():
        export = (record["export"], signatures_of(record["export"]))
    elif record.get("export"):
        notes.append(f"the run's export {record['export']} is gone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = report.write(run_dir, pipeline, model, data_splits, json.loads(metrics_file.read_text()), record, export)
    return path, notes
