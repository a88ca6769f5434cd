"""What `cnn predict` reads and prints: the FILES named on the command line expanded to files
(folders recursively, glob patterns by Python's `glob`, so a quoted `'imgs/*.png'` works), and
each file's result as a text line or one JSON object. Shared by local prediction (analysis/) and
the REST client (serving/): neither imports the other.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import pathlib

import numpy as np

GLOB_CHARACTERS = "*?["


def _readable(path, extensions):
    """Whether `path` is a visible file the pipeline reads (every visible file without `extensions`)."""
    name = path.name.lower()
    return (path.is_file() and not name.startswith(".")
            and (not extensions or any(name.endswith(suffix) for suffix in extensions)))


def expand(inputs, extensions=()):
    """(files, empty): `inputs` as files, in order. A file stays as it is (a missing one too: it
    is reported when read); a folder gives every file in it whose name ends with one of
    `extensions`, recursively and sorted; a glob pattern gives its matches, sorted, each folder
    expanded likewise. `empty`: the folders and patterns that gave no file."""
    files, empty = [], []
    for given in map(str, inputs):
        is_pattern = any(character in given for character in GLOB_CHARACTERS) and not pathlib.Path(given).exists()
        matches = sorted(glob.glob(given, recursive=True)) if is_pattern else [given]
        found = []
        for match in map(pathlib.Path, matches):
            if match.is_dir():
                found += sorted(path for path in match.rglob("*") if _readable(path, extensions))
            elif not is_pattern or _readable(match, extensions):
                found.append(match)
        if not found:
            empty.append(given)
        files += found
    return files, empty


def nothing_found(given, extensions=()):
    """The line for a folder or pattern that gave no file."""
    kinds = f" ({', '.join(extensions)})" if extensions else ""
    what = "pattern" if any(character in given for character in GLOB_CHARACTERS) else "folder"
    return f"{given}: the {what} holds no file to predict{kinds}"


def check_top_k(top_k, classes):
    """`top_k`, unless it is not between 1 and the number of classes (ValueError naming --top-k)."""
    if not 1 <= top_k <= classes:
        raise ValueError(f"--top-k {top_k}: must be between 1 and {classes} (the model's classes)")
    return top_k


@dataclasses.dataclass
class Prediction:
    """One file's result: its top classes (label, probability), most probable first; or a
    pipeline's own line (segmentation names the file it wrote); or why it failed."""

    file: str
    top_k: list = dataclasses.field(default_factory=list)  # [(label, probability)]
    line: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, file, probabilities, names, top_k=1):
        """From one file's class probabilities; `names(class_id)` gives a class's label."""
        probabilities = np.asarray(probabilities, np.float64).reshape(-1)
        best = np.argsort(-probabilities, kind="stable")[:top_k]
        return cls(str(file), [(names(int(i)), float(probabilities[i])) for i in best])

    @classmethod
    def failed(cls, file, error):
        """A file that could not be predicted; the message names the file once."""
        message = " ".join(str(error).split())
        file = str(file)
        return cls(file, error=message if message.startswith(file) else f"{file}: {message}")

    @property
    def label(self):
        return self.top_k[0][0]

    @property
    def probability(self):
        return self.top_k[0][1]

    def text(self):
        """path, label, probability (then each further class and its probability), tab-separated."""
        if self.line is not None:
            return self.line
        return "\t".join([self.file, *(f"{label}\t{probability:.4f}" for label, probability in self.top_k)])

    def json(self):
        """One JSON object: file, label, probability, top_k [{label, probability}, ...]."""
        if self.line is not None:
            return json.dumps({"file": self.file, "result": self.line.removeprefix(f"{self.file}\t")})
        return json.dumps({"file": self.file, "label": self.label, "probability": self.probability,
                           "top_k": [{"label": label, "probability": probability}
                                     for label, probability in self.top_k]})
