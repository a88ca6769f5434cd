"""Trained runs for the explanation, visualisation and report tests, trained once per test
process (like tests/serving_exports.py): a digits run good enough for the deletion test, and
tiny runs of the other domains."""
import atexit
import functools
import pathlib
import shutil
import tempfile

import pytest

from factories import train_bundled

DIGITS = ["epochs=4", "filters=16,32,32", "dense_units=32"]  # 16x16 inputs; ~95% on bundled digits
TINY = {
    "audio": ["epochs=1", "bundled_per_class=4", "clip_seconds=0.25", "width=8", "n_mels=16"],
    "text": ["epochs=1", "bundled_size=200", "sequence_length=16", "filters=8", "embedding_dim=16",
             "max_tokens=500"],
    "volumes": ["epochs=1", "shape=16,16,16", "filters=4,8", "bundled_count=8", "batch_size=4", "max_shift=1"],
    "segment": ["epochs=1", "shape=16,16,16", "base_filters=4", "depth=2", "bundled_count=6", "batch_size=4"],
}


@functools.cache
def root():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="cnn-explain-tests-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def trained(name):
    """(pipeline, finished Run with its export) of `name` on its bundled data."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_SUITE_DATA", str(root() / "cache"))  # generated phantoms go here
        pipeline, run, _ = train_bundled(name, root() / name, DIGITS if name == "digits" else TINY[name])
    return pipeline, run
