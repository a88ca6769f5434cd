"""Lost work: a failed write leaves the previous backup whole; a corrupt or partial backup is
detected on resume, which falls back to the last good one and says so (naming what was wrong);
every write is on disk before it replaces the file it updates."""
import collections
import errno
import hashlib
import json
import os
import pathlib
import shutil

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


def test_no_usable_backup_names_each_problem(tmp_path):
    backup = tmp_path / "backup"
    _interrupted(backup)
    for name in ("latest.weights.h5", "previous.weights.h5"):
        (backup / name).write_bytes(b"\0" * 100)
    said, _ = _resume(backup)
    assert said == [f"backup {backup}: no usable backup (training_metadata.json: its weights (epoch 3) are missing "
                    "or do not match (corrupt or partial); previous_training_metadata.json: its weights (epoch 2) "
                    "are missing or do not match (corrupt or partial)); training from the first epoch"]


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


def test_each_backup_records_its_epoch_as_keras_does_and_its_weights_digest(tmp_path):
    """Keras's metadata (`epoch` done, `batch` 0 at an epoch's end) plus the SHA-256 of the
    weights file written with it, for the latest pair and the previous one."""
    backup = tmp_path / "backup"
    _interrupted(backup)
    for metadata, weights, epoch in (("training_metadata.json", "latest.weights.h5", 3),
                                     ("previous_training_metadata.json", "previous.weights.h5", 2)):
        digest = hashlib.sha256((backup / weights).read_bytes()).hexdigest()
        assert json.loads((backup / metadata).read_text()) == {"epoch": epoch, "batch": 0, "weights_sha256": digest}
    assert sorted(p.name for p in backup.iterdir()) == [
        "latest.weights.h5", "previous.weights.h5", "previous_training_metadata.json", "training_metadata.json"]


def test_a_corrupt_latest_backup_is_named_in_the_message(tmp_path):
    backup = tmp_path / "backup"
    _interrupted(backup)
    latest = backup / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:1000])
    said, epochs = _resume(backup)
    assert epochs == [2, 3, 4]
    assert said == [f"backup {backup}: training_metadata.json: its weights (epoch 3) are missing or do not match "
                    "(corrupt or partial); resuming from the last good backup (previous.weights.h5, after epoch 2)"]


def test_a_corrupt_previous_backup_is_reported_and_the_whole_latest_used(tmp_path):
    backup = tmp_path / "backup"
    _interrupted(backup)
    (backup / "previous.weights.h5").write_bytes(b"\0" * 100)
    said, epochs = _resume(backup)
    assert epochs == [3, 4]
    assert said == [f"backup {backup}: previous_training_metadata.json: its weights (epoch 2) are missing or do "
                    "not match (corrupt or partial); resuming from the last good backup (latest.weights.h5, after "
                    "epoch 3)"]


def _resumed_from_the_previous_pair(tmp_path, damage, plain_keras=False):
    """(backup folder, what resume said) after `damage(backup)` on an interrupted run's backup;
    the run must go on from the previous pair (after epoch 2)."""
    backup = tmp_path / "backup"
    _interrupted(backup)
    if plain_keras:
        _as_plain_keras(backup)
    damage(backup)
    said, epochs = _resume(backup)
    assert epochs == [2, 3, 4]
    return backup, said


def test_a_missing_latest_metadata_resumes_from_the_previous_pair_and_says_so(tmp_path):
    """A kill between the two renames of a save: the new weights are in place, their metadata not."""
    backup, said = _resumed_from_the_previous_pair(tmp_path, lambda b: (b / "training_metadata.json").unlink())
    assert said == [f"backup {backup}: the latest is incomplete; resuming from the last good backup "
                    "(previous.weights.h5, after epoch 2)"]


@pytest.mark.parametrize("text, reason", [("{not json", "not JSON: Expecting property name enclosed in double quotes "
                                                       "at line 1"),
                                          ('{"batch": 0}', "no epoch recorded"),
                                          ('{"epoch": null}', "its epoch is not a whole number"),
                                          ('{"epoch": "three"}', "its epoch is not a whole number")])
def test_unreadable_latest_metadata_falls_back_to_the_previous_pair(tmp_path, text, reason):
    backup, said = _resumed_from_the_previous_pair(tmp_path, lambda b: (b / "training_metadata.json").write_text(text))
    assert said == [f"backup {backup}: training_metadata.json: unreadable ({reason}); resuming from the last good "
                    "backup (previous.weights.h5, after epoch 2)"]


def test_latest_metadata_of_binary_garbage_is_named_not_text(tmp_path):
    backup, said = _resumed_from_the_previous_pair(
        tmp_path, lambda b: (b / "training_metadata.json").write_bytes(b"\xff\xfe\x00\x81"))
    assert said == [f"backup {backup}: training_metadata.json: unreadable (not text); resuming from the last good "
                    "backup (previous.weights.h5, after epoch 2)"]


def _as_plain_keras(backup):
    """The backup as Keras's own BackupAndRestore writes it: metadata without a digest."""
    for name in ("training_metadata.json", "previous_training_metadata.json"):
        record = json.loads((backup / name).read_text())
        del record["weights_sha256"]
        (backup / name).write_text(json.dumps(record))


def test_a_plain_keras_backup_resumes_from_its_own_pair(tmp_path):
    backup = tmp_path / "backup"
    _interrupted(backup)
    _as_plain_keras(backup)
    said, epochs = _resume(backup)
    assert said == [] and epochs == [3, 4]


def test_a_plain_keras_backup_that_does_not_load_falls_back_and_says_so(tmp_path):
    """Without a digest a corrupt file is found by loading it."""
    backup, said = _resumed_from_the_previous_pair(
        tmp_path, lambda b: (b / "latest.weights.h5").write_bytes(b"\0" * 100), plain_keras=True)
    assert len(said) == 1 and said[0].startswith(f"backup {backup}: latest.weights.h5: does not load (")
    assert said[0].endswith("); resuming from the last good backup (previous.weights.h5, after epoch 2)")
    reason = said[0].split("does not load (", 1)[1].rsplit("); resuming", 1)[0]
    # the loader's own words (h5py's "file signature not found"), never an exception class name
    assert "signature" in reason.lower() and "Error" not in reason, reason


def test_a_plain_keras_backup_whose_weights_are_gone_says_so_and_falls_back(tmp_path):
    backup, said = _resumed_from_the_previous_pair(
        tmp_path, lambda b: (b / "latest.weights.h5").unlink(), plain_keras=True)
    assert said == [f"backup {backup}: training_metadata.json: its weights (epoch 3) are missing or do not match "
                    "(corrupt or partial); resuming from the last good backup (previous.weights.h5, after epoch 2)"]


def test_an_unreadable_weights_file_is_named_and_the_other_pair_used(tmp_path, monkeypatch):
    """A read error (a bad disk block) while hashing the latest weights: named, and resume goes on
    from the previous pair."""
    backup = tmp_path / "backup"
    _interrupted(backup)
    hash_file = checkpoints.sha256

    def failing_read(path):
        if path.name == "latest.weights.h5":
            raise OSError(errno.EIO, "Input/output error")
        return hash_file(path)

    monkeypatch.setattr(checkpoints, "sha256", failing_read)
    said, epochs = _resume(backup)
    assert epochs == [2, 3, 4]
    assert said == [f"backup {backup}: latest.weights.h5: [Errno 5] Input/output error; training_metadata.json: its "
                    "weights (epoch 3) are missing or do not match (corrupt or partial); resuming from the last good "
                    "backup (previous.weights.h5, after epoch 2)"]


def test_identical_weights_in_both_pairs_resume_from_the_latest_silently(tmp_path):
    """A frozen model saves the same weights each epoch: both files match the latest metadata, and
    the latest pair is the one to resume from (nothing to report)."""
    backup = tmp_path / "backup"
    _interrupted(backup)
    (backup / "previous.weights.h5").write_bytes((backup / "latest.weights.h5").read_bytes())
    (backup / "previous_training_metadata.json").write_text((backup / "training_metadata.json").read_text())
    said, epochs = _resume(backup)
    assert said == [] and epochs == [3, 4]


def test_the_room_asked_for_is_the_weights_and_optimizer_state_plus_a_mebibyte(tmp_path, monkeypatch):
    """ensure_space counts every weight and (once built) every optimizer variable, plus 1 MiB; a
    disk with exactly that much free is enough, one byte less is not."""
    model = _model()
    model.fit(*DATA, epochs=1, verbose=0)  # builds Adam: its moments and counters take room too
    variables = [*model.weights, *model.optimizer.variables]
    needed = sum(np.asarray(v.numpy()).nbytes for v in variables) + 2**20
    assert len(model.optimizer.variables) > 2  # the moments are counted, not just the weights
    usage = collections.namedtuple("usage", "total used free")
    for free in (needed, needed - 1):
        monkeypatch.setattr(shutil, "disk_usage", lambda path, free=free: usage(10**9, 10**9 - free, free))
        if free == needed:
            checkpoints.ensure_space(model, tmp_path)
        else:
            with pytest.raises(OSError, match=f"No space left on device: {free} bytes free, about {needed} needed "
                                              "to save the model") as caught:
                checkpoints.ensure_space(model, tmp_path)
            assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path)


def test_a_temporary_file_is_hidden_beside_its_target_with_its_suffixes(tmp_path):
    """Keras checks a file's suffixes (.keras, .weights.h5); a hidden name stays out of listings."""
    target = tmp_path / "backup" / "latest.weights.h5"
    temporary = files.temporary_name(target)
    assert temporary.parent == target.parent and temporary.name.startswith(".")
    assert temporary.name.endswith("-latest.weights.h5") and str(os.getpid()) in temporary.name
    assert temporary.suffixes[-2:] == [".weights", ".h5"]


def _record_durability(monkeypatch, folder):
    """[("fsync", path, opened as a directory) | ("replace", source, target)] under `folder`, in order."""
    events, opened = [], {}
    real_open, real_fsync, real_replace = os.open, os.fsync, os.replace

    def recording_open(path, flags, *args, **kwargs):
        descriptor = real_open(path, flags, *args, **kwargs)
        opened[descriptor] = (pathlib.Path(path), bool(flags & os.O_DIRECTORY))
        return descriptor

    def recording_fsync(descriptor):
        if descriptor in opened and folder in [opened[descriptor][0], *opened[descriptor][0].parents]:
            events.append(("fsync", *opened[descriptor]))
        return real_fsync(descriptor)

    def recording_replace(source, target):
        if folder in pathlib.Path(target).parents:
            events.append(("replace", pathlib.Path(source), pathlib.Path(target)))
        return real_replace(source, target)

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return events


def test_atomic_write_syncs_the_file_before_renaming_it_and_the_folder_after(tmp_path, monkeypatch):
    """The order that makes a write durable: the new content on disk, then the rename, then the
    folder entry on disk."""
    events = _record_durability(monkeypatch, tmp_path)
    path = tmp_path / "metrics.json"
    files.write_text(path, "{}")
    temporary = files.temporary_name(path)
    assert events == [("fsync", temporary, False), ("replace", temporary, path), ("fsync", tmp_path, True)]
    assert path.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_backup_is_on_disk_before_it_replaces_the_last_one(tmp_path, monkeypatch):
    """Each save: the new weights and metadata synced, the current pair renamed to the previous
    one (from the second save on), the new pair renamed into place, then the folder synced."""
    backup = tmp_path / "run" / "backup"  # the run folder is made too
    events = _record_durability(monkeypatch, tmp_path)
    _interrupted(backup, after=2)
    latest, metadata = backup / "latest.weights.h5", backup / "training_metadata.json"
    new_weights, new_metadata = files.temporary_name(latest), files.temporary_name(metadata)
    first = [("fsync", new_weights, False), ("fsync", new_metadata, False),
             ("replace", new_weights, latest), ("replace", new_metadata, metadata), ("fsync", backup, True)]
    second = [*first[:2], ("replace", latest, backup / "previous.weights.h5"),
              ("replace", metadata, backup / "previous_training_metadata.json"), *first[2:]]
    assert events == first + second


def test_the_digest_is_the_files_sha256_across_read_blocks(tmp_path):
    """Weights files are larger than one read block (1 MiB): every block counts."""
    data = np.random.default_rng(0).integers(0, 256, 3 * 2**20 + 17, dtype=np.uint8).tobytes()
    path = tmp_path / "weights.h5"
    path.write_bytes(data)
    assert files.sha256(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(b"")
    assert files.sha256(path) == hashlib.sha256(b"").hexdigest()


def test_a_temporary_left_by_a_killed_save_is_written_over(tmp_path):
    """A kill in the middle of a save leaves its temporary file; in a container the next run often
    has the same process id, so the same temporary name: the save writes over it, without asking."""
    backup = tmp_path / "backup"
    backup.mkdir()
    leftover = files.temporary_name(backup / "latest.weights.h5")
    leftover.write_bytes(b"\x89HDF partial")
    _interrupted(backup, after=2)
    assert not leftover.exists()
    said, epochs = _resume(backup)
    assert said == [] and epochs == [2, 3, 4]
