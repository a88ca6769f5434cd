"""CSV manifests (and class folders) of NIfTI volumes for classification.

Paths are relative to the CSV's folder (absolute paths are kept). Also accepted: the column
name `filename` for `image` (../shared/data/adrenalmnist3d/nifti28/labels.csv) and an optional
`split` column (train/val/test) that assigns each row to a split. Every row must name an
existing, readable 3D NIfTI file; a bad row is a VolumeError naming the CSV line and the file,
never a silent skip.
"""
from __future__ import annotations

import csv
import os

from datasets.formats.nifti import VolumeError, is_nifti

IMAGE_COLUMNS = ("image", "filename", "path")


def _natural(name):
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def read_rows(csv_path, columns):
    """[(line number, row dict)] of a CSV that has the given columns (first alias found)."""
    csv_path = os.fspath(csv_path)
    try:
        with open(csv_path, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            reader.fieldnames = fields
            rows = [(number, row) for number, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise VolumeError(f"{csv_path}: no such file") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise VolumeError(f"{csv_path}: not a readable CSV ({type(error).__name__})") from None
    chosen = {}
    for wanted in columns:
        aliases = wanted if isinstance(wanted, tuple) else (wanted,)
        found = next((a for a in aliases if a in fields), None)
        if found is None:
            raise VolumeError(
                f"{csv_path}: needs a column {' or '.join(aliases)} (has: {', '.join(fields)})"
            )
        chosen[aliases[0]] = found
    if not rows:
        raise VolumeError(f"{csv_path}: no rows")
    return [(number, {key: (row.get(col) or "").strip() for key, col in chosen.items()} | {"split": (row.get("split") or "").strip()}) for number, row in rows]


def resolve(csv_path, relative, number, column):
    """The absolute path of a manifest entry, or a VolumeError naming the line and file."""
    if not relative:
        raise VolumeError(f"{csv_path}:{number}: empty {column}")
    path = relative if os.path.isabs(relative) else os.path.join(os.path.dirname(os.path.abspath(csv_path)), relative)
    if not os.path.isfile(path):
        raise VolumeError(f"{csv_path}:{number}: {column} file {relative} does not exist")
    if not is_nifti(path):
        raise VolumeError(f"{csv_path}:{number}: {column} file {relative} is not .nii/.nii.gz")
    return path


def read_classification(csv_path):
    """({split or "all": ([paths], [label names])}, sorted class names) of an image,label CSV."""
    rows = read_rows(csv_path, [IMAGE_COLUMNS, "label"])
    splits = {}
    for number, row in rows:
        path = resolve(csv_path, row["image"], number, "image")
        if not row["label"]:
            raise VolumeError(f"{csv_path}:{number}: empty label for {row['image']}")
        split = row["split"].lower() or "all"
        paths, labels = splits.setdefault(split, ([], []))
        paths.append(path)
        labels.append(row["label"])
    class_names = sorted({label for _, labels in splits.values() for label in labels}, key=_natural)
    if len(class_names) < 2:
        raise VolumeError(f"{csv_path}: needs at least two classes, found {class_names}")
    return splits, class_names


SPLIT_FOLDERS = ("train", "val", "test")


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
    splits = {}
    for split, folder in layout.items():
        paths, labels = [], []
        for label in sorted(n for n in os.listdir(folder) if not n.startswith(".")):
            class_dir = os.path.join(folder, label)
            if not os.path.isdir(class_dir):
                continue
            for name in sorted(n for n in os.listdir(class_dir) if not n.startswith(".")):
                path = os.path.join(class_dir, name)
                if not is_nifti(name):
                    raise VolumeError(f"{path}: not a .nii/.nii.gz file (class folders hold volumes only)")
                paths.append(path)
                labels.append(label)
        if paths:
            splits[split] = (paths, labels)
    if not splits:
        return None
    class_names = sorted({label for _, labels in splits.values() for label in labels}, key=_natural)
    if len(class_names) < 2:
        raise VolumeError(f"{root}: needs at least two class folders with volumes, found {class_names}")
    return splits, class_names
