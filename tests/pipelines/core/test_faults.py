"""Lost work: a failed write leaves the previous backup whole; a corrupt or partial backup is
detected on resume, which falls back to the last good one and says so."""
import errno
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import cli
import pipelines
from pipelines.core import files
from pipelines.engine import checkpoints, training
from pipelines.core.config import override


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


DATA = (np.random.default_rng(0).normal(size=(16, 3)).astype("float32"), np.arange(16) % 2)


class Stop(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt  # as a kill: the backup of this epoch is written, fit stops


def _interrupted(backup_dir, after=3):
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(*DATA, epochs=5, verbose=0, callbacks=[checkpoints.Backup(backup_dir), Stop(after)])
    return model


def _resume(backup_dir):
    said, epochs = [], []
    model = _model()
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    model.fit(*DATA, epochs=5, verbose=0, callbacks=[checkpoints.Backup(backup_dir, say=said.append), record])
    return said, epochs


def test_backup_resumes_from_the_latest_when_it_is_whole(tmp_path):
    _interrupted(tmp_path / "backup")
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 3
    said, epochs = _resume(tmp_path / "backup")
    assert said == [] and epochs == [3, 4]
    assert not (tmp_path / "backup").exists()  # removed when training ends, as Keras does


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corrupt_latest_backup_falls_back_to_the_previous_and_says_so(tmp_path, damage):
    _interrupted(tmp_path / "backup")
    latest = tmp_path / "backup" / "latest.weights.h5"
    data = latest.read_bytes()
    if damage == "truncate":
        latest.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        latest.write_bytes(data[:-100] + bytes(b ^ 0xFF for b in data[-100:]))
    else:
        latest.unlink()
    said, epochs = _resume(tmp_path / "backup")
    assert epochs == [2, 3, 4]  # from the previous backup, after epoch 2
    assert len(said) == 1 and "resuming from the last good backup (previous.weights.h5, after epoch 2)" in said[0]


def test_no_usable_backup_trains_from_the_first_epoch_and_says_so(tmp_path):
    _interrupted(tmp_path / "backup")
    for name in ("latest.weights.h5", "previous.weights.h5"):
        (tmp_path / "backup" / name).write_bytes(b"\0" * 100)
    said, epochs = _resume(tmp_path / "backup")
    assert epochs == [0, 1, 2, 3, 4]
    assert len(said) == 1 and "no usable backup (" in said[0] and said[0].endswith("; training from the first epoch")


def test_a_failed_backup_write_leaves_the_last_backup_whole(tmp_path, monkeypatch):
    """A full disk in the middle of writing the weights: the error propagates, the previous
    backup is untouched, no temporary file is left, and resume uses it."""
    backup = tmp_path / "backup"
    _interrupted(backup, after=2)
    before = {p.name: p.read_bytes() for p in backup.iterdir()}

    def full_disk(self, filepath, overwrite=True, **kwargs):
        with open(filepath, "wb") as stream:
            stream.write(b"\x89HDF partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    model = _model()
    callback = checkpoints.Backup(backup)
    monkeypatch.setattr(keras.Model, "save_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        model.fit(*DATA, epochs=5, verbose=0, callbacks=[callback])
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == before
    said, epochs = _resume(backup)
    assert said == [] and epochs == [2, 3, 4]


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "config.json"
    files.write_text(path, "old")

    def failing(temporary):
        temporary.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_write(path, failing)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_resume_after_a_truncated_backup_through_the_cli(tmp_path):
    """`cnn train --resume` on a run killed after its third epoch, whose latest backup was cut
    short (a full disk): it says so, resumes after epoch 2 and finishes."""
    run_dir = tmp_path / "run"
    pipeline = pipelines.get("digits")(override(pipelines.get("digits").Config(),
                                                ["image_size=8", "epochs=4"]))
    with pytest.raises(KeyboardInterrupt):
        training.train(pipeline, run_dir=run_dir, callbacks=[Stop(3)], verbose=0)
    latest = run_dir / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:1000])
    result = CliRunner().invoke(cli.main, ["train", "digits", "--resume", "--run-dir", str(run_dir),
                                           "--export-dir", str(tmp_path / "exports")])
    assert result.exit_code == 0, result.output
    assert "resuming from the last good backup (previous.weights.h5, after epoch 2)" in result.output
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]][-2:] == ["2", "3"]
    assert (run_dir / "model.keras").is_file() and not (run_dir / "backup").exists()


def test_a_nearly_full_disk_is_an_oserror_before_h5py_writes(tmp_path, monkeypatch):
    """h5py crashes the process (SIGSEGV) when its write meets a full disk (seen on a 200 KB
    tmpfs): the backup and checkpoints check for room first and raise ENOSPC instead."""
    import collections
    import shutil

    backup = tmp_path / "backup"
    _interrupted(backup, after=2)
    before = {p.name: p.read_bytes() for p in backup.iterdir()}
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(OSError, match="No space left on device: 1000 bytes free") as caught:
        _model().fit(*DATA, epochs=5, verbose=0, callbacks=[checkpoints.Backup(backup)])
    assert caught.value.errno == errno.ENOSPC
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == before
    with pytest.raises(OSError, match="No space left on device"):
        checkpoints.save_model(_model(), tmp_path / "model.keras")
    assert not (tmp_path / "model.keras").exists()
