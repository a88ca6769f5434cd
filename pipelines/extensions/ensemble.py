"""Ensembles: several runs of one recipe (different seeds) served as one SavedModel.

On small data sets a single run's test score moves by more than the effect being measured (FSDD:
one of 300 held-out clips is 0.33 points, and runs of one setting differ by several clips).
Averaging the probabilities of independently trained networks removes the errors that only
some members make. Each member keeps its own preprocessing inside its graph, so the ensemble
takes what one run's export takes and has the same signatures and outputs.

Members must be the same pipeline with the same config apart from `seed`, trained on the same
data (the same path, or files with the same bytes) and tested on the same test split: the
ensemble is evaluated on that split, and a test example that was another member's training
example would inflate the score.
"""
from __future__ import annotations

import functools
import pathlib

import keras
import tensorflow as tf

from pipelines.core import files, runs


class MeanProbabilities(keras.layers.Layer):
    """The mean of the members' outputs (each a served input -> probabilities model)."""

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        self.members = list(members)

    def call(self, x):
        outputs = [tf.cast(member(x, training=False), tf.float32) for member in self.members]
        return tf.add_n(outputs) / float(len(outputs))

    def compute_output_shape(self, input_shape):
        return self.members[0].compute_output_shape(input_shape)


@functools.lru_cache(maxsize=64)
def _digest(path, size, modified_ns):
    """sha256 of a file; cached per (path, size, mtime): members are compared with the first run
    one by one, and a changed file gets a new key."""
    return files.sha256(path)


def same_source(a, b):
    """Whether two runs' data arguments name the same data: the same string, or two files with
    the same bytes (a benchmark copies its data into each run's own folder)."""
    if a == b:
        return True
    if not (a and b and pathlib.Path(a).is_file() and pathlib.Path(b).is_file()):
        return False
    stats = [pathlib.Path(path).stat() for path in (a, b)]
    if stats[0].st_size != stats[1].st_size:
        return False
    return _digest(a, stats[0].st_size, stats[0].st_mtime_ns) == _digest(b, stats[1].st_size, stats[1].st_mtime_ns)


def _as_first(text, record, first):
    """`text` with the record's data paths written as the first run's (once they are known to
    hold the same bytes), so that split descriptions compare what was split, not where."""
    for key in ("data", "test_data"):
        if record.get(key) and first.get(key):
            text = text.replace(record[key], first[key])
    return text


def check_members(run_dirs):
    """(the run records of `run_dirs`, the first run's Pipeline), after checking that the runs
    can form one ensemble."""
    from pipelines.core.settings import flat

    if len(run_dirs) < 2:
        raise ValueError("an ensemble needs at least two run folders")
    records, seen = [], {}
    for run_dir in run_dirs:
        record = runs.read_record(run_dir)
        model_file = runs.finished_model(run_dir)
        stat = model_file.stat()
        for key in (("folder", pathlib.Path(run_dir).resolve()),
                    ("model", _digest(str(model_file.resolve()), stat.st_size, stat.st_mtime_ns))):
            if key in seen:
                same = "the same run as" if key[0] == "folder" else "a copy of the model of"
                raise ValueError(f"{run_dir}: {same} {seen[key]}; an ensemble needs different runs")
            seen[key] = run_dir
        records.append(record)
    first, pipeline = records[0], runs.pipeline_from_record(records[0])
    first_config = flat(pipeline.config)
    for run_dir, record in zip(run_dirs[1:], records[1:]):
        if record["pipeline"] != first["pipeline"]:
            raise ValueError(f"{run_dir}: pipeline {record['pipeline']}, but {run_dirs[0]} is {first['pipeline']}")
        if record["class_names"] != first["class_names"]:
            raise ValueError(f"{run_dir}: classes {record['class_names']} differ from {run_dirs[0]}'s")
        config = flat(runs.pipeline_from_record(record).config)
        differ = sorted(key for key in config if key != "seed" and config[key] != first_config.get(key))
        if differ:
            raise ValueError(f"{run_dir}: config differs from {run_dirs[0]}'s in {', '.join(differ)} "
                             "(members may differ only in seed)")
        for key in ("data", "test_data"):
            if not same_source(record.get(key), first.get(key)):
                raise ValueError(f"{run_dir}: trained on {key} {record.get(key)}, {run_dirs[0]} on {first.get(key)}")
        split, first_split = record["splits"], first["splits"]
        test = _as_first(split["test"], record, first)
        if (test, split.get("test_indices")) != (first_split["test"], first_split.get("test_indices")):
            raise ValueError(f"{run_dir}: its test split ({split['test']}) is not {run_dirs[0]}'s "
                             f"({first_split['test']}); a seeded hold-out differs per seed, so give the "
                             "runs the same --test-data or a source with its own test split")
    return records, pipeline


def build(run_dirs):
    """(pipeline, the first run's record, the ensemble Keras model: served input -> mean
    probabilities)."""
    records, pipeline = check_members(run_dirs)
    members = [runs.load_model(pipeline, runs.finished_model(run_dir)) for run_dir in run_dirs]
    spec = pipeline.input_spec()
    inputs = keras.Input(shape=tuple(spec.shape), dtype=spec.dtype.name, name=pipeline.input_name)
    outputs = MeanProbabilities(members, name="mean_probabilities")(inputs)
    return pipeline, records[0], keras.Model(inputs, outputs, name=f"{pipeline.name}_ensemble")


def evaluate_runs(run_dirs):
    """(pipeline, record, ensemble model, the common test examples, the ensemble's test metrics)."""
    from pipelines.engine import training

    pipeline, record, model = build(run_dirs)
    examples = runs.splits_of(pipeline, record).test  # the members' common test split
    metrics = training.evaluate(pipeline, model.predict_on_batch, examples, record["class_names"])
    return pipeline, record, model, examples, metrics
