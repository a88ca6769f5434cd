"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped in the wheel): offline.

Pixel values 0..16 are scaled to 0..255 uint8 so that every digits source is a grey image. The
test split is the usual 25% stratified split with seed 0 (`train_test_split(..., stratify=y)`).
"""
from __future__ import annotations

import numpy as np

from datasets.examples import ArrayExamples, SourceData


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


def write_png(path, index=0):
    """Write test image `index` of the bundled split as an 8x8 grey PNG; returns its label."""
    from PIL import Image

    test = load().splits["test"]
    Image.fromarray(test.inputs[index][..., 0]).save(path)
    return int(test.labels[index])


if __name__ == "__main__":  # python -m datasets.synthetic.bundled_digits OUT.png [INDEX]  (used by make demo)
    import sys

    label = write_png(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(f"{sys.argv[1]}: bundled test digit, true label {label}")
