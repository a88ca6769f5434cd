"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped in the wheel): offline.

Pixel values 0..16 are scaled to 0..255 uint8 so that every digits source is a grey image. The
test split is the usual 25% stratified split with seed 0 (`train_test_split(..., stratify=y)`).
"""
from __future__ import annotations

import sys

import numpy as np

from datasets.examples import ArrayExamples, SourceData

USAGE = "usage: python -m datasets.synthetic.bundled_digits OUT.png [DIGIT]  (DIGIT: the wanted label, 0-9)"


def load():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    labels = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=0.25, stratify=labels, random_state=0
    )
    origin = "bundled sklearn digits"
    splits = {
        "train": ArrayExamples(labels=train_y, origin=f"{origin} (train)", inputs=train_x),
        "test": ArrayExamples(labels=test_y, origin=f"{origin} (test, 25% stratified, seed 0)", inputs=test_x),
    }
    return SourceData(splits, [str(i) for i in range(10)],
                      f"bundled: scikit-learn digits 8x8, {len(train_y)} train / {len(test_y)} test")


def write_png(path, digit=0):
    """Write the first test image whose label is `digit` as an 8x8 grey PNG; returns its test index.

    The argument is the label, not an index: asking for a 7 must give a 7 (an index gave a 4)."""
    from PIL import Image

    test = load().splits["test"]
    index = int(np.flatnonzero(test.labels == digit)[0])
    Image.fromarray(test.inputs[index][..., 0]).save(path)
    return index


def parse_digit(text):
    """The DIGIT argument as an int 0-9, or None when it is not one."""
    return int(text) if text in tuple("0123456789") else None


def main(argv):
    """`OUT.png [DIGIT]` -> exit status: 0 written, 2 a usage error (one line)."""
    if not 1 <= len(argv) <= 2:
        print(USAGE, file=sys.stderr)
        return 2
    digit = parse_digit(argv[1]) if len(argv) == 2 else 0
    if digit is None:
        print(f"DIGIT must be one of 0-9 (the label of the test image to write), not {argv[1]!r}", file=sys.stderr)
        return 2
    try:
        index = write_png(argv[0], digit)
    except (OSError, ValueError) as error:  # a missing folder, no write permission, not a PNG name
        print(f"cannot write {argv[0]}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return 2
    print(f"{argv[0]}: bundled test digit {index}, true label {digit}")
    return 0


if __name__ == "__main__":  # used by make demo and samples/make_samples.py
    sys.exit(main(sys.argv[1:]))
