"""One way to open what training produced: a run folder or an export.

    artifact = artifacts.open(path)     # a run folder (config.json, model.keras) or an export
                                        # version folder (saved_model.pb, its metadata)
    artifact.kind                       # RUN or EXPORT
    artifact.record                     # config.json, or the export's metadata: class_names, config...
    artifact.pipeline                   # the Pipeline with its recorded config
    artifact.predict(batch)             # served inputs (N, ...) -> probabilities, as NumPy
    artifact.probabilities(x)           # the same on tensors, differentiable in x (attacks)
    artifact.model                      # a run folder's Keras model; None for an export
    artifact.saved_model                # an export's loaded SavedModel; None for a run folder

The pipeline and the model are made on first use: a command checks its other arguments first,
and `cnn predict` imports a pipeline only when the export needs its code. Every command that
reads a model opens it here, so "run folder or export?" is decided only here.
"""
from __future__ import annotations

import functools
import pathlib

from pipelines.core import runs
from serving import export, signatures

RUN, EXPORT = "run folder", "export"


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
        """The export's loaded SavedModel (it owns the variables); None for a run folder."""
        if self.kind != EXPORT:
            return None
        import tensorflow as tf

        return tf.saved_model.load(str(self.path))

    def load(self):
        """Load the model now, not on first use inside a traced tf.function (where a model
        cannot be loaded); the artifact."""
        _ = self.model if self.kind == RUN else self.saved_model
        return self

    def signature(self, name="serving_default"):
        """The export's signature `name` as a function of a NumPy batch (serving/signatures.py):
        `serving_default` takes the served input, `<input>_bytes` encoded files."""
        key = self.record["input"] if name == "serving_default" else name
        return signatures.caller(self.saved_model, key, name)

    def predict(self, batch):
        """Probabilities (N, ..., classes) of a batch of served inputs, as NumPy."""
        if self.kind == RUN:
            return self.model.predict_on_batch(batch)
        return self.signature()(batch)["probabilities"]

    def probabilities(self, x):
        """Probabilities of a tensor batch of served inputs, differentiable in `x`: an export's
        `serving_default` keeps our layers' custom gradients in its graph."""
        if self.kind == RUN:
            return self.model(x, training=False)
        import tensorflow as tf

        function = self.saved_model.signatures["serving_default"]
        name = self.record["input"]
        dtype = function.structured_input_signature[1][name].dtype
        return function(**{name: tf.cast(x, dtype)})["probabilities"]


def kind_of(path):
    """RUN or EXPORT; FileNotFoundError when `path` is neither."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return EXPORT
    if (path / runs.CONFIG).is_file():
        return RUN
    raise FileNotFoundError(f"{path}: neither a run folder nor a SavedModel export")


def open(path, kind=None):  # noqa: A001  (`artifacts.open`, the loader's one verb)
    """The run folder or export at `path`. `kind` takes only that one, refused with its reader's
    message: EXPORT (not a cnn-suite export), RUN (not a run folder; the run has not finished:
    the commands that ask for a run folder use its model)."""
    found = kind or kind_of(path)
    if found == EXPORT:
        return Artifact(path, EXPORT, export.read_metadata(path))
    record = runs.read_record(path)
    if kind == RUN:
        runs.finished_model(path)
    return Artifact(path, RUN, record)
