"""One split of labelled examples, before it becomes a `tf.data.Dataset`.

Every source (bundled, TFDS, folders, CSV, .npz, domain formats) returns `Examples`, so that the
framework can split them (stratified, seeded), re-map their labels onto the training classes and
build the same tf.data input whatever the source. Three kinds, one interface:

- `ArrayExamples`: examples held in memory (a NumPy array, or a list of arrays of varying size).
- `FileExamples`: paths, decoded inside tf.data by the pipeline's `decode_file`.
- `DatasetExamples`: a `tf.data.Dataset` of (example, label) in a fixed order (TFDS), whose
  labels were read once so that it can be split and counted.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Examples:
    """Labelled examples; `labels[i]` is an index into the class names of the `SourceData`."""

    labels: np.ndarray  # (N,) int64
    origin: str  # where they came from, for messages and the run record

    def __len__(self):
        return len(self.labels)

    def take(self, indices) -> "Examples":
        raise NotImplementedError

    def dataset(self, decode_file=None):
        """A `tf.data.Dataset` of (example, label int64), unbatched, in order."""
        raise NotImplementedError

    def with_labels(self, labels) -> "Examples":
        return dataclasses.replace(self, labels=np.asarray(labels, np.int64))

    def source_files(self):
        """The file each example was read from (its header holds what decoding changes, such as
        an audio file's own sample rate), or None when the examples did not come from files."""
        return None


@dataclasses.dataclass
class ArrayExamples(Examples):
    inputs: np.ndarray | list = None  # (N, ...) array, or a list of N arrays of varying shape
    files: list | None = None  # N paths the inputs were decoded from, when they were files

    def take(self, indices):
        indices = np.asarray(indices, np.int64)
        if isinstance(self.inputs, np.ndarray):
            inputs = self.inputs[indices]
        else:
            inputs = [self.inputs[i] for i in indices]
        files = None if self.files is None else [self.files[i] for i in indices]
        return dataclasses.replace(self, inputs=inputs, labels=self.labels[indices], files=files)

    def source_files(self):
        return self.files

    def dataset(self, decode_file=None):
        import tensorflow as tf

        labels = self.labels.astype(np.int64)
        if isinstance(self.inputs, np.ndarray):
            return tf.data.Dataset.from_tensor_slices((self.inputs, labels))
        first = np.asarray(self.inputs[0])
        spec = tf.TensorSpec([None] * first.ndim, tf.as_dtype(first.dtype))

        def generate():
            yield from zip(self.inputs, labels)

        return tf.data.Dataset.from_generator(
            generate, output_signature=(spec, tf.TensorSpec([], tf.int64))
        )


@dataclasses.dataclass
class FileExamples(Examples):
    paths: list = None  # N file paths (str)

    def take(self, indices):
        indices = np.asarray(indices, np.int64)
        return dataclasses.replace(
            self, paths=[self.paths[i] for i in indices], labels=self.labels[indices]
        )

    def source_files(self):
        return self.paths

    def dataset(self, decode_file=None):
        import tensorflow as tf

        if decode_file is None:
            raise ValueError(f"{self.origin}: this pipeline cannot read files")
        paths = tf.data.Dataset.from_tensor_slices((list(self.paths), self.labels.astype(np.int64)))
        return paths.map(
            lambda path, label: (decode_file(path), label),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )


@dataclasses.dataclass
class DatasetExamples(Examples):
    source: object = None  # tf.data.Dataset of (example, label), deterministic order
    positions: np.ndarray | None = None  # (N,) sorted indices into `source` of this split

    def take(self, indices):
        indices = np.sort(np.asarray(indices, np.int64))  # filtering keeps source order
        positions = self.positions if self.positions is not None else np.arange(len(self.labels))
        return dataclasses.replace(self, positions=positions[indices], labels=self.labels[indices])

    def dataset(self, decode_file=None):
        """The source's examples at `positions`, zipped with `labels` (which may be re-mapped)."""
        import tensorflow as tf

        inputs = self.source.map(lambda x, y: x)
        if self.positions is not None:
            keep = np.zeros(int(self.positions[-1]) + 1 if len(self.positions) else 0, bool)
            keep[self.positions] = True
            keep = tf.constant(keep)
            limit = len(keep)
            inputs = (
                inputs.take(limit).enumerate().filter(lambda i, x: keep[i]).map(lambda i, x: x)
            )
        labels = tf.data.Dataset.from_tensor_slices(self.labels.astype(np.int64))
        return tf.data.Dataset.zip((inputs, labels))


@dataclasses.dataclass
class SourceData:
    """What a source yields: named splits ("train", "test", optional "val") and class names."""

    splits: dict
    class_names: list
    description: str

    def split(self, name):
        return self.splits.get(name)


def stratified_split(labels, fraction, seed):
    """Indices (kept, held_out) with `fraction` of each class held out, reproducibly.

    Every class with at least two examples keeps one and holds out at least one.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        rng.shuffle(members)
        count = int(round(len(members) * fraction))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        else:
            count = 0
        held.extend(members[:count])
        kept.extend(members[count:])
    return np.sort(np.asarray(kept, np.int64)), np.sort(np.asarray(held, np.int64))
