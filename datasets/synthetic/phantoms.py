"""Bundled 3D data: generated phantom volumes written as real NIfTI files.

Why generated files rather than arrays: the offline default source must exercise the same path
a user's data takes (nibabel decoding, orientation, spacing, manifests), so the phantoms are
written to disk with varied shapes, voxel sizes and axis orders (some LPS, some permuted) and
read back by the ordinary loaders.

- Classification (`write_classification`): a noisy ellipsoidal "organ" in a darker body; half
  of the cases carry a spherical lesion (brighter or darker than the organ, of varied radius,
  position and contrast). manifest.csv: `image,label` with labels `healthy` / `lesion`.
- Segmentation (`write_segmentation`): the same organ (label 1) with a lesion (label 2) in
  every case, in the Medical Segmentation Decathlon layout (imagesTr/, labelsTr/,
  dataset.json).

Generation is deterministic for a seed; a finished set is marked by its manifest, written last
(the folder is built under a temporary name and renamed), so an interrupted run never leaves a
half-written set that looks complete.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import shutil
import tempfile

import nibabel as nib
import numpy as np

CLASS_NAMES = ("healthy", "lesion")
SEGMENT_CLASSES = ("background", "organ", "lesion")


def default_root() -> pathlib.Path:
    """Where bundled sets are generated: $CNN_SUITE_DATA or ~/.cache/cnn-suite."""
    base = os.environ.get("CNN_SUITE_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "cnn-suite")
    return pathlib.Path(base) / "phantoms"


def _random_affine(rng, spacing):
    """An affine with the given voxel sizes and a random axis order and directions.

    Half the cases are plain RAS; the others permute and flip axes (e.g. LPS), so readers must
    reorient to be right.
    """
    affine = np.eye(4)
    if rng.random() < 0.5:
        order = rng.permutation(3)
        signs = rng.choice([-1.0, 1.0], size=3)
    else:
        order, signs = np.arange(3), np.ones(3)
    affine[:3, :3] = 0
    for axis in range(3):
        affine[order[axis], axis] = signs[axis] * spacing[axis]
    affine[:3, 3] = rng.uniform(-50, 50, size=3)
    return affine


def _phantom(rng, shape, lesion: bool):
    """(image float32, labels uint8) of one case on a grid of `shape` voxels."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"), -1)
    centre = rng.uniform(-0.15, 0.15, size=3)
    radii = rng.uniform(0.45, 0.75, size=3)
    organ = (((grid - centre) / radii) ** 2).sum(-1) <= 1.0
    body, organ_level = rng.uniform(-20, 20), rng.uniform(80, 140)
    image = np.full(shape, body, np.float32)
    image[organ] = organ_level
    labels = organ.astype(np.uint8)
    if lesion:
        # a point well inside the organ, a radius of 12-25% of the organ's smallest radius
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        spot = centre + direction * radii * rng.uniform(0.0, 0.45)
        radius = radii.min() * rng.uniform(0.3, 0.45)
        inside = (((grid - spot) / radius) ** 2).sum(-1) <= 1.0
        contrast = rng.choice([-1.0, 1.0]) * rng.uniform(50, 90)
        image[inside & organ] = organ_level + contrast
        labels[inside & organ] = 2
    image += rng.normal(0, rng.uniform(5, 12), size=shape).astype(np.float32)
    scale, offset = rng.uniform(0.5, 2.0), rng.uniform(-10, 10)  # scanner-dependent intensities
    return (image * scale + offset).astype(np.float32), labels


def _case(rng, shape_range):
    shape = tuple(int(n) for n in rng.integers(shape_range[0], shape_range[1] + 1, size=3))
    spacing = tuple(float(s) for s in rng.uniform(0.8, 1.5, size=3).round(2))
    return shape, spacing


def _publish(build, final: pathlib.Path):
    """Build a set in a temporary sibling folder and rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        build(work)
        try:
            os.rename(work, final)
        except OSError:  # another process finished the same set first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def write_classification(root=None, count=48, seed=0, shape_range=(20, 28)) -> pathlib.Path:
    """Generate (once) `count` phantoms, half with a lesion; returns the manifest.csv path."""
    root = pathlib.Path(root) if root is not None else default_root()
    final = root / f"classification-n{count}-s{seed}-{shape_range[0]}-{shape_range[1]}"
    if (final / "manifest.csv").exists():
        return final / "manifest.csv"

    def build(folder):
        rng = np.random.default_rng(seed)
        rows = []
        (folder / "volumes").mkdir()
        for index in range(count):
            lesion = index % 2 == 1
            shape, spacing = _case(rng, shape_range)
            image, _ = _phantom(rng, shape, lesion)
            name = f"volumes/case_{index:04d}.nii.gz"
            nib.save(nib.Nifti1Image(image, _random_affine(rng, spacing)), str(folder / name))
            rows.append((name, CLASS_NAMES[int(lesion)]))
        with open(folder / "manifest.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "label"])
            writer.writerows(rows)

    return _publish(build, final) / "manifest.csv"


def write_segmentation(root=None, count=16, seed=0, shape_range=(20, 28)) -> pathlib.Path:
    """Generate (once) `count` image/label pairs in the MSD layout; returns the folder."""
    root = pathlib.Path(root) if root is not None else default_root()
    final = root / f"segmentation-n{count}-s{seed}-{shape_range[0]}-{shape_range[1]}"
    if (final / "dataset.json").exists():
        return final

    def build(folder):
        rng = np.random.default_rng(seed)
        (folder / "imagesTr").mkdir()
        (folder / "labelsTr").mkdir()
        training = []
        for index in range(count):
            shape, spacing = _case(rng, shape_range)
            image, labels = _phantom(rng, shape, lesion=True)
            affine = _random_affine(rng, spacing)
            name = f"phantom_{index:03d}.nii.gz"
            nib.save(nib.Nifti1Image(image, affine), str(folder / "imagesTr" / name))
            nib.save(nib.Nifti1Image(labels, affine), str(folder / "labelsTr" / name))
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        description = {
            "name": "phantoms",
            "description": "cnn-suite generated phantoms: organ (1) with a lesion (2)",
            "modality": {"0": "synthetic"},
            "labels": {str(i): name for i, name in enumerate(SEGMENT_CLASSES)},
            "numTraining": count,
            "training": training,
        }
        (folder / "dataset.json").write_text(json.dumps(description, indent=2))

    return _publish(build, final)
