"""TFDS's mock examples for `tfds:` sources, read through the project's real loader."""
import pathlib


def prepared_metadata(name, data_dir, splits):
    """The builder of `name` with the metadata files TFDS writes when it prepares a data set
    (`splits`: {split name: examples}): `tfds.testing.mock_data(policy=USE_FILES)` needs them, or
    the mocked builder has no splits."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=str(data_dir), try_gcs=False)
    builder.info.set_splits(tfds.core.SplitDict(
        [tfds.core.SplitInfo(name=split, shard_lengths=[count], num_bytes=0) for split, count in splits.items()]))
    pathlib.Path(builder.data_dir).mkdir(parents=True)
    builder.info.write_to_directory(builder.data_dir)
    return builder
