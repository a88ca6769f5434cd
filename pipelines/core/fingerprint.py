"""A data set's fingerprint (`cnn fingerprint`): one pass over the training split, bounded in memory.

The framework reads the split training would see (`sources.load_splits`: the same hold-outs),
counts the classes and drives the pass; each domain adds its own statistics per example through
`Pipeline.fingerprint_example(example, measurements)`, from the example as its
`fingerprint_decode` reads it, and through `Pipeline.fingerprint_file(path, measurements)` what
the file's header says that reading changes (an audio file's own sample rate, a volume's own
spacing). Memory does not grow with the data: exact count, minimum, maximum
and mean per statistic, and percentiles from a seeded reservoir sample (exact while a statistic
has at most `RESERVOIR` values), as nnU-Net's and MONAI's data analysers sample intensities.
"""
from __future__ import annotations

import math

import numpy as np

RESERVOIR = 10000  # values kept per statistic for its percentiles
PER_EXAMPLE = 256  # values of one array (voxels, pixels) offered to the reservoir
CATEGORIES = 20  # distinct keys a tally keeps (the rest are counted as "other")
DISTINCT = 256  # distinct values tracked before a value set is "many"
VOCABULARY = 500000  # distinct words counted exactly


class Stream:
    """Numbers: exact count/min/max/mean/std; percentiles from a reservoir (Vitter's algorithm R)."""

    def __init__(self, seed=0):
        self.count, self.mean, self.squared_deviations = 0, 0.0, 0.0
        self.minimum, self.maximum = math.inf, -math.inf
        self.sample, self.offered = [], 0
        self.random = np.random.default_rng(seed)

    def add(self, values):
        values = np.asarray(values, np.float64).ravel()
        if values.size == 0:
            return
        # Chan et al.'s pairwise update: exact mean and variance without E[x^2] - E[x]^2's cancellation
        mean = float(values.mean())
        delta, count = mean - self.mean, self.count + values.size
        self.squared_deviations += (float(np.square(values - mean).sum())
                                    + delta * delta * self.count * values.size / count)
        self.mean += delta * values.size / count
        self.count = count
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))
        if values.size > PER_EXAMPLE:
            values = self.random.choice(values, PER_EXAMPLE, replace=False)
        for value in values.tolist():
            self.offered += 1
            if len(self.sample) < RESERVOIR:
                self.sample.append(value)
            else:
                slot = int(self.random.integers(self.offered))
                if slot < RESERVOIR:
                    self.sample[slot] = value

    def summary(self):
        p5, p50, p95 = np.percentile(self.sample, [5, 50, 95]).tolist()
        return {"count": self.count, "min": self.minimum, "max": self.maximum, "mean": self.mean,
                "std": math.sqrt(self.squared_deviations / self.count), "p5": p5, "median": p50, "p95": p95}


class Tally:
    """Categories (shapes, channels): how often each was seen, the first CATEGORIES of them."""

    def __init__(self):
        self.counts, self.other = {}, 0

    def add(self, key):
        key = "x".join(map(str, key)) if isinstance(key, tuple) else str(key)
        if key in self.counts or len(self.counts) < CATEGORIES:
            self.counts[key] = self.counts.get(key, 0) + 1
        else:
            self.other += 1

    def summary(self):
        ranked = dict(sorted(self.counts.items(), key=lambda item: -item[1]))
        return {**ranked, "other": self.other} if self.other else ranked


class Values:
    """The set of distinct values in arrays (up to DISTINCT), and whether all were integers:
    binary masks and integer label maps show themselves here."""

    def __init__(self):
        self.distinct, self.many, self.integer = set(), False, True

    def add(self, values):
        values = np.asarray(values)
        if self.integer and values.dtype.kind == "f":
            self.integer = bool(np.all(values == np.round(values)))
        if not self.many:
            self.distinct.update(np.unique(values).tolist())
            if len(self.distinct) > DISTINCT:
                self.many, self.distinct = True, set()

    def summary(self):
        distinct = None if self.many else sorted(float(v) for v in self.distinct)
        return {"distinct": distinct, "integer": self.integer,
                "binary": distinct is not None and len(distinct) == 2}


class Share:
    """A part of a whole summed over examples (non-ASCII characters of all characters)."""

    def __init__(self):
        self.part, self.whole = 0, 0

    def add(self, part, whole):
        self.part, self.whole = self.part + int(part), self.whole + int(whole)

    def summary(self):
        return {"share": self.part / self.whole if self.whole else 0.0, "of": self.whole}


class Vocabulary:
    """Distinct words, counted exactly up to VOCABULARY of them (then: at least that many)."""

    def __init__(self):
        self.words, self.full = set(), False

    def add(self, words):
        if not self.full:
            self.words.update(words)
            self.full = len(self.words) >= VOCABULARY

    def summary(self):
        return {"size": len(self.words), "at_least": self.full}


class Counts:
    """How many of each integer value, summed over examples (a label map's voxels per class)."""

    def __init__(self):
        self.counts = np.zeros(0, np.int64)

    def add(self, values):
        counts = np.bincount(np.rint(np.asarray(values)).astype(np.int64).ravel())
        size = max(len(counts), len(self.counts))
        self.counts = np.pad(self.counts, (0, size - len(self.counts))) + np.pad(counts, (0, size - len(counts)))

    def summary(self):
        return self.counts.tolist()


class Measurements:
    """What a domain's `fingerprint_example` records, by name, kind made on first use."""

    def __init__(self):
        self.items = {}

    def _get(self, name, kind):
        item = self.items.setdefault(name, kind())
        if not isinstance(item, kind):
            raise TypeError(f"statistic {name} is a {type(item).__name__}, not a {kind.__name__}")
        return item

    def numbers(self, name, values):
        self._get(name, Stream).add(values)

    def category(self, name, key):
        self._get(name, Tally).add(key)

    def values(self, name, array):
        self._get(name, Values).add(array)

    def share(self, name, part, whole):
        self._get(name, Share).add(part, whole)

    def vocabulary(self, name, words):
        self._get(name, Vocabulary).add(words)

    def counts(self, name, values):
        self._get(name, Counts).add(values)

    def summary(self):
        return {name: item.summary() for name, item in self.items.items()}


def measure(pipeline, source, data_dir=None, test_data=None):
    """The fingerprint (a JSON-ready dict) of SOURCE's training split as `pipeline` reads it
    (with `test_data` given, as `cnn train --test-data` splits it: no test hold-out)."""
    from pipelines.core import sources

    splits = sources.load_splits(pipeline, source, test_data, data_dir)
    train = splits.train
    measurements = Measurements()
    for example, _ in train.dataset(pipeline.fingerprint_decode).as_numpy_iterator():
        pipeline.fingerprint_example(example, measurements)
    for path in train.source_files() or ():  # what reading changed: the files' own rates, spacings
        pipeline.fingerprint_file(path, measurements)
    statistics = measurements.summary()
    counted = pipeline.fingerprint_class_counts
    if counted:  # per voxel (segmentation): every case's own label says nothing
        counts = np.asarray(statistics.pop(counted, []), np.int64)
    else:
        counts = np.bincount(train.labels)
    counts = np.pad(counts, (0, max(0, len(splits.class_names) - len(counts))))
    present = counts[counts > 0]
    return {
        "pipeline": pipeline.name,
        "data": source or "bundled",
        "examples": int(len(train)),
        "classes_counted": counted or "examples",
        "classes": {name: int(count) for name, count in zip(splits.class_names, counts)},
        # largest class / smallest present class (1.0: balanced)
        "imbalance": float(present.max() / present.min()) if len(present) else None,
        "statistics": statistics,
    }


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_format(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return str(value)


def render(fingerprint):
    """The fingerprint as a readable block of lines."""
    lines = [f"fingerprint of {fingerprint['data']} ({fingerprint['pipeline']}): "
             f"{fingerprint['examples']} training examples",
             f"  classes ({fingerprint.get('classes_counted', 'examples')}): {_format(fingerprint['classes'])}",
             f"  imbalance (largest / smallest class): {_format(fingerprint['imbalance'])}"]
    lines += [f"  {name}: {_format(summary)}" for name, summary in fingerprint["statistics"].items()]
    return "\n".join(lines)
