"""The one order of class names, for every source: class index i is `class_order(names)[i]`.

Why one function: a model's output i must mean the same class whether its data came from image
folders, audio folders, text tables or a CSV manifest, and a user who names folders 2 and 10
expects 2 before 10 (plain `sorted` puts "10" first).

The rule (natural order):
1. names that are whole integers ("-1", "2", "10") come first, in numeric order;
2. the other names follow, compared case-insensitively with runs of digits read as numbers
   ("a" < "B", "img2" < "img10");
3. names equal under 1-2 ("01" and "1", "a" and "A") are ordered by their exact text.
"""
from __future__ import annotations

import re

_INTEGER = re.compile(r"[-+]?[0-9]+")
_DIGIT_RUNS = re.compile(r"([0-9]+)")


def _key(name):
    if _INTEGER.fullmatch(name):
        return (0, int(name), (), name)
    parts = tuple((0, int(part), "") if part.isascii() and part.isdigit() else (1, 0, part.casefold())
                  for part in _DIGIT_RUNS.split(name) if part)
    return (1, 0, parts, name)


def check_names(names, origin):
    """Raise ValueError naming `origin` if a class name holds a line break: an export stores the
    names one per line (class_names.txt), where it would shift every later class."""
    for name in names:
        text = str(name)
        if "".join(text.splitlines()) != text:
            raise ValueError(f"{origin}: class name {text!r} contains a line break "
                             "(class names are stored one per line)")


def class_order(names) -> list:
    """The distinct `names` (str) in the one class order described above."""
    return sorted({str(name) for name in names}, key=_key)


def to_indices(labels, class_names, origin):
    """Label names -> int64 indices into `class_names`; a label not among them is a ValueError
    naming `origin` (a data set never drops an example silently)."""
    import numpy as np

    index = {name: i for i, name in enumerate(class_names)}
    unknown = class_order(set(labels) - set(index))
    if unknown:
        raise ValueError(
            f"{origin}: label '{unknown[0]}' not seen in training (classes: {', '.join(class_names)})"
        )
    return np.asarray([index[label] for label in labels], np.int64)


def index_splits(named):
    """(class names, {split: int64 labels}) of {split: (items, label names, origin)}.

    The classes are those of the training split ("train", else "all"); a label of another split
    outside them is an error naming that split. A source without either (a folder holding only
    `test/`: evaluation data) has the classes of all its splits; training refuses it.
    """
    base = "train" if "train" in named else "all"
    if base in named:
        class_names = class_order(named[base][1])
    else:
        class_names = class_order(label for _, labels, _ in named.values() for label in labels)
    return class_names, {split: to_indices(labels, class_names, origin)
                         for split, (_, labels, origin) in named.items()}
