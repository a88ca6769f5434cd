"""Keras callbacks for a run's checkpoints and its `--resume` backup, written atomically
(pipelines/core/files.py).

`Backup` is Keras's BackupAndRestore (`backup/latest.weights.h5` + `training_metadata.json`,
the previous pair kept as `previous.weights.h5` + `previous_training_metadata.json`) with two
changes: every file is written whole or not at all, and the metadata records the SHA-256 of its
weights file. On resume, a weights file that does
not match its metadata, or does not load, is corrupt or partial: resume falls back to the newest
good pair and says so; with none, training starts from the first epoch and says so.
"""
from __future__ import annotations

import json
import os
import pathlib

import keras

from pipelines.core.files import fsync, atomic_write, sha256, temporary_name


def ensure_space(model, folder):
    """Raise OSError(ENOSPC) unless `folder`'s disk has room for the model's weights and optimizer
    state: h5py crashes the process (segmentation fault) when a write meets a full disk, so
    the check comes first and the error is one line, not a crash."""
    import errno
    import shutil

    import numpy as np

    variables = list(model.weights)
    if getattr(model, "optimizer", None) is not None and getattr(model.optimizer, "built", False):
        variables += list(model.optimizer.variables)
    needed = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables) + (1 << 20)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device: {free} bytes free, about {needed} needed "
                      "to save the model", str(folder))


def save_model(model, path):
    """`model.save(path)`, atomically, after checking for room."""
    ensure_space(model, pathlib.Path(path).parent)
    return atomic_write(path, lambda temporary: model.save(temporary))


class Checkpoint(keras.callbacks.Callback):
    """`path` (a .keras file) written atomically at every epoch's end, or only when `monitor`
    improves (lower is better, as val_loss)."""

    def __init__(self, path, monitor=None):
        super().__init__()
        self.path, self.monitor, self.best = pathlib.Path(path), monitor, float("inf")

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor:
            value = (logs or {}).get(self.monitor)
            if value is None or not value < self.best:
                return
            self.best = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.path)


class Backup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore written atomically, with corrupt or partial backups detected on resume
    (see the module's docstring); `say` reports a fallback (default: print)."""

    def __init__(self, backup_dir, say=print):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=True)
        self.say = say
        # The previous pair (Keras's `*.bkp` names would not load: Keras wants `.weights.h5`).
        self._prev_weights_path = str(pathlib.Path(backup_dir) / "previous.weights.h5")
        self._prev_training_metadata_path = str(pathlib.Path(backup_dir) / "previous_training_metadata.json")

    # ---------------------------------------------------------------- save
    def _save_model(self):
        folder = pathlib.Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        weights, metadata = pathlib.Path(self._weights_path), pathlib.Path(self._training_metadata_path)
        new_weights, new_metadata = temporary_name(weights), temporary_name(metadata)
        ensure_space(self.model, folder)
        try:
            self.model.save_weights(str(new_weights), overwrite=True)
            fsync(new_weights)
            record = {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                      "weights_sha256": sha256(new_weights)}
            new_metadata.write_text(json.dumps(record))
            fsync(new_metadata)
            # The current pair becomes the previous one, then the new pair takes its place: at
            # every moment some metadata file matches some whole weights file.
            for current, previous in ((weights, self._prev_weights_path),
                                      (metadata, self._prev_training_metadata_path)):
                if current.exists():
                    os.replace(current, previous)
            os.replace(new_weights, weights)
            os.replace(new_metadata, metadata)
            fsync(folder, directory=True)
        finally:
            for temporary in (new_weights, new_metadata):
                if temporary.exists():
                    temporary.unlink()

    # ---------------------------------------------------------------- restore
    def on_train_begin(self, logs=None):
        weights_files = [pathlib.Path(p) for p in (self._weights_path, self._prev_weights_path)]
        metadata_files = [pathlib.Path(p) for p in (self._training_metadata_path,
                                                    self._prev_training_metadata_path)]
        if not any(path.exists() for path in weights_files + metadata_files):
            return  # a new run
        problems, digests = [], {}
        for path in weights_files:
            if path.exists():
                try:
                    digests[path] = sha256(path)
                except OSError as error:
                    problems.append(f"{path.name}: {error}")
        candidates = []  # (epoch, metadata path, weights path)
        for metadata, paired in zip(metadata_files, weights_files):
            if not metadata.exists():
                continue
            try:
                record = json.loads(metadata.read_text())
                epoch = int(record["epoch"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                problems.append(f"{metadata.name}: unreadable ({_metadata_problem(error)})")
                continue
            wanted = record.get("weights_sha256")
            if wanted is None:  # written by plain Keras: its own pair, checked by loading
                matches = [paired] if paired in digests else []
            else:
                matches = [path for path, digest in digests.items() if digest == wanted]
            if not matches:
                problems.append(f"{metadata.name}: its weights (epoch {epoch}) are missing or "
                                "do not match (corrupt or partial)")
            candidates += [(epoch, metadata, path) for path in matches]
        latest = pathlib.Path(self._weights_path)
        for epoch, metadata, weights in sorted(candidates, key=lambda c: (-c[0], c[2] != latest)):
            try:
                self._restore(weights, epoch)
            except (OSError, ValueError) as error:
                problems.append(f"{weights.name}: does not load ({_first_line(error)})")
                continue
            if problems or weights != latest:
                self.say(f"backup {self.backup_dir}: {'; '.join(problems) or 'the latest is incomplete'}; "
                         f"resuming from the last good backup ({weights.name}, after epoch {epoch})")
            return
        self.say(f"backup {self.backup_dir}: no usable backup ({'; '.join(problems)}); "
                 "training from the first epoch")

    def _restore(self, weights, epoch):
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(weights))
        self.model._initial_epoch = epoch  # as keras.callbacks.BackupAndRestore does


def _metadata_problem(error):
    """Why a backup's metadata file is unusable, in words (no exception class names)."""
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at line {error.lineno}"
    if isinstance(error, UnicodeDecodeError):
        return "not text"
    if isinstance(error, KeyError):
        return "no epoch recorded"
    if isinstance(error, OSError):
        return error.strerror or "cannot be read"
    return "its epoch is not a whole number"


def _first_line(error):
    """An error's own first line, short: a load failure's reason for the resume message."""
    lines = str(error).strip().splitlines()
    return " ".join(lines[0].split())[:160] if lines else "unknown reason"
