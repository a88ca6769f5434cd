"""README promise (issue 19): `tfds:NAME` sources through the real loader
(datasets/formats/tfds.py, and audio's tfds_source) under `tfds.testing.mock_data`, with no patch
of ours: mnist (digits), imdb_reviews (text), speech_commands (audio). The batches a pipeline
builds from them are compared with what TFDS itself yields for the same mock examples."""

import numpy as np
import tensorflow_datasets as tfds

from factories import make_pipeline
from pipelines.core import sources
from tfds_mocks import prepared_metadata


COUNT = 6  # mock examples per split
SAMPLES = 8  # audio clip length for speech_commands


def load_mocked(name, pipeline, data_dir, splits):
    """(SourceData read by the project, TFDS's own (inputs, labels) of the train split, builder)."""
    builder = prepared_metadata(name, data_dir, {split: COUNT for split in splits})
    with tfds.testing.mock_data(num_examples=COUNT, data_dir=str(data_dir),
                                policy=tfds.testing.MockPolicy.USE_FILES):
        data = sources.load(pipeline, f"tfds:{name}", data_dir=str(data_dir))
        raw = list(tfds.load(name, split="train", as_supervised=True, data_dir=str(data_dir),
                             try_gcs=False, shuffle_files=False).as_numpy_iterator())
        batches = list(pipeline.input_dataset(data.split("train"), 4).as_numpy_iterator())
    inputs = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    return data, (raw, builder), (inputs, labels, [x.shape[0] for x, _ in batches])


def check_labels_and_names(data, builder, labels, raw):
    names = builder.info.features[builder.info.supervised_keys[1]].names
    assert data.class_names == names
    assert labels.dtype == np.int64 and labels.tolist() == [int(y) for _, y in raw]
    assert all(0 <= y < len(names) for y in labels)
    assert data.split("train").labels.tolist() == labels.tolist()


def test_mnist_batches_are_tfds_images(tmp_path):
    pipeline = make_pipeline("digits", "image_size=28")  # MNIST's own size: no resizing
    data, (raw, builder), (images, labels, sizes) = load_mocked("mnist", pipeline, tmp_path, ("train", "test"))
    assert {name: len(e) for name, e in data.splits.items()} == {"train": COUNT, "test": COUNT}
    assert sizes == [4, 2] and images.shape == (COUNT, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, np.stack([x for x, _ in raw]))
    check_labels_and_names(data, builder, labels, raw)


def test_imdb_reviews_batches_are_tfds_texts(tmp_path):
    pipeline = make_pipeline("text")
    data, (raw, builder), (texts, labels, sizes) = load_mocked("imdb_reviews", pipeline, tmp_path, ("train", "test"))
    assert set(data.splits) == {"train", "test"} and data.class_names == ["neg", "pos"]
    assert sizes == [4, 2] and texts.shape == (COUNT,) and texts.dtype == object
    assert texts.tolist() == [x for x, _ in raw]
    check_labels_and_names(data, builder, labels, raw)


def test_speech_commands_batches_are_scaled_clips_of_the_model_length(tmp_path):
    """16 kHz as the pipeline: streamed, int16 scaled to [-1, 1) and centred in the clip (the
    middle cut out, or zeros on both sides)."""
    pipeline = make_pipeline("audio", "clip_seconds=0.0005")  # 8 samples: the mock clips (7-43) are cut and padded
    data, (raw, builder), (clips, labels, sizes) = load_mocked(
        "speech_commands", pipeline, tmp_path, ("train", "validation", "test"))
    assert {name: len(e) for name, e in data.splits.items()} == {"train": COUNT, "val": COUNT, "test": COUNT}
    assert sizes == [4, 2] and clips.shape == (COUNT, SAMPLES) and clips.dtype == np.float32
    assert min(len(a) for a, _ in raw) < SAMPLES < max(len(a) for a, _ in raw)  # both cases
    for clip, (audio, _) in zip(clips, raw):
        assert audio.dtype == np.int16
        scaled = audio.astype(np.float32) / 32768
        if len(scaled) >= SAMPLES:
            start = (len(scaled) - SAMPLES) // 2
            expected = scaled[start:start + SAMPLES]
        else:
            left = (SAMPLES - len(scaled)) // 2
            expected = np.pad(scaled, (left, SAMPLES - len(scaled) - left))
        np.testing.assert_array_equal(clip, expected)
    check_labels_and_names(data, builder, labels, raw)
