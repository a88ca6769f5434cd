"""MNIST in its original IDX format (`train-images-idx3-ubyte[.gz]` ...), as LeCun distributes it."""
from __future__ import annotations

import gzip
import pathlib

import numpy as np

from datasets.examples import ArrayExamples, SourceData

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder, stem):
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path):
    """An IDX file as a NumPy array (magic: two zero bytes, type 0x08 = uint8, rank)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    rank = data[3]
    if len(data) < 4 + 4 * rank:
        raise ValueError(f"{path}: truncated IDX file (header)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * rank)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path}: truncated IDX file ({values.size} of {int(np.prod(shape))} values)")
    return values.reshape(shape)


def detect(path):
    """SourceData if `path` is a folder holding MNIST IDX files, else None."""
    folder = pathlib.Path(path)
    if not folder.is_dir() or _find(folder, _FILES["train"][0]) is None:
        return None
    splits = {}
    for split, (images_stem, labels_stem) in _FILES.items():
        images_path, labels_path = _find(folder, images_stem), _find(folder, labels_stem)
        if images_path is None:
            continue
        if labels_path is None:
            raise FileNotFoundError(f"{folder}: {images_path.name} has no {labels_stem}[.gz]")
        images, labels = read_idx(images_path), read_idx(labels_path).astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f"{images_path}: {len(images)} images but {len(labels)} labels")
        splits[split] = ArrayExamples(labels=labels, origin=str(images_path), inputs=images[..., None])
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, [str(i) for i in range(10)], f"{folder} (MNIST IDX): {counts}")
