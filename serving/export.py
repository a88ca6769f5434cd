"""Versioned, atomic SavedModel export: `<root>/<model name>/<integer version>/`, of a model
just trained, of a finished run folder (`cnn export`) or of an ensemble of runs (`cnn ensemble`).

The SavedModel is written to a hidden temporary folder in the same parent and renamed into
place, so TF Serving (which ignores non-integer folders) never sees half a model, and an
existing version is never overwritten. The signatures are in serving/signatures.py.

Class names are an asset (`assets/class_names.txt`, read by a lookup table) and, with the
pipeline name and config, `assets.extra/cnn_suite.json`; `assets.extra/tf_serving_warmup_requests`
holds warmup PredictionLogs built from held-out examples (serving/warmup.py).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

from pipelines.core import runs
from pipelines.core.config import to_dict
from serving import signatures, warmup

METADATA = "assets.extra/cnn_suite.json"


def read_metadata(path):
    file = pathlib.Path(path) / METADATA
    if not file.is_file():
        raise FileNotFoundError(f"{path}: not a cnn-suite export (no {METADATA})")
    return json.loads(file.read_text())


def next_version(root):
    versions = [int(p.name) for p in pathlib.Path(root).iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def metadata(pipeline, class_names, provenance=None):
    """What `cnn predict`, `cnn evaluate` and the dev server read back from an export: the
    pipeline and its config (to rebuild it), the input, classes, bytes input and where the model
    came from (`run_dir`, or `ensemble_of`)."""
    return {"pipeline": pipeline.name, "input": pipeline.input_name,
            "class_names": list(class_names), "bytes_input": signatures.bytes_input(pipeline),
            "config": to_dict(pipeline.config), "custom_predict": pipeline.custom_predict(),
            **(provenance or {})}


def export(model, pipeline, class_names, root, provenance=None, name=None, version=None, examples=None):
    """Export to `<root>/<name or pipeline.name>/<version or the next free one>/`; its path.

    `examples` (held-out `Examples`) give the warmup records; without them the export has none.
    `provenance` ({"run_dir": ...} or {"ensemble_of": [...]}) goes into the metadata."""
    for class_name in class_names:  # assets/class_names.txt holds one name per line
        if "".join(str(class_name).splitlines()) != str(class_name):
            raise ValueError(f"class name {str(class_name)!r} contains a line break; it cannot be exported")
    parent = pathlib.Path(root) / (name or pipeline.name)
    if version is not None and (int(version) < 0 or (parent / str(int(version))).exists()):
        raise ValueError(f"{parent / str(version)}: version exists or is negative (never overwritten)")
    parent.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="cnn-export-"))
    try:
        target = temporary / "model"
        signatures.write_archive(model, pipeline, class_names, target, scratch)
        extra = target / METADATA
        extra.parent.mkdir(exist_ok=True)
        extra.write_text(json.dumps(metadata(pipeline, class_names, provenance), indent=2))
        if examples is not None and len(examples):
            warmup.write(target, pipeline, examples, parent.name)
        return publish(target, parent, version)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def publish(target, parent, version=None):
    """Rename the finished folder `target` to `parent/<version>` (the next free one when None):
    a version appears whole or not at all, and an existing one is never overwritten."""
    while True:
        final = parent / str(next_version(parent) if version is None else int(version))
        try:
            os.rename(target, final)  # fails if another export took this version meanwhile
            return final
        except OSError:
            if version is not None or not final.exists():
                raise


def export_trained(run, pipeline, root, name=None, version=None):
    """Export a just-trained `pipelines.engine.training.Run` (warmup records from its held-out
    split) and note the export in the run's config.json; the export's path."""
    path = export(run.model, pipeline, run.splits.class_names, root, name=name, version=version,
                  provenance={"run_dir": str(pathlib.Path(run.run_dir).resolve())},
                  examples=run.held_out)
    runs.record_export(run.run_dir, run.record, path)
    run.export_path = path
    return path


def export_run(run_dir, root="saved_models", name=None, version=None):
    """Export a run folder's trained model (again) as a new SavedModel version, noted in its
    config.json as the run's export (report.html and `cnn report` list it); its path."""
    record = runs.read_record(run_dir)
    model_file = runs.finished_model(run_dir)
    pipeline = runs.pipeline_from_record(record)
    model = runs.load_model(pipeline, model_file)
    path = export(
        model, pipeline, record["class_names"], root, name=name, version=version,
        provenance={"run_dir": str(pathlib.Path(run_dir).resolve())},
        examples=held_out_examples(pipeline, record),
    )
    runs.record_export(run_dir, record, path)
    return path


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
    from pipelines.extensions import ensemble

    pipeline, record, model, examples, metrics = ensemble.evaluate_runs(run_dirs)
    member_metrics = [json.loads((pathlib.Path(run_dir) / "metrics.json").read_text()) for run_dir in run_dirs]
    path = export(
        model, pipeline, record["class_names"], root, name=name, version=version,
        provenance={"ensemble_of": [str(pathlib.Path(run_dir).resolve()) for run_dir in run_dirs]},
        examples=examples,
    )
    return path, metrics, member_metrics
