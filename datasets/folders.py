"""Files on disk: a folder of class folders, a folder of train/test[/val] splits, a CSV manifest.

Policy for bad input (README "Pipelines"): nothing is skipped. A file that a pipeline cannot read,
an empty folder, a class folder without files, a file outside the class folders, or a CSV row
naming a missing file stops the run with a one-line message naming it. Hidden files (".name")
are not examples and are ignored.
"""
from __future__ import annotations

import csv
import pathlib

import numpy as np

from datasets.examples import FileExamples, SourceData

SPLITS = ("train", "test", "val")


def _visible(path):
    return not path.name.startswith(".")


def _check_extension(path, extensions):
    if extensions and path.suffix.lower() not in extensions:
        raise ValueError(f"{path}: not a supported file (expected {', '.join(extensions)})")


def class_folder_files(root, extensions):
    """(paths, label names) from `<root>/<label>/...`, every file checked by extension."""
    root = pathlib.Path(root)
    entries = sorted(p for p in root.iterdir() if _visible(p))
    if not entries:
        raise ValueError(f"{root}: empty folder (expected one folder per class)")
    stray = [p for p in entries if not p.is_dir()]
    if stray:
        raise ValueError(f"{stray[0]}: file outside the class folders of {root}")
    paths, labels = [], []
    for folder in entries:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and _visible(p)
                       and all(_visible(part) for part in p.relative_to(folder).parents if part.name))
        if not files:
            raise ValueError(f"{folder}: class folder with no files")
        for path in files:
            _check_extension(path, extensions)
        paths.extend(str(p) for p in files)
        labels.extend([folder.name] * len(files))
    return paths, labels


def is_split_folder(root):
    root = pathlib.Path(root)
    return (root / "train").is_dir()


def manifest_files(path, extensions):
    """(paths, label names, splits or None) from a CSV `path,label[,split]`; paths relative to it."""
    path = pathlib.Path(path)
    rows = list(csv.reader(path.open(newline="")))
    if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["path", "label"]:
        header, rows = rows[0], rows[1:]
        start = 2
    else:
        header, start = None, 1
    if not rows:
        raise ValueError(f"{path}: empty manifest (expected rows path,label)")
    paths, labels, splits = [], [], []
    for number, row in enumerate(rows, start=start):
        if len(row) < 2 or not row[0].strip():
            raise ValueError(f"{path}:{number}: expected path,label[,split], got {','.join(row)!r}")
        file = (path.parent / row[0].strip()).resolve()
        if not file.is_file():
            raise FileNotFoundError(f"{path}:{number}: no such file {file}")
        _check_extension(file, extensions)
        paths.append(str(file))
        labels.append(row[1].strip())
        if len(row) > 2:
            split = row[2].strip()
            if split not in SPLITS:
                raise ValueError(f"{path}:{number}: split '{split}' is not one of {', '.join(SPLITS)}")
            splits.append(split)
    if splits and len(splits) != len(paths):
        raise ValueError(f"{path}: the split column must be given on every row or none")
    return paths, labels, (splits or None)


def to_indices(labels, class_names, origin):
    """Label names -> indices into class_names; a label not among them is a ValueError."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(
            f"{origin}: label '{unknown[0]}' not seen in training (classes: {', '.join(class_names)})"
        )
    return np.asarray([index[label] for label in labels], np.int64)


def load(path, extensions, check_file):
    """SourceData from a folder (class folders, or train/test[/val]) or a CSV manifest."""
    path = pathlib.Path(path)
    named = {}
    if path.is_file() and path.suffix.lower() == ".csv":
        paths, labels, splits = manifest_files(path, extensions)
        if splits is None:
            named["all"] = (paths, labels, str(path))
        else:
            for split in SPLITS:
                chosen = [i for i, s in enumerate(splits) if s == split]
                if chosen:
                    named[split] = ([paths[i] for i in chosen], [labels[i] for i in chosen],
                                    f"{path} ({split})")
    elif path.is_dir() and is_split_folder(path):
        for split in SPLITS:
            if (path / split).is_dir():
                paths, labels = class_folder_files(path / split, extensions)
                named[split] = (paths, labels, str(path / split))
    elif path.is_dir():
        paths, labels = class_folder_files(path, extensions)
        named["all"] = (paths, labels, str(path))
    else:
        raise ValueError(f"{path}: not a folder of class folders, a CSV manifest or a known format")
    base = "train" if "train" in named else "all"
    if base not in named:
        raise ValueError(f"{path}: no training examples (expected a train split)")
    class_names = sorted(set(named[base][1]))
    splits = {}
    for split, (paths, labels, origin) in named.items():
        for file in paths:
            check_file(file)
        splits[split] = FileExamples(
            labels=to_indices(labels, class_names, origin), origin=origin, paths=paths
        )
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names, f"{path}: {counts} files, {len(class_names)} classes")
