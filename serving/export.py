"""Versioned, atomic SavedModel export: `<root>/<model name>/<integer version>/`.

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


def export_trained(run, pipeline, root, name=None, version=None):
    """Export a just-trained `pipelines.core.training.Run` (warmup records from its held-out
    split) and note the export in the run's config.json; the export's path."""
    path = export(run.model, pipeline, run.splits.class_names, root, name=name, version=version,
                  provenance={"run_dir": str(pathlib.Path(run.run_dir).resolve())},
                  examples=run.held_out)
    runs.record_export(run.run_dir, run.record, path)
    run.export_path = path
    from serving import explain_report  # the run's report.html lists the export and its signatures

    explain_report.report_export(run.run_dir, path)
    return path
