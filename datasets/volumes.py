"""3D sources as `SourceData`: NIfTI classification manifests and class folders, MedMNIST 3D
archives, segmentation pairs.

Every volume is decoded and validated when the source is read, so a bad file is named before
any training step, and then held in memory: 3D sets are small, and decoding NIfTI needs nibabel,
which a tf.data graph cannot call. NIfTI files are reoriented to RAS and optionally resampled to
`target_spacing` (datasets/formats/nifti.py).
"""
from __future__ import annotations

import os

import numpy as np

from datasets import labels as class_labels, manifests
from datasets.examples import ArrayExamples, SourceData
from datasets.formats import decathlon, medmnist, nifti

IMAGE_COLUMNS = ("image", "filename", "path")  # `filename`: ../shared/data/adrenalmnist3d
SPLIT_FOLDERS = ("train", "val", "test")


def _classes(named, origin, what):
    """The class order of every split's labels; a classifier needs at least two."""
    class_names = class_labels.class_order(label for _, labels, _ in named.values() for label in labels)
    if len(class_names) < 2:
        raise nifti.VolumeError(f"{origin}: needs at least two {what}, found {class_names}")
    return class_names


def read_classification(csv_path):
    """({split or "all": ([paths], [label names], origin)}, class names) of an image,label[,split]
    CSV of .nii/.nii.gz files (`filename` or `path` also name the image column)."""
    named = manifests.read_file_manifest(csv_path, IMAGE_COLUMNS, "label",
                                         extensions=nifti.NIFTI_SUFFIXES, error=nifti.VolumeError)
    return named, _classes(named, csv_path, "classes")


def read_class_folders(root):
    """Like `read_classification` for `<root>/<class>/*.nii[.gz]` (one split) or
    `<root>/{train,val,test}/<class>/*.nii[.gz]`; None if `root` holds no NIfTI class folders.

    Any other file inside a class folder is an error (named), not a silent skip; hidden files
    (`.name`, macOS `._name`) are not volumes and are ignored.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        return None
    names = sorted(n for n in os.listdir(root) if not n.startswith("."))
    layout = {s: os.path.join(root, s) for s in SPLIT_FOLDERS if s in names} or {"all": root}
    named = {}
    for split, folder in layout.items():
        paths, labels = [], []
        for label in sorted(n for n in os.listdir(folder) if not n.startswith(".")):
            class_dir = os.path.join(folder, label)
            if not os.path.isdir(class_dir):
                continue
            for name in sorted(n for n in os.listdir(class_dir) if not n.startswith(".")):
                path = os.path.join(class_dir, name)
                if not nifti.is_nifti(name):
                    raise nifti.VolumeError(f"{path}: not a .nii/.nii.gz file (class folders hold volumes only)")
                paths.append(path)
                labels.append(label)
        if paths:
            named[split] = (paths, labels, root if split == "all" else f"{root} ({split})")
    if not named:
        return None
    return named, _classes(named, root, "class folders with volumes")


def _decoded(named, class_names, target_spacing, description):
    """SourceData of (D, H, W) float32 volumes, every file decoded now."""
    examples = {
        split: ArrayExamples(
            labels=class_labels.to_indices(labels, class_names, origin), origin=origin, files=list(paths),
            inputs=[nifti.load_volume(path, target_spacing).data for path in paths],
        )
        for split, (paths, labels, origin) in named.items()
    }
    return SourceData(examples, class_names, description)


def nifti_manifest(csv_path, target_spacing=None):
    """SourceData of a NIfTI classification CSV (see `read_classification`)."""
    named, class_names = read_classification(csv_path)
    return _decoded(named, class_names, target_spacing, f"NIfTI manifest {csv_path}")


def nifti_class_folders(root, target_spacing=None):
    """SourceData of NIfTI class folders (see `read_class_folders`), or None if there are none."""
    listing = read_class_folders(root)
    if listing is None:
        return None
    return _decoded(*listing, target_spacing, f"NIfTI class folders {root}")


def medmnist_source(path):
    """SourceData of a MedMNIST 3D .npz: (N, D, H, W) volumes as stored, per split."""
    splits, class_names = medmnist.load(path)
    examples = {
        split: ArrayExamples(labels=labels, origin=f"{path} ({split})", inputs=images)
        for split, (images, labels) in splits.items()
    }
    return SourceData(examples, class_names, f"MedMNIST 3D {path}")


def pack(image, label):
    """(D, H, W) image and labels -> (D, H, W, 2) float32 moving together through crops/flips."""
    return np.stack([image.astype(np.float32), label.astype(np.float32)], axis=-1)


def segmentation_pairs(pairs, target_spacing, origin):
    """SourceData of packed image/label pairs (`decathlon.Pairs`), split as the pairs say.

    The case-level label of each example is unused (0); the classes are the label values'.
    """
    images, labels, class_names = decathlon.load_pairs(pairs, target_spacing)
    packed = [pack(image, label) for image, label in zip(images, labels)]
    groups = {}
    for index, split in enumerate(pairs.splits or [""] * len(packed)):
        groups.setdefault(split or "all", []).append(index)
    examples = {
        split: ArrayExamples(
            labels=np.zeros(len(indices), np.int64), origin=origin if split == "all" else f"{origin} ({split})",
            inputs=[packed[i] for i in indices], files=[pairs.images[i] for i in indices],
        )
        for split, indices in groups.items()
    }
    return SourceData(examples, class_names, f"segmentation pairs {origin}")
