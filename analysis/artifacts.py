"""One way to open what training produced: a run folder, a SavedModel export or a format export.

    artifact = artifacts.open(path)     # a run folder (config.json, model.keras), an export
                                        # version folder (saved_model.pb, its metadata), or a
                                        # LiteRT/ONNX export (model.tflite/.onnx or its version folder)
    artifact.kind                       # RUN, EXPORT or FORMAT
    artifact.record                     # config.json, or the export's metadata: class_names, config...
    artifact.pipeline                   # the Pipeline with its recorded config
    artifact.predict(batch)             # served inputs (N, ...) -> probabilities, as NumPy
    artifact.probabilities(x)           # the same on tensors, differentiable in x (attacks)
    artifact.model                      # a run folder's Keras model; None for an export
    artifact.saved_model                # a SavedModel export's loaded SavedModel; None for the others
    artifact.runtime                    # a format export's serving.formats.runtime.Export; None otherwise

The pipeline and the model are made on first use: a command checks its other arguments first,
and `cnn predict` imports a pipeline only when the export needs its code. Every command that
reads a model opens it here, so "run folder, SavedModel or LiteRT/ONNX file?" is decided only
here. A format export is read by its own runtime (LiteRT's interpreter, ONNX Runtime), so
`cnn evaluate` measures the file that ships.
"""
from __future__ import annotations

import functools
import json
import pathlib

from pipelines.core import runs
from serving import export, formats, signatures
from serving.formats import runtime as format_runtime

RUN, EXPORT, FORMAT = "run folder", "export", "format export"


class Artifact:
    """A run folder or an export, read back; see the module docstring."""

    def __init__(self, path, kind, record):
        self.path, self.kind, self.record = pathlib.Path(path), kind, record

    @property
    def class_names(self):
        return self.record["class_names"]

    @functools.cached_property
    def pipeline(self):
        return runs.pipeline_from_record(self.record)

    @functools.cached_property
    def model(self):
        """The run's Keras model (served input -> probabilities); None for an export.
        FileNotFoundError naming the run folder when the run has not finished."""
        return runs.load_model(self.pipeline, runs.finished_model(self.path)) if self.kind == RUN else None

    @functools.cached_property
    def saved_model(self):
        """The export's loaded SavedModel (it owns the variables); None for the other kinds."""
        if self.kind != EXPORT:
            return None
        import tensorflow as tf

        return tf.saved_model.load(str(self.path))

    @functools.cached_property
    def runtime(self):
        """The format export's file in its runtime (batch -> probabilities); None for the others."""
        if self.kind != FORMAT:
            return None
        try:
            return format_runtime.Export(self.path)
        except ImportError as error:
            raise ValueError(f"{self.path}: reading it needs {error.name}, in the optional extra formats "
                             f"(pip install -e '.[formats]')") from None

    def load(self):
        """Load the model now, not on first use inside a traced tf.function (where a model
        cannot be loaded); the artifact."""
        _ = self.model, self.saved_model, self.runtime  # each is None unless it is this kind's
        return self

    def signature(self, name="serving_default"):
        """The export's signature `name` as a function of a NumPy batch (serving/signatures.py):
        `serving_default` takes the served input, `<input>_bytes` encoded files. A run folder or a
        format export has only `serving_default`, its outputs made from the model's probabilities."""
        if self.kind != EXPORT:
            if name != "serving_default":
                raise ValueError(f"{self.path}: a {self.record.get('format', 'run folder')} has no {name} input")
            return self.serve
        key = self.record["input"] if name == "serving_default" else name
        return signatures.caller(self.saved_model, key, name)

    def serve(self, batch):
        """A run's or format export's serving outputs of a batch, as the SavedModel's serving_default
        gives them: probabilities, class_id (argmax of the last axis), label (class names, bytes)."""
        import numpy as np

        probabilities = np.asarray(self.predict(batch))
        class_id = probabilities.argmax(-1).astype(np.int32)
        labels = np.asarray([name.encode() for name in self.class_names], dtype=object)
        return {"probabilities": probabilities, "class_id": class_id, "label": labels[class_id]}

    def predict(self, batch):
        """Probabilities (N, ..., classes) of a batch of served inputs, as NumPy."""
        if self.kind == RUN:
            return self.model.predict_on_batch(batch)
        if self.kind == FORMAT:
            return self.runtime(batch)
        return self.signature()(batch)["probabilities"]

    def probabilities(self, x):
        """Probabilities of a tensor batch of served inputs, differentiable in `x`: an export's
        `serving_default` keeps our layers' custom gradients in its graph."""
        if self.kind == RUN:
            return self.model(x, training=False)
        if self.kind == FORMAT:
            raise ValueError(f"{self.path}: a {self.record['format']} export has no gradients; "
                             f"give its run folder or SavedModel export")
        import tensorflow as tf

        function = self.saved_model.signatures["serving_default"]
        name = self.record["input"]
        dtype = function.structured_input_signature[1][name].dtype
        return function(**{name: tf.cast(x, dtype)})["probabilities"]


def kind_of(path):
    """RUN, EXPORT or FORMAT; FileNotFoundError when `path` is none of them."""
    path = pathlib.Path(path)
    if format_runtime.is_export(path):
        return FORMAT
    if (path / "saved_model.pb").is_file():
        return EXPORT
    if (path / runs.CONFIG).is_file():
        return RUN
    raise FileNotFoundError(f"{path}: neither a run folder nor an export (SavedModel, .tflite or .onnx)")


def open(path, kind=None):  # noqa: A001  (`artifacts.open`, the loader's one verb)
    """The run folder or export at `path`. `kind` takes only that one, refused with its reader's
    message: EXPORT (any export: SavedModel or format; not a cnn-suite export), RUN (not a run
    folder; the run has not finished: the commands that ask for a run folder use its model)."""
    found = kind or kind_of(path)
    if found == EXPORT and format_runtime.is_export(path):
        found = FORMAT
    if found == FORMAT:
        folder = format_runtime.model_file(path).parent
        return Artifact(folder, FORMAT, json.loads((folder / formats.METADATA).read_text()))
    if found == EXPORT:
        return Artifact(path, EXPORT, export.read_metadata(path))
    record = runs.read_record(path)
    if kind == RUN:
        runs.finished_model(path)
    return Artifact(path, RUN, record)
