"""Text sources for the `text` pipeline: CSV/TSV tables and folders of .txt files -> raw strings.

The strings stay raw: standardisation and tokenisation happen in the model (TextVectorization),
so what trains is what serves. Here we only read, validate and label.

Bad input is reported on one line naming the file and the line or row, and nothing is dropped:
- a table without the named text/label columns (the message lists the columns it has);
- a row with too few or too many fields (e.g. a TSV read with the wrong quoting);
- an empty (or whitespace-only) text, an empty label;
- bytes that are not UTF-8 (the line number and the offending byte are named).

Quoting: TSV files (GLUE's SST-2 among them) contain bare `"` characters inside sentences, so
`.tsv` is read with `csv.QUOTE_NONE` by default; `.csv` with the usual quoting. Override with
`--set quoting=none|minimal` (and `delimiter=`).
"""
from __future__ import annotations

import csv
import io
import pathlib

import numpy as np

QUOTING = {"none": csv.QUOTE_NONE, "minimal": csv.QUOTE_MINIMAL}


def decode_utf8(data: bytes, path) -> str:
    """UTF-8 text (a BOM is dropped); ValueError naming the line and byte that are not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ValueError(
            f"{path} line {line}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start})"
        ) from None


def read_table(path, text_column="text", label_column="label", delimiter="", quoting="auto"):
    """(texts, label strings) from a CSV/TSV file with a header row.

    Rows are numbered as lines of the file (the header is line 1); with quoting a row may span
    several lines and is named by the line it starts on.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    text = decode_utf8(data, path)
    tsv = path.suffix.lower() == ".tsv"
    delimiter = delimiter or ("\t" if tsv else ",")
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if quoting == "auto":
        quoting = "none" if tsv else "minimal"
    if quoting not in QUOTING:
        raise ValueError(f"quoting '{quoting}': expected auto, none or minimal")
    # strict: a quote in the middle of a quoted field is an error, not silently merged rows.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=QUOTING[quoting],
                        strict=quoting == "minimal")
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{path}: empty file (expected a header row)") from None
    header = [h.strip() for h in header]
    for column in (text_column, label_column):
        if column not in header:
            raise ValueError(
                f"{path}: no column '{column}' (columns: {', '.join(header) or 'none'}); "
                f"choose with --set text_column=... label_column=..."
            )
    t, l = header.index(text_column), header.index(label_column)
    texts, labels = [], []
    line = reader.line_num + 1
    try:
        for row in reader:
            if len(row) != len(header):
                raise ValueError(
                    f"{path} line {line}: {len(row)} fields, the header has {len(header)}"
                    + (" (try --set quoting=none)" if quoting == "minimal" else "")
                )
            if not row[t].strip():
                raise ValueError(f"{path} line {line}: empty text in column '{text_column}'")
            if not row[l].strip():
                raise ValueError(f"{path} line {line}: empty label in column '{label_column}'")
            texts.append(row[t])
            labels.append(row[l].strip())
            line = reader.line_num + 1
    except csv.Error as error:
        hint = " (try --set quoting=none)" if quoting == "minimal" else ""
        raise ValueError(f"{path} line {line}: {error}{hint}") from None
    if not texts:
        raise ValueError(f"{path}: no rows after the header")
    return texts, labels


def read_text_file(path) -> str:
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    text = decode_utf8(data, path)
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


def sort_class_names(names):
    """Sorted class names; numerically when all are integers (so '10' follows '9')."""
    names = sorted(set(names))
    try:
        return sorted(names, key=int)
    except ValueError:
        return names


def to_source(named, description):
    """SourceData of in-memory strings from {split: (texts, label strings, origin)}."""
    from datasets.examples import ArrayExamples, SourceData

    base = "train" if "train" in named else "all"
    class_names = sort_class_names(named[base][1])
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    for split, (texts, labels, origin) in named.items():
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ValueError(f"{origin}: label '{unknown[0]}' has no training examples "
                             f"(classes: {', '.join(class_names)})")
        splits[split] = ArrayExamples(
            labels=np.asarray([index[x] for x in labels], np.int64), origin=origin,
            inputs=np.asarray(texts, dtype=object),
        )
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names, f"{description}: {counts} texts, {len(class_names)} classes")


SPLIT_FILES = {"train": "train", "val": "dev", "test": "test"}


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
    if tables:
        if "train" not in tables:
            raise ValueError(f"{path}: has {', '.join(p.name for p in tables.values())} but no train.tsv/train.csv")
        return to_source({s: (*read_table(p, **table), str(p)) for s, p in tables.items()}, str(path))
    if (path / "train").is_dir():
        named = {split: (*class_folder_texts(path / split, classes), str(path / split))
                 for split in ("train", "val", "test") if (path / split).is_dir()}
        return to_source(named, str(path))
    return to_source({"all": (*class_folder_texts(path, classes), str(path))}, str(path))
