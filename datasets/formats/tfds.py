"""TensorFlow Datasets sources (`tfds:NAME`), offline-safe: no Google Cloud lookups.

TFDS otherwise keeps trying GCS when offline (tensorflow/datasets #3962, #2400), so
`try_gcs=False` and `DownloadConfig(try_download_gcs=False)` are always passed.
"""
from __future__ import annotations

import numpy as np

from datasets.examples import DatasetExamples, SourceData

_SPLITS = {"train": "train", "test": "test", "validation": "val"}


def load(name, data_dir=None):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False)
        )
    except Exception as error:  # TFDS raises many kinds; the user needs the first line
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"tfds:{name}: {message}") from None
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise ValueError(f"tfds:{name}: has no (input, label) supervised keys")
    label_feature = builder.info.features[keys[1]]
    class_names = list(getattr(label_feature, "names", None) or [])
    splits = {}
    for tfds_split, split in _SPLITS.items():
        if tfds_split not in builder.info.splits:
            continue
        data = builder.as_dataset(split=tfds_split, as_supervised=True, shuffle_files=False)
        labels = np.concatenate(
            [batch for batch in data.map(lambda x, y: y).batch(8192).as_numpy_iterator()]
        ).astype(np.int64)
        splits[split] = DatasetExamples(labels=labels, origin=f"tfds:{name} {tfds_split}", source=data)
    if "train" not in splits:
        raise ValueError(f"tfds:{name}: has no train split")
    if not class_names:
        class_names = [str(i) for i in range(int(splits["train"].labels.max()) + 1)]
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names, f"tfds:{name}: {counts} examples, {len(class_names)} classes")
