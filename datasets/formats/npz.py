"""NumPy .npz archives: `x_train/y_train[/x_test/y_test/x_val/y_val]` or `train_images/train_labels`
(MedMNIST style); optional `class_names`."""
from __future__ import annotations

import numpy as np

from datasets import labels as class_labels
from datasets.examples import ArrayExamples, SourceData

_KEYS = {
    "train": [("x_train", "y_train"), ("train_images", "train_labels")],
    "test": [("x_test", "y_test"), ("test_images", "test_labels")],
    "val": [("x_val", "y_val"), ("val_images", "val_labels")],
}


def _read(path):
    """{name: array} of every array in the archive, or a ValueError naming `path` (empty,
    truncated or corrupt archive, object arrays, which would need pickle)."""
    import os
    import zipfile
    import zlib

    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise ValueError(f"{path}: a single .npy array, expected an .npz archive of named arrays")
            return {key: archive[key] for key in archive.files}
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz ({error})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as error:
        raise ValueError(f"{path}: not a readable .npz, truncated or corrupt "
                         f"({type(error).__name__}: {error})") from None


def _check_finite(x, origin):
    if np.issubdtype(x.dtype, np.inexact):
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise ValueError(f"{origin}: {bad} NaN/Inf value(s) of {x.size}")
    elif not (np.issubdtype(x.dtype, np.number) or x.dtype.kind in "bUS"):
        raise ValueError(f"{origin}: unsupported array type {x.dtype}")


def load(path):
    content = _read(path)
    found = {}
    for split, candidates in _KEYS.items():
        for x_key, y_key in candidates:
            if x_key in content and y_key in content:
                found[split] = (content[x_key], content[y_key].reshape(-1), f"{path} ({x_key})")
                break
    if "train" not in found:
        if "x" in content and "y" in content:
            found["all"] = (content["x"], content["y"].reshape(-1), str(path))
        else:
            keys = ", ".join(sorted(content))
            raise ValueError(f"{path}: expected arrays x_train/y_train (or x/y), found {keys or 'none'}")
    base = "train" if "train" in found else "all"
    for split, (x, y, origin) in found.items():
        if len(x) != len(y):
            raise ValueError(f"{origin}: {len(x)} examples but {len(y)} labels")
        _check_finite(x, origin)
        _check_finite(y, f"{origin} labels")
    values = np.unique(found[base][1])
    if "class_names" in content:
        class_names = [str(name) for name in content["class_names"]]
        if values.min() < 0 or values.max() >= len(class_names):
            raise ValueError(f"{path}: labels outside 0..{len(class_names) - 1} of class_names")
        lookup = {value: int(value) for value in values}
    else:
        by_name = {str(value): value for value in values}
        class_names = class_labels.class_order(by_name)
        lookup = {by_name[name]: i for i, name in enumerate(class_names)}
    splits = {}
    for split, (x, y, origin) in found.items():
        unknown = sorted(set(np.unique(y)) - set(lookup))
        if unknown:
            raise ValueError(f"{origin}: label '{unknown[0]}' not seen in training")
        labels = np.asarray([lookup[value] for value in y], np.int64)
        splits[split] = ArrayExamples(labels=labels, origin=origin, inputs=x)
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names, f"{path}: {counts} examples, {len(class_names)} classes")
