"""MedMNIST 3D `.npz` files in their official format.

The MedMNIST v2 archives hold `{split}_images` (N, 28, 28, 28) uint8 (or 64^3 in MedMNIST+)
and `{split}_labels` (N, 1) for split in train/val/test (a copy may hold only some splits, as
../shared/data/adrenalmnist3d does). The volumes are already resampled and cropped by the
authors: there is no affine, so the array axes are used as they are.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from datasets.formats.nifti import VolumeError

SPLITS = ("train", "val", "test")

# Label names from the MedMNIST v2 INFO table, for the 3D sets whose files we have seen.
KNOWN_CLASS_NAMES = {
    "adrenalmnist3d": ["normal", "mass"],
}


def is_medmnist_npz(path) -> bool:
    """True for an .npz file that has at least one `<split>_images`/`<split>_labels` pair."""
    path = os.fspath(path)
    if not path.lower().endswith(".npz") or not os.path.isfile(path):
        return False
    try:
        with np.load(path) as archive:
            keys = set(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return any({f"{s}_images", f"{s}_labels"} <= keys for s in SPLITS)


def load(path):
    """{split: (images (N, D, H, W) as stored, labels (N,) int64)} and the class names.

    A 3D set must have 4-D image arrays; labels must be one integer per volume; every split's
    image and label counts must agree. Any violation is a VolumeError naming the file.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path)
    except FileNotFoundError:
        raise VolumeError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise VolumeError(f"{path}: not a readable .npz ({type(error).__name__})") from None
    splits = {}
    with archive:
        for split in SPLITS:
            if f"{split}_images" not in archive.files:
                continue
            images = archive[f"{split}_images"]
            if f"{split}_labels" not in archive.files:
                raise VolumeError(f"{path}: has {split}_images but no {split}_labels")
            labels = archive[f"{split}_labels"]
            if images.ndim == 5 and images.shape[-1] == 1:
                images = images[..., 0]
            if images.ndim != 4:
                raise VolumeError(
                    f"{path}: {split}_images has shape {images.shape}, expected (N, D, H, W) volumes"
                )
            labels = labels.reshape(len(labels), -1)
            if labels.shape[1] != 1:
                raise VolumeError(
                    f"{path}: {split}_labels has {labels.shape[1]} labels per volume; "
                    "only single-label (binary/multi-class) sets are supported"
                )
            if len(labels) != len(images):
                raise VolumeError(
                    f"{path}: {split} has {len(images)} images but {len(labels)} labels"
                )
            if not np.all(np.isfinite(images)):
                raise VolumeError(f"{path}: {split}_images has NaN/Inf voxels")
            splits[split] = (images, labels[:, 0].astype(np.int64))
    if not splits:
        raise VolumeError(f"{path}: no train/val/test _images arrays (not a MedMNIST file)")
    classes = int(max(labels.max() for _, labels in splits.values())) + 1
    if min(labels.min() for _, labels in splits.values()) < 0:
        raise VolumeError(f"{path}: negative labels")
    stem = os.path.basename(path).lower().split("_")[0].split(".")[0]
    names = KNOWN_CLASS_NAMES.get(stem)
    if names is None or len(names) != classes:
        names = [str(i) for i in range(classes)]
    return splits, list(names)
