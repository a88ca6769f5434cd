"""The train/val/test splits of a run from read `SourceData`, and labels aligned across sources."""
from __future__ import annotations

import dataclasses
import numpy as np

from datasets.examples import stratified_split
from datasets.labels import check_names


def align(data, class_names):
    """`data` with its labels re-numbered onto `class_names` (the training classes)."""
    if list(data.class_names) == list(class_names):
        return data
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    for split, examples in data.splits.items():
        present = sorted({data.class_names[i] for i in np.unique(examples.labels)})
        unknown = [name for name in present if name not in index]
        if unknown:
            raise ValueError(
                f"{examples.origin}: label '{unknown[0]}' not seen in training "
                f"(classes: {', '.join(class_names)})"
            )
        mapping = np.asarray([index.get(name, -1) for name in data.class_names], np.int64)
        splits[split] = examples.with_labels(mapping[examples.labels])
    return dataclasses.replace(data, splits=splits, class_names=list(class_names))


@dataclasses.dataclass
class Splits:
    train: object
    val: object  # Examples or None
    test: object
    class_names: list
    record: dict  # how the splits were made, for config.json


def make_splits(data, test_data, config):
    """Train/val/test Examples: given splits where the sources have them, else stratified hold-outs.

    The hold-outs are seeded with `config.seed` and their sizes come from `config.test_fraction`
    and `config.validation_fraction`; what was done is returned in `record`.
    """
    check_names(data.class_names, data.description)
    train = data.split("train") or data.split("all")
    if train is None:
        raise ValueError(f"{data.description}: no training examples (expected a train split)")
    record = {"data": data.description, "seed": config.seed}
    if test_data is not None:
        test_data = align(test_data, data.class_names)
        test = test_data.split("test") or test_data.split("all") or test_data.split("train")
        record["test"] = f"--test-data {test.origin}"
    elif data.split("test") is not None:
        test = data.split("test")
        record["test"] = f"given split {test.origin}"
    else:
        kept, held = stratified_split(train.labels, config.test_fraction, config.seed)
        test, train = train.take(held), train.take(kept)
        record["test"] = f"stratified hold-out of {config.test_fraction:g} (seed {config.seed})"
        record["test_indices"] = held.tolist()
    val = data.split("val")
    if val is not None:
        record["val"] = f"given split {val.origin}"
    elif config.validation_fraction > 0:
        kept, held = stratified_split(train.labels, config.validation_fraction, config.seed + 1)
        val, train = train.take(held), train.take(kept)
        record["val"] = f"stratified hold-out of {config.validation_fraction:g} (seed {config.seed + 1})"
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"{train.origin}: too few examples to hold out a test split")
    record["counts"] = {"train": len(train), "val": len(val) if val is not None else 0, "test": len(test)}
    return Splits(train, val, test, list(data.class_names), record)
