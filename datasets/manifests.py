"""The one reader of CSV and TSV tables: image, audio and NIfTI manifests, text tables, pair lists.

Why one: every data set reports a bad table the same way and reads it with the same rules.

- Errors are one line: `FILE:LINE: message` for a row (LINE counts the file's lines, the header
  is line 1, a quoted row spanning several lines is named by its first line) and `FILE: message`
  for the whole table. The exception is `ValueError`, or the `error` class a caller passes.
- UTF-8 (a BOM is dropped). `.tsv` is tab-separated without quoting (GLUE's SST-2 has bare `"`
  inside sentences), anything else comma-separated with the usual quoting; `delimiter` and
  `quoting` override. Blank lines are not rows.
- Every row has as many fields as the header. Paths are relative to the table's folder unless
  absolute, and must name existing files. An optional `split` column holds train, val
  (validation, valid) or test on every row or on none. Nothing is skipped silently.
"""
from __future__ import annotations

import csv
import io
import os
import pathlib

QUOTING = {"none": csv.QUOTE_NONE, "minimal": csv.QUOTE_MINIMAL}
SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}


def decode_utf8(data: bytes, path, error=ValueError) -> str:
    """UTF-8 text (a BOM is dropped); `FILE:LINE: not UTF-8 text` naming the offending byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as failure:
        line = data[:failure.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{data[failure.start]:02x} at offset "
                    f"{failure.start})") from None


def dialect(path, delimiter="", quoting="auto"):
    """(delimiter, quoting name) for a table: tab and no quoting for .tsv, else comma, minimal."""
    tsv = pathlib.Path(path).suffix.lower() == ".tsv"
    delimiter = delimiter or ("\t" if tsv else ",")
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if quoting == "auto":
        quoting = "none" if tsv else "minimal"
    if quoting not in QUOTING:
        raise ValueError(f"quoting '{quoting}': expected auto, none or minimal")
    return delimiter, quoting


def read_rows(path, delimiter="", quoting="auto", error=ValueError, hint=""):
    """[(line, [cells])] of every non-blank row, the header included; `hint` ends parse errors."""
    delimiter, quoting = dialect(path, delimiter, quoting)
    try:
        data = pathlib.Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as failure:
        raise error(f"{path}: cannot read ({failure.strerror})") from None
    # strict: a quote in the middle of a quoted field is an error, not rows silently merged.
    reader = csv.reader(io.StringIO(decode_utf8(data, path, error), newline=""), delimiter=delimiter,
                        quoting=QUOTING[quoting], strict=quoting == "minimal")
    rows, line = [], 1
    try:
        for cells in reader:
            if cells:
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as failure:
        raise error(f"{path}:{line}: {failure}{hint}") from None
    return rows


def _find(header, aliases):
    """The index in `header` of the first alias found (exact, then ignoring case), or None."""
    for match in (lambda a, h: a == h, lambda a, h: a.lower() == h.lower()):
        for alias in aliases:
            for index, name in enumerate(header):
                if match(alias, name):
                    return index
    return None


def read_records(path, columns, optional=(), *, header_optional=False, delimiter="", quoting="auto",
                 error=ValueError, hint="", column_hint=""):
    """[(line, {column: cell})] of a table with a header naming `columns`.

    A column is a name or a tuple of accepted names (the first is its key). `optional` columns
    are "" where the table has none. With `header_optional`, a first row that does not name the
    columns is data, and the columns are taken in the order `columns + optional`. `hint` ends
    field-count and parse errors, `column_hint` a missing-column error.
    """
    columns = [c if isinstance(c, tuple) else (c,) for c in columns]
    optional = [c if isinstance(c, tuple) else (c,) for c in optional]
    rows = read_rows(path, delimiter, quoting, error, hint)
    header = [cell.strip() for cell in rows[0][1]] if rows else []
    named = all(_find(header, aliases) is not None for aliases in columns)
    if header_optional and not named:
        header = [aliases[0] for aliases in columns + optional]
        body, least = rows, len(columns)
    else:
        if not rows:
            raise error(f"{path}: empty file (expected a header row)")
        for aliases in columns:
            if _find(header, aliases) is None:
                wanted = "' or '".join(aliases)
                raise error(f"{path}: no column '{wanted}' (columns: {', '.join(header) or 'none'})"
                            f"{column_hint}")
        body, least = rows[1:], len(header)
    if not body:
        raise error(f"{path}: no rows after the header" if named else f"{path}: no rows")
    positions = {aliases[0]: _find(header, aliases) for aliases in columns + optional}
    records = []
    for line, cells in body:
        if not least <= len(cells) <= len(header):
            expected = (f"the header has {len(header)}" if named else
                        f"expected {','.join(header[:least])}[,{','.join(header[least:])}]")
            raise error(f"{path}:{line}: {len(cells)} fields, {expected}{hint}")
        records.append((line, {key: cells[i] if i is not None and i < len(cells) else ""
                               for key, i in positions.items()}))
    return records


def resolve(path, line, relative, column, extensions=(), error=ValueError):
    """The absolute path of a file named in a table, relative to the table's folder."""
    relative = relative.strip()
    if not relative:
        raise error(f"{path}:{line}: empty {column}")
    full = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), relative))
    if not os.path.isfile(full):
        raise error(f"{path}:{line}: no such file {relative}")
    if extensions and not full.lower().endswith(tuple(extensions)):
        raise error(f"{path}:{line}: {relative} is not a supported file (expected {', '.join(extensions)})")
    return full


def split_names(path, records, error=ValueError):
    """The split of each record, "train", "val" or "test", or all "" without split values."""
    names = []
    for line, record in records:
        value = record.get("split", "").strip().lower()
        if value and value not in SPLIT_NAMES:
            raise error(f"{path}:{line}: split '{value}' is not one of {', '.join(SPLITS)}")
        names.append(SPLIT_NAMES.get(value, ""))
    if any(names) and not all(names):
        line = records[names.index("")][0]
        raise error(f"{path}:{line}: empty split (give the split on every row or on none)")
    return names


def read_file_manifest(path, path_column="path", label_column="label", *, header_optional=False,
                       extensions=(), error=ValueError, column_hint=""):
    """{split or "all": (absolute paths, label names, origin)} of a table of labelled files."""
    records = read_records(path, [path_column, label_column], ["split"], header_optional=header_optional,
                           error=error, column_hint=column_hint)
    path_key = path_column[0] if isinstance(path_column, tuple) else path_column
    label_key = label_column[0] if isinstance(label_column, tuple) else label_column
    files, labels = [], []
    for line, record in records:
        files.append(resolve(path, line, record[path_key], path_key, extensions, error))
        label = record[label_key].strip()
        if not label:
            raise error(f"{path}:{line}: empty {label_key}")
        labels.append(label)
    splits = [name or "all" for name in split_names(path, records, error)]
    return {
        split: ([f for f, s in zip(files, splits) if s == split],
                [label for label, s in zip(labels, splits) if s == split],
                str(path) if split == "all" else f"{path} ({split})")
        for split in (*SPLITS, "all") if split in splits
    }
