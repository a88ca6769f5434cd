"""NIfTI volumes in, NIfTI results out: orientation, spacing, validation, shape fitting.

Why this module exists: a medical user's files come in any voxel order (LPS scanners, flipped
axes), any spacing and sometimes broken. Every pipeline therefore reads a file the same way:

1. `nib.load` + decode, with every failure (missing file, corrupt gzip, not NIfTI, 2D or 4D
   data, NaN/Inf voxels) turned into a one-line `VolumeError` that names the file;
2. reorient to the closest canonical RAS (`nib.as_closest_canonical`), so that axis 0 runs
   left->right, 1 posterior->anterior, 2 inferior->superior whatever the scanner wrote;
3. optionally resample to a target voxel spacing (`scipy.ndimage.zoom`, linear for images,
   nearest for labels) so that one voxel means the same millimetres for every case.

`Volume.geometry` remembers how the array relates to the file (affine, header, shape,
orientation, spacing), so `to_original` can map a result computed on the canonical,
resampled grid back onto the input's own grid and `save_like` writes it with the input's
affine and header: a viewer overlays `scan_seg.nii.gz` on `scan.nii.gz` exactly.

Intensity normalisation is NOT done here: it lives in the model graph
(pipelines/volume_layers.py), so the exported model normalises the raw intensities a client
sends exactly as training did.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import zlib

import nibabel as nib
import numpy as np
from nibabel import orientations
from scipy import ndimage

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Decoding is bounded: a header claiming more voxels than this (or more bytes than its file can
# hold) is refused before anything is allocated. 512 x 512 x 1024 covers whole-body CT.
MAX_VOXELS = 512 * 512 * 1024
GZIP_MAX_RATIO = 1032  # deflate cannot expand a byte to more than about 1032
RAS = orientations.axcodes2ornt(("R", "A", "S"))


class VolumeError(ValueError):
    """A file that cannot be used as a volume; the message is one line and names the file."""


def is_nifti(path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


@dataclasses.dataclass(frozen=True)
class Geometry:
    """How a loaded array relates to its file, to write results back in the file's grid."""

    affine: np.ndarray  # (4, 4) the file's affine
    header: object  # the file's nibabel header (copied)
    shape: tuple  # the file's 3D shape
    ornt: np.ndarray  # (3, 2) file axes -> RAS (nibabel orientation of the file's affine)
    canonical_shape: tuple  # shape after reorientation, before resampling
    canonical_affine: np.ndarray  # (4, 4) after reorientation, before resampling
    affine_out: np.ndarray  # (4, 4) affine of the array actually returned (after resampling)

    @property
    def spacing(self):
        """Voxel size (mm) of the returned array along its axes."""
        return voxel_spacing(self.affine_out)


@dataclasses.dataclass
class Volume:
    """A 3D array on the canonical (RAS, optionally resampled) grid and where it came from."""

    data: np.ndarray  # (D, H, W) float32 image, or int labels
    path: str
    geometry: Geometry


def voxel_spacing(affine) -> tuple:
    """Voxel sizes (mm) along the array axes of an affine: the norms of its first 3 columns."""
    return tuple(float(s) for s in np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0)))


def stored_grid(path):
    """The file's voxel spacing (mm) and voxel counts along the RAS axes its loaded array has, and
    its own axis codes (e.g. "LPS"), from the header alone: what loading reorients and resamples."""
    image = nib.load(os.fspath(path))
    spacing, shape = [0.0] * 3, [0] * 3
    for axis, (ras_axis, _) in enumerate(orientations.io_orientation(image.affine)[:3]):
        spacing[int(ras_axis)] = voxel_spacing(image.affine)[axis]
        shape[int(ras_axis)] = int(image.shape[axis])
    return tuple(spacing), tuple(shape), "".join(nib.aff2axcodes(image.affine))


def _one_line(error) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _broken_gzip(path) -> bool:
    """True if the file is gzip-compressed (magic bytes) but does not decompress to the end."""
    with open(path, "rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return False
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error):
        return True
    return False


def _check_claim(path, image):
    """Refuse a header whose voxels exceed MAX_VOXELS or the bytes its file can hold, before
    nibabel allocates for the claim."""
    shape = tuple(int(n) for n in image.shape)
    voxels = int(np.prod(shape, dtype=object)) if shape else 0
    if voxels > MAX_VOXELS:
        raise VolumeError(f"{path}: the header claims {'x'.join(map(str, shape))} = {voxels} voxels, "
                          f"more than the {MAX_VOXELS} allowed")
    header = image.header
    needed = voxels * header.get_data_dtype().itemsize
    size = os.path.getsize(path)
    if path.lower().endswith(".gz"):
        if needed > size * GZIP_MAX_RATIO:
            raise VolumeError(f"{path}: the header claims {'x'.join(map(str, shape))} voxels "
                              f"({needed} bytes), more than its {size}-byte compressed file can hold")
    else:
        offset = int(header.get_data_offset()) if hasattr(header, "get_data_offset") else 0
        if offset + needed > size:
            raise VolumeError(f"{path}: the header claims {'x'.join(map(str, shape))} voxels "
                              f"({needed} bytes from offset {offset}), but the file has {size} bytes "
                              "(truncated?)")


def read_image(path):
    """The nibabel image and its voxels as a 3D float array, or a VolumeError naming `path`.

    Decoding happens here (not lazily later), so a truncated or corrupt gzip fails now, with the
    file's name, instead of deep inside tf.data.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VolumeError(f"{path}: no such file")
    if os.path.isdir(path):
        raise VolumeError(f"{path}: is a folder, expected a .nii or .nii.gz file")
    try:
        image = nib.load(path)  # the header only: the voxels are read below
        _check_claim(path, image)
        data = np.asanyarray(image.dataobj)
    except VolumeError:
        raise
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise VolumeError(f"{path}: corrupt or truncated gzip ({_one_line(error)})") from None
    except Exception as error:  # nibabel raises many kinds (ImageFileError, HeaderDataError, OSError)
        if _broken_gzip(path):
            raise VolumeError(f"{path}: corrupt or truncated gzip") from None
        raise VolumeError(f"{path}: cannot read as NIfTI ({_one_line(error)})") from None
    # A single volume stored as (X, Y, Z, 1) is 3D; anything else that is not 3D is refused.
    shape = data.shape
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise VolumeError(
            f"{path}: expected a 3D volume, got {data.ndim}D data of shape {tuple(data.shape)}"
        )
    data = data.reshape(shape)
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise VolumeError(f"{path}: unsupported voxel type {data.dtype}")
    bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise VolumeError(f"{path}: {bad} NaN/Inf voxel(s) of {data.size}")
    if shape != image.shape:
        image = nib.Nifti1Image(data, image.affine, image.header)
    return image, data


def canonical(image, data, path):
    """Reorient to the closest canonical RAS; returns (array, canonical affine, file ornt)."""
    try:
        ornt = orientations.io_orientation(image.affine)
        canon = nib.as_closest_canonical(image)
    except Exception as error:
        raise VolumeError(f"{path}: unusable affine ({_one_line(error)})") from None
    # as_closest_canonical reorders the same voxels; apply the same transform to the array we
    # decoded (already validated) instead of decoding the file a second time.
    array = orientations.apply_orientation(data, ornt)
    return np.ascontiguousarray(array), canon.affine.copy(), ornt


def resize(data, shape, order):
    """Resample a (D, H, W[, C]) array onto `shape` voxels covering the same extent.

    grid_mode=True aligns voxel edges (not centres), which is what a change of voxel size
    means; order 1 (linear) for intensities and probabilities, 0 (nearest) for labels.
    """
    shape = tuple(int(s) for s in shape)
    if tuple(data.shape[:3]) == shape:
        return data
    factors = [new / old for new, old in zip(shape, data.shape[:3])] + [1] * (data.ndim - 3)
    out = ndimage.zoom(data, factors, order=order, mode="nearest", grid_mode=True)
    if tuple(out.shape[:3]) != shape:  # zoom rounds; never expected, but never silent
        raise AssertionError(f"resize produced {out.shape[:3]}, wanted {shape}")
    return out


def resampled_shape(shape, spacing, target_spacing):
    """Voxels per axis after resampling `shape` at `spacing` (mm) to `target_spacing` (mm)."""
    return tuple(
        max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target_spacing)
    )


def scaled_affine(affine, old_shape, new_shape):
    """The affine of a resampling of `old_shape` onto `new_shape` over the same extent."""
    factors = np.asarray(old_shape, float) / np.asarray(new_shape, float)
    scale = np.eye(4)
    scale[:3, :3] = np.diag(factors)
    scale[:3, 3] = (factors - 1) / 2  # new voxel 0's centre in old voxel coordinates
    return np.asarray(affine) @ scale


def load_volume(path, target_spacing=None, order=1, dtype=np.float32) -> Volume:
    """Read, validate, reorient to RAS and optionally resample one NIfTI file.

    target_spacing: (3,) mm or None to keep the file's voxels. order: 1 for images, 0 for labels.
    """
    path = os.fspath(path)
    image, data = read_image(path)
    array, canon_affine, ornt = canonical(image, data, path)  # (D, H, W) in RAS
    canon_shape = array.shape
    affine_out = canon_affine
    if target_spacing is not None:
        new_shape = resampled_shape(canon_shape, voxel_spacing(canon_affine), target_spacing)
        array = resize(array.astype(np.float32) if order else array, new_shape, order)
        affine_out = scaled_affine(canon_affine, canon_shape, new_shape)
    geometry = Geometry(
        affine=image.affine.copy(),
        header=image.header.copy(),
        shape=tuple(data.shape),
        ornt=ornt,
        canonical_shape=tuple(canon_shape),
        canonical_affine=canon_affine,
        affine_out=affine_out,
    )
    return Volume(np.asarray(array, dtype=dtype), path, geometry)


def load_label(path, classes=None, target_spacing=None) -> Volume:
    """Like `load_volume` for a label map: integer values, nearest-neighbour resampling.

    classes: the declared number of classes; a value outside 0..classes-1 is a VolumeError.
    """
    volume = load_volume(path, target_spacing, order=0, dtype=np.float64)
    data = volume.data
    if not np.all(data == np.round(data)):
        raise VolumeError(f"{path}: label map has non-integer values")
    data = data.astype(np.int64)
    if classes is not None:
        values = np.unique(data)
        outside = values[(values < 0) | (values >= classes)]
        if outside.size:
            shown = ", ".join(str(v) for v in outside[:5])
            raise VolumeError(
                f"{path}: label value(s) {shown} outside the declared classes 0..{classes - 1}"
            )
    volume.data = data.astype(np.int32)
    return volume


def to_original(array, geometry: Geometry, order=0):
    """Map a (D, H, W[, C]) array on the returned grid back to the file's grid and axis order.

    Undo the resampling (onto the canonical shape) then the reorientation (onto the file's
    axis order and directions). Use order=1 for probabilities, 0 for labels.
    """
    array = resize(array, geometry.canonical_shape, order)
    back = orientations.ornt_transform(RAS, geometry.ornt)  # canonical axes -> file axes
    # apply_orientation reorders the 3 leading axes and keeps trailing ones (channels)
    return np.ascontiguousarray(orientations.apply_orientation(array, back))


def save_like(array, geometry: Geometry, path, dtype=np.uint8):
    """Write `array` (already on the file's grid, see `to_original`) with the input's affine and
    header, as a NIfTI file (gzip if the name ends in .gz)."""
    array = np.asarray(array)
    if array.shape[:3] != tuple(geometry.shape):
        raise ValueError(f"{path}: array shape {array.shape} is not the input's {geometry.shape}")
    header = geometry.header.copy()
    header.set_data_dtype(dtype)
    image = nib.Nifti1Image(array.astype(dtype), geometry.affine, header)
    image.header.set_slope_inter(1, 0)  # labels are stored as they are, never scaled
    try:
        image.set_qform(geometry.affine, code=int(geometry.header["qform_code"]) or 1)
        image.set_sform(geometry.affine, code=int(geometry.header["sform_code"]) or 1)
    except (KeyError, TypeError):  # an Analyze/NIfTI-2 header without these fields
        pass
    nib.save(image, os.fspath(path))
    return path


def fit_to_shape(array, shape, offsets=None, value=0):
    """Centre-pad and/or centre-crop the leading 3 axes of `array` to `shape`.

    offsets: (3,) start of the crop in the padded array (random crops in training), or None for
    the centre. Returns (fitted array, (pad_before, crop_start)).
    """
    shape = tuple(int(s) for s in shape)
    pad_before, pad = [], []
    for have, want in zip(array.shape[:3], shape):
        total = max(want - have, 0)
        pad_before.append(total // 2)
        pad.append((total // 2, total - total // 2))
    padded = np.pad(array, pad + [(0, 0)] * (array.ndim - 3), constant_values=value)
    if offsets is None:
        offsets = [(have - want) // 2 for have, want in zip(padded.shape[:3], shape)]
    crop = tuple(slice(o, o + w) for o, w in zip(offsets, shape))
    return padded[crop], (tuple(pad_before), tuple(int(o) for o in offsets))

