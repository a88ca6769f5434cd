"""Files written whole or not at all: to a temporary file in the same folder, then renamed over
the old one (`os.replace` is atomic), so a full disk or a kill in the middle of a write leaves the
previous file as it was. Run files (config.json, metrics.json, model.keras, checkpoints and the
`--resume` backup: pipelines/engine/checkpoints.py) are written this way."""
from __future__ import annotations

import hashlib
import os
import pathlib


def fsync(path, directory=False):
    try:
        descriptor = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder
    finally:
        os.close(descriptor)


def temporary_name(path):
    """A hidden name beside `path` that keeps its suffixes (Keras checks `.keras`, `.weights.h5`)."""
    path = pathlib.Path(path)
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def atomic_write(path, write):
    """Call `write(temporary path)`, then rename the temporary file to `path`: `path` is either
    its old content or the whole new one, never a partial file."""
    path = pathlib.Path(path)
    temporary = temporary_name(path)
    try:
        write(temporary)
        fsync(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    fsync(path.parent, directory=True)
    return path


def write_text(path, text):
    return atomic_write(path, lambda temporary: pathlib.Path(temporary).write_text(text))


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
