"""Writes the sample inputs of the README's quickstart from the bundled generators (seeded, so
running it again gives the same files). Each file name holds its true label.

    .venv/bin/python samples/make_samples.py [FOLDER]     (default: this folder)
"""
from __future__ import annotations

import pathlib
import shutil
import sys
import tempfile
import wave

import numpy as np

from datasets.synthetic import bundled_digits, dtmf, phantoms, reviews

HERE = pathlib.Path(__file__).resolve().parent
DIGIT, KEY = 7, "5"
SEED = 2026  # not the bundled sets' seed 0: the samples are not training examples


def write_wav(path, waveform, sample_rate):
    """16-bit PCM mono WAV, the format every export's `waveform_bytes` signature decodes."""
    pcm = np.round(np.clip(waveform, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())


def write_lesion_volume(path):
    """One generated phantom with a lesion (a bundled-style case, from a set of two of another seed)."""
    with tempfile.TemporaryDirectory() as work:
        manifest = phantoms.write_classification(root=work, count=2, seed=SEED)
        case = [line.split(",")[0] for line in manifest.read_text().splitlines()[1:] if line.endswith(",lesion")][0]
        shutil.copyfile(manifest.parent / case, path)


def main(folder=HERE):
    folder = pathlib.Path(folder)
    rng = np.random.default_rng(SEED)
    bundled_digits.write_png(folder / f"digit-{DIGIT}.png", DIGIT)
    write_wav(folder / f"dtmf-{KEY}.wav", dtmf.tone_clip(KEY, rng), 16000)
    write_lesion_volume(folder / "phantom-lesion.nii.gz")
    (folder / "review-positive.txt").write_text(reviews.review(rng, 1) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
