"""Text sources for the `text` pipeline: CSV/TSV tables and folders of .txt files -> raw strings.

The strings stay raw: standardisation and tokenisation happen in the model (TextVectorization),
so what trains is what serves. Here we only read, validate and label.

Bad input is reported on one line, `FILE:LINE: message` (see datasets/manifests.py), and nothing
is dropped:
- a table without the named text/label columns (the message lists the columns it has);
- a row with too few or too many fields (e.g. a TSV read with the wrong quoting);
- an empty (or whitespace-only) text, an empty label;
- bytes that are not UTF-8 (the line number and the offending byte are named).

Quoting: TSV files (GLUE's SST-2 among them) contain bare `"` characters inside sentences, so
`.tsv` is read without quoting by default; `.csv` with the usual quoting. Override with
`--set quoting=none|minimal` (and `delimiter=`).
"""
from __future__ import annotations

import pathlib

import numpy as np

from datasets import folders, labels as class_labels, manifests


def read_table(path, text_column="text", label_column="label", delimiter="", quoting="auto"):
    """(texts, label strings) from a CSV/TSV file with a header row, read by `datasets.manifests`
    (errors `FILE:LINE: ...`, the header is line 1). Texts are kept as written, labels stripped."""
    quoted = manifests.dialect(path, delimiter, quoting)[1] == "minimal"
    quoting_hint = " (try --set quoting=none)" if quoted else ""
    records = manifests.read_records(
        path, [text_column, label_column], delimiter=delimiter, quoting=quoting, hint=quoting_hint,
        column_hint="; choose with --set text_column=... label_column=...")
    texts, labels = [], []
    for line, record in records:
        if not record[text_column].strip():
            raise ValueError(f"{path}:{line}: empty text in column '{text_column}'")
        if not record[label_column].strip():
            raise ValueError(f"{path}:{line}: empty label in column '{label_column}'")
        texts.append(record[text_column])
        labels.append(record[label_column].strip())
    return texts, labels


def read_text_file(path) -> str:
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    text = manifests.decode_utf8(data, path)
    if not text.strip():
        raise ValueError(f"{path}: empty text")
    return text


def class_folder_texts(root, classes=(), extensions=(".txt",)):
    """(texts, label strings) from root/<class>/*.txt (the aclImdb layout).

    `classes` picks the class folders (aclImdb: neg,pos, leaving out `unsup`); by default every
    visible sub-folder is a class. Files beside the class folders (aclImdb's urls_*.txt,
    labeledBow.feat) are not examples. Inside a class folder every visible file must be text.
    """
    root = pathlib.Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        missing = [c for c in classes if not (root / c).is_dir()]
        if missing:
            raise ValueError(f"{root}: no class folder '{missing[0]}' "
                             f"(folders: {', '.join(p.name for p in folders) or 'none'})")
        folders = [root / c for c in classes]
    if not folders:
        raise ValueError(f"{root}: no class folders")
    texts, labels = [], []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{folder}: class folder with no files")
        for file in files:
            if file.suffix.lower() not in extensions:
                raise ValueError(f"{file}: not a text file (expected {', '.join(extensions)})")
            texts.append(read_text_file(file))
            labels.append(folder.name)
    return texts, labels


def to_source(named, description):
    """SourceData of in-memory strings from {split: (texts, label strings, origin)}."""
    from datasets.examples import ArrayExamples, SourceData

    class_names, indices = class_labels.index_splits(named)
    splits = {split: ArrayExamples(labels=indices[split], origin=origin,
                                   inputs=np.asarray(texts, dtype=object))
              for split, (texts, _, origin) in named.items()}
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names, f"{description}: {counts} texts, {len(class_names)} classes")


def local_source(path, text_column="text", label_column="label", delimiter="", quoting="auto",
                 classes=()):
    """SourceData for a local SOURCE path.

    - a CSV/TSV file (one split; the framework holds out a test split);
    - a folder holding train.tsv/train.csv (+ dev/val, test): SST-2's layout;
    - a folder of train/ and test/ class folders (aclImdb), or of class folders.
    """
    path = pathlib.Path(path)
    table = dict(text_column=text_column, label_column=label_column, delimiter=delimiter,
                 quoting=quoting)
    if path.is_file():
        return to_source({"all": (*read_table(path, **table), str(path))}, str(path))
    tables = {}
    for split, names in (("train", ("train",)), ("val", ("dev", "val", "validation")),
                         ("test", ("test",))):
        for name in names:
            for suffix in (".tsv", ".csv"):
                if (path / f"{name}{suffix}").is_file() and split not in tables:
                    tables[split] = path / f"{name}{suffix}"
    if tables:  # without train.tsv: evaluation data (training refuses it)
        return to_source({s: (*read_table(p, **table), str(p)) for s, p in tables.items()}, str(path))
    if folders.is_split_folder(path):
        named = {split: (*class_folder_texts(path / split, classes), str(path / split))
                 for split in ("train", "val", "test") if (path / split).is_dir()}
        return to_source(named, str(path))
    return to_source({"all": (*class_folder_texts(path, classes), str(path))}, str(path))
