"""Files on disk: a folder of class folders, a folder of train/test[/val] splits, a CSV manifest.

Policy for bad input (README "Pipelines"): nothing is skipped. A file that a pipeline cannot read,
an empty folder, a class folder without files, a file outside the class folders, or a CSV row
naming a missing file stops the run with a one-line message naming it. Hidden files (".name")
are not examples and are ignored.
"""
from __future__ import annotations

import pathlib

from datasets import labels as class_labels, manifests
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
    """Whether `root` holds train/test/val folders (or only some, e.g. `test/` to evaluate on),
    rather than class folders."""
    root = pathlib.Path(root)
    entries = [p for p in root.iterdir() if _visible(p)]
    return (root / "train").is_dir() or bool(entries) and all(p.is_dir() and p.name in SPLITS for p in entries)


def load(path, extensions, check_file):
    """SourceData from a folder (class folders, or train/test[/val]) or a CSV manifest."""
    path = pathlib.Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        named = manifests.read_file_manifest(path, header_optional=True, extensions=extensions)
    elif path.is_dir() and is_split_folder(path):
        named = {split: (*class_folder_files(path / split, extensions), str(path / split))
                 for split in SPLITS if (path / split).is_dir()}
    elif path.is_dir():
        named = {"all": (*class_folder_files(path, extensions), str(path))}
    else:
        raise ValueError(f"{path}: not a folder of class folders, a CSV manifest or a known format")
    class_names, indices = class_labels.index_splits(named)
    splits = {}
    for split, (paths, _, origin) in named.items():
        for file in paths:
            check_file(file)
        splits[split] = FileExamples(labels=indices[split], origin=origin, paths=paths)
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names, f"{path}: {counts} files, {len(class_names)} classes")
