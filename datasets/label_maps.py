"""An evaluation source's labels mapped onto a model's classes, without rewriting its files.

Why: the same data is published in several layouts that name the classes differently. A model
trained on MedMNIST's .npz knows `normal` and `mass`; MedMNIST's own NIfTI export of the same
volumes has a labels.csv of 0 and 1. The rule, in order:
1. `label_map` given (`--label-map 0=normal,1=mass`): the source's labels are renamed by it
   (labels it does not name keep theirs), then matched by name;
2. every label of the source is a class of the model: matched by name;
3. none is, and every one is an integer index into the model's classes: matched by index,
   with a note saying so (a label map chooses otherwise);
4. else the unknown label is an error naming the source and the classes.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from datasets.splits import align

OPTION = "--label-map"


def parse(text):
    """{source label: model class} of 'LABEL=CLASS[,LABEL=CLASS...]'."""
    mapping = {}
    for item in str(text).split(","):
        source, equals, target = (part.strip() for part in item.partition("="))
        if not (equals and source and target):
            raise ValueError(f"{OPTION} {text!r}: expected LABEL=CLASS[,LABEL=CLASS...], got {item.strip()!r}")
        if source in mapping:
            raise ValueError(f"{OPTION} {text!r}: label '{source}' is mapped twice")
        mapping[source] = target
    return mapping


def present_labels(data):
    """The class names of `data` that label at least one example, in class order."""
    used = set()
    for examples in data.splits.values():
        used.update(int(i) for i in np.unique(examples.labels))
    return [str(data.class_names[i]) for i in sorted(used)]


def onto(data, class_names, label_map=None):
    """(`data` with labels re-numbered onto `class_names`, a note or None): the rule above."""
    class_names = [str(name) for name in class_names]
    if label_map:
        return _mapped(data, class_names, label_map)
    present = present_labels(data)
    if all(name in class_names for name in present):
        return align(data, class_names), None
    if _indices(present, class_names):
        by_index = [class_names[int(name)] if _is_index(name, class_names) else name
                    for name in map(str, data.class_names)]
        note = (f"{data.description}: labels {', '.join(present)} are not the model's classes; "
                f"read as indices: " + ", ".join(f"{name} -> {class_names[int(name)]}" for name in present)
                + f" (choose otherwise with {OPTION} LABEL=CLASS,...)")
        return align(dataclasses.replace(data, class_names=by_index), class_names), note
    unknown = next(name for name in present if name not in class_names)
    raise ValueError(f"{data.description}: label '{unknown}' is not a class of the model "
                     f"(classes: {', '.join(class_names)}); map the labels with {OPTION} LABEL=CLASS,...")


def _is_index(name, class_names):
    return name.isdigit() and int(name) < len(class_names)


def _indices(present, class_names):
    """Whether the labels are all integer indices into `class_names` and none is a class name."""
    return all(_is_index(name, class_names) for name in present) and not set(present) & set(class_names)


def _mapped(data, class_names, label_map):
    names = [str(name) for name in data.class_names]
    unknown = [label for label in label_map if label not in names]
    if unknown:
        raise ValueError(f"{OPTION}: {data.description} has no label '{unknown[0]}' "
                         f"(its labels: {', '.join(names)})")
    foreign = [target for target in label_map.values() if target not in class_names]
    if foreign:
        raise ValueError(f"{OPTION}: '{foreign[0]}' is not a class of the model "
                         f"(classes: {', '.join(class_names)})")
    renamed = dataclasses.replace(data, class_names=[label_map.get(name, name) for name in names])
    unmapped = [name for name in present_labels(renamed) if name not in class_names]
    if unmapped:
        raise ValueError(f"{OPTION}: {data.description} label '{unmapped[0]}' is neither mapped nor a "
                         f"class of the model (classes: {', '.join(class_names)})")
    note = (f"{data.description}: labels mapped by {OPTION}: "
            + ", ".join(f"{source} -> {target}" for source, target in label_map.items()))
    return align(renamed, class_names), note
