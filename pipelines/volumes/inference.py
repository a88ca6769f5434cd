"""Whole-volume inference with a fixed-shape network: overlapping windows, averaged.

Our layers need static spatial sizes, so the segmentation network (and its export) takes a fixed
window [D, H, W]. A volume of any shape is covered by windows placed on a regular grid (the last
window flush with the far edge) with the given overlap; each voxel's probabilities are the mean
over the windows that contain it. Volumes smaller than the window are padded with their minimum
intensity (what the training crops pad with) and the padding is cut away again.
"""
from __future__ import annotations

import math

import numpy as np


def window_starts(size, window, overlap):
    """Start indices along one axis: cover 0..size with `window`, step <= window * (1 - overlap)."""
    if size <= window:
        return [0]
    step = max(1, int(window * (1 - overlap)))
    count = math.ceil((size - window) / step) + 1
    return sorted({int(round(i * (size - window) / (count - 1))) for i in range(count)})


def pad_volume(volume, window):
    """Pad (D, H, W) evenly to at least `window` with its minimum; returns (padded, slices)."""
    pads = [max(w - s, 0) for s, w in zip(volume.shape, window)]
    before = [p // 2 for p in pads]
    padded = np.pad(volume, [(b, p - b) for b, p in zip(before, pads)], constant_values=volume.min())
    keep = tuple(slice(b, b + s) for b, s in zip(before, volume.shape))
    return padded, keep


def predict_volume(predict, volume, window, overlap=0.5, batch_size=4):
    """(D, H, W) raw volume -> (D, H, W, K) probabilities.

    predict: a function (B, *window, 1) float32 -> (B, *window, K) probabilities (NumPy), e.g. a
    Keras model's `predict_on_batch` or the exported `serving_default`.
    """
    window = tuple(int(w) for w in window)
    padded, keep = pad_volume(np.asarray(volume, np.float32), window)
    sums = None  # (D, H, W, K), allocated when the first window tells K
    counts = np.zeros(padded.shape + (1,), np.float32)
    starts = [
        (a, b, c)
        for a in window_starts(padded.shape[0], window[0], overlap)
        for b in window_starts(padded.shape[1], window[1], overlap)
        for c in window_starts(padded.shape[2], window[2], overlap)
    ]
    for first in range(0, len(starts), batch_size):
        group = starts[first:first + batch_size]
        regions = [tuple(slice(s, s + w) for s, w in zip(start, window)) for start in group]
        batch = np.stack([padded[region] for region in regions])[..., None]  # (B, D, H, W, 1)
        probabilities = np.asarray(predict(batch))  # (B, D, H, W, K)
        if sums is None:
            sums = np.zeros(padded.shape + probabilities.shape[-1:], np.float32)
        for region, p in zip(regions, probabilities):
            sums[region] += p
            counts[region] += 1
    return (sums / counts)[keep]
