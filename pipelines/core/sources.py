"""SOURCE strings -> `SourceData`, read with a pipeline's domain hooks; a run's splits.

SOURCE is `bundled` (the pipeline's offline data), `tfds:NAME` (TensorFlow Datasets, with
`data_dir`), or a path: a domain format the pipeline recognises (`Pipeline.read_path`, e.g. MNIST
IDX files), a `.npz` archive, a CSV manifest `path,label[,split]`, a folder holding `train/` and
`test/` (optionally `val/`) of class folders, or one folder of class folders. The readers in
`datasets/` know no pipeline; the choice among them, which needs the pipeline, is made here.
"""
from __future__ import annotations

import pathlib

from datasets import folders, splits
from datasets.formats import npz, tfds


def load(pipeline, source, data_dir=None):
    """The `SourceData` for a SOURCE string, read with `pipeline`'s domain hooks."""
    source = (source or "bundled").strip()
    claimed = pipeline.read_source(source, data_dir)
    if claimed is not None:
        return claimed
    if source == "bundled":
        return pipeline.bundled()
    if source.startswith("tfds:"):
        return tfds.load(source[len("tfds:"):], data_dir=data_dir)
    path = pathlib.Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{source}: no such file or folder (SOURCE is bundled, tfds:NAME or a path)")
    special = pipeline.read_path(path)
    if special is not None:
        return special
    if path.is_file() and path.suffix.lower() == ".npz":
        arrays = npz.load(path)
        for examples in arrays.splits.values():
            pipeline.check_arrays(examples.inputs, examples.origin)
        return arrays
    return folders.load(path, tuple(pipeline.file_extensions), pipeline.check_file)


def load_splits(pipeline, data, test_data=None, data_dir=None):
    """The train/val/test `Splits` of SOURCE `data` (and `test_data`), seeded by the config."""
    source = load(pipeline, data, data_dir)
    test_source = load(pipeline, test_data, data_dir) if test_data else None
    return splits.make_splits(source, test_source, pipeline.config)
