"""Segmentation sources: the Medical Segmentation Decathlon layout, or a CSV `image,label`.

MSD layout: `imagesTr/X.nii.gz` with `labelsTr/X.nii.gz` (same name) and an optional
`dataset.json` whose `labels` declare the classes ({"0": "background", "1": ...}) and whose
`training` list names the pairs. Without dataset.json the pairs are matched by file name and the
classes are those in `class_names` (or 0..max label seen). macOS resource forks (`._X.nii.gz`,
shipped inside the official MSD tars) are not volumes and are ignored by name; any other image
without a label, or label without an image, is an error, never a silent skip.

Every pair is checked before training: both readable 3D NIfTI, the same shape and affine, and
label values inside the declared classes.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from datasets import manifests
from datasets.formats.nifti import NIFTI_SUFFIXES, VolumeError, is_nifti


@dataclasses.dataclass
class Pairs:
    """Image/label file pairs of a segmentation set and its class names (index = label value)."""

    images: list
    labels: list
    class_names: list
    origin: str
    splits: list = None  # per pair "train"/"val"/"test" or "" (CSV `split` column)

    def __len__(self):
        return len(self.images)


def _volumes(folder):
    return sorted(
        name for name in os.listdir(folder) if is_nifti(name) and not name.startswith("._")
    )


def is_decathlon(path) -> bool:
    return os.path.isdir(os.path.join(path, "imagesTr")) and os.path.isdir(os.path.join(path, "labelsTr"))


def _declared_classes(description, json_path):
    labels = description.get("labels")
    if labels is None:
        return None
    try:
        table = {int(key): str(value) for key, value in labels.items()}
    except (AttributeError, ValueError):
        raise VolumeError(f"{json_path}: 'labels' must map integer values to names") from None
    if sorted(table) != list(range(len(table))):
        raise VolumeError(f"{json_path}: label values must be 0..{len(table) - 1}, got {sorted(table)}")
    return [table[i] for i in range(len(table))]


def read_decathlon(folder, class_names=None) -> Pairs:
    """The pairs of an MSD task folder (dataset.json's `training` list when present)."""
    folder = os.path.abspath(os.fspath(folder))
    if not is_decathlon(folder):
        raise VolumeError(f"{folder}: expected imagesTr/ and labelsTr/ folders (MSD layout)")
    json_path = os.path.join(folder, "dataset.json")
    declared = None
    images, labels = [], []
    if os.path.isfile(json_path):
        try:
            with open(json_path) as handle:
                description = json.load(handle)
        except (ValueError, UnicodeDecodeError) as error:
            raise VolumeError(f"{json_path}: not valid JSON ({error.__class__.__name__})") from None
        declared = _declared_classes(description, json_path)
        for entry in description.get("training") or []:
            try:
                image, label = entry["image"], entry["label"]
            except (KeyError, TypeError):
                raise VolumeError(f"{json_path}: a 'training' entry lacks image/label: {entry}") from None
            images.append(os.path.normpath(os.path.join(folder, image)))
            labels.append(os.path.normpath(os.path.join(folder, label)))
        for path in images + labels:
            if not os.path.isfile(path):
                raise VolumeError(f"{json_path}: listed file {os.path.relpath(path, folder)} does not exist")
    if not images:
        image_names = _volumes(os.path.join(folder, "imagesTr"))
        label_names = set(_volumes(os.path.join(folder, "labelsTr")))
        for name in image_names:
            if name not in label_names:
                raise VolumeError(f"{os.path.join(folder, 'imagesTr', name)}: no label labelsTr/{name}")
        unmatched = sorted(label_names - set(image_names))
        if unmatched:
            raise VolumeError(f"{os.path.join(folder, 'labelsTr', unmatched[0])}: no image imagesTr/{unmatched[0]}")
        if not image_names:
            raise VolumeError(f"{folder}: imagesTr/ has no .nii/.nii.gz volumes")
        images = [os.path.join(folder, "imagesTr", n) for n in image_names]
        labels = [os.path.join(folder, "labelsTr", n) for n in image_names]
    if class_names and declared and list(class_names) != declared:
        raise VolumeError(f"{json_path}: declares classes {declared}, config says {list(class_names)}")
    names = declared or (list(class_names) if class_names else None)
    return Pairs(images, labels, names, folder, [""] * len(images))


def read_pairs_csv(csv_path, class_names=None) -> Pairs:
    """The pairs of a CSV with columns image,label (paths relative to the CSV; optional split)."""
    records = manifests.read_records(csv_path, ["image", "label"], ["split"], error=VolumeError)
    images = [manifests.resolve(csv_path, line, record["image"], "image", NIFTI_SUFFIXES, VolumeError)
              for line, record in records]
    labels = [manifests.resolve(csv_path, line, record["label"], "label", NIFTI_SUFFIXES, VolumeError)
              for line, record in records]
    splits = manifests.split_names(csv_path, records, VolumeError)
    return Pairs(images, labels, list(class_names) if class_names else None, os.fspath(csv_path), splits)


def read_source(path, class_names=None) -> Pairs:
    """An MSD folder or an image,label CSV."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return read_decathlon(path, class_names)
    if path.lower().endswith(".csv"):
        return read_pairs_csv(path, class_names)
    if not os.path.exists(path):
        raise VolumeError(f"{path}: no such file or folder")
    raise VolumeError(f"{path}: expected an MSD folder (imagesTr/, labelsTr/) or a CSV image,label")


def load_pair(image_path, label_path, classes=None, target_spacing=None):
    """(image Volume float32, label Volume int32) on the same canonical grid, checked.

    The pair must share shape and affine in the files themselves (a label drawn on another grid
    is refused, not resampled), and label values must lie in 0..classes-1 when declared.
    """
    from datasets.formats import nifti

    image = nifti.load_volume(image_path, target_spacing, order=1)
    label = nifti.load_label(label_path, classes, target_spacing)
    if image.geometry.shape != label.geometry.shape:
        raise VolumeError(
            f"{label_path}: label shape {label.geometry.shape} differs from image {image_path} "
            f"shape {image.geometry.shape}"
        )
    if not np.allclose(image.geometry.affine, label.geometry.affine, atol=1e-3):
        raise VolumeError(f"{label_path}: label affine differs from the affine of image {image_path}")
    return image, label


def load_pairs(pairs: Pairs, target_spacing=None):
    """All pairs in memory: ([image arrays], [label arrays], class names), validated.

    Without declared classes, the classes are 0..(largest label value seen).
    """
    classes = len(pairs.class_names) if pairs.class_names else None
    images, labels = [], []
    for image_path, label_path in zip(pairs.images, pairs.labels):
        image, label = load_pair(image_path, label_path, classes, target_spacing)
        images.append(image.data)  # (D, H, W) float32
        labels.append(label.data)  # (D, H, W) int32
    names = pairs.class_names
    if names is None:
        largest = max(int(label.max()) for label in labels)
        names = [str(i) for i in range(max(largest, 1) + 1)]
    return images, labels, list(names)
