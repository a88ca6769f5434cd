"""`cnn fingerprint` on what reading changes: audio files' own sample rates, durations and
channels, volumes' own spacings, voxel counts and orientations (from the headers)."""
import nibabel as nib
import numpy as np
import pytest
import soundfile

import pipelines
from pipelines.core import fingerprint
from pipelines.core.config import override


def measured(name, source, *settings):
    """The fingerprint with every file of `source` in the training split (it is its own test data)."""
    cls = pipelines.get(name)
    pipeline = cls(override(cls.Config(), list(settings)))
    return pipeline, fingerprint.measure(pipeline, str(source), test_data=str(source))


# ------------------------------------------------------------------ audio files as stored
def test_audio_files_report_their_own_rate_duration_and_channels(tmp_path):
    rng = np.random.default_rng(0)
    clips = {"yes/a.wav": (8000, 4000, 1), "yes/b.wav": (22050, 33075, 2), "no/c.wav": (8000, 12000, 1)}
    for name, (rate, frames, channels) in clips.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        soundfile.write(tmp_path / name, rng.uniform(-0.5, 0.5, (frames, channels)), rate, subtype="PCM_16")
    pipeline, result = measured("audio", tmp_path, "validation_fraction=0")
    stats = result["statistics"]
    assert stats["file_sample_rate"] == {"8000": 2, "22050": 1}  # read at sample_rate=16000
    assert stats["file_channels"] == {"1": 2, "2": 1}
    durations = [frames / rate for rate, frames, _ in clips.values()]  # 0.5, 1.5, 1.5 s
    assert (stats["file_duration_seconds"]["min"], stats["file_duration_seconds"]["max"]) == pytest.approx(
        (min(durations), max(durations)))
    assert stats["file_duration_seconds"]["median"] == pytest.approx(np.median(durations))
    assert stats["duration_seconds"]["max"] == pytest.approx(pipeline.config.clip_seconds)  # as read: fitted


def test_arrays_without_files_report_no_file_statistics():
    _, result = measured("audio", "bundled", "bundled_per_class=1")
    assert not [name for name in result["statistics"] if name.startswith("file_")]


# ------------------------------------------------------------------ volumes as stored
def write_volume(path, spacing, shape=(8, 8, 8), axes=(0, 1, 2), flips=(1, 1, 1), value=0.0):
    """A NIfTI whose file axis i runs along RAS axis axes[i] (flips: -1 for L, P or I) with spacing[i]."""
    affine = np.eye(4)
    affine[:3, :3] = 0
    for axis, (ras, flip, size) in enumerate(zip(axes, flips, spacing)):
        affine[ras, axis] = flip * size
    data = np.random.default_rng(len(str(path))).uniform(0, 100, shape).astype(np.float32) + value
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))


def test_volumes_report_spacing_voxels_and_orientation_along_the_loaded_axes(tmp_path):
    # file axes (i, j, k) -> RAS (y, x, z), the first two flipped: stored as "PLS"
    write_volume(tmp_path / "a" / "1.nii.gz", (2.0, 0.5, 4.0), shape=(6, 10, 4), axes=(1, 0, 2), flips=(-1, -1, 1))
    write_volume(tmp_path / "a" / "2.nii.gz", (1.0, 1.0, 1.0))
    write_volume(tmp_path / "b" / "3.nii.gz", (1.0, 1.0, 3.0))
    _, result = measured("volumes", tmp_path, "shape=8,8,8")
    stats = result["statistics"]
    assert stats["file_orientation"] == {"RAS": 2, "PLS": 1}
    assert stats["file_spacing"] == {"0.5x2x4": 1, "1x1x1": 1, "1x1x3": 1}  # x, y, z as loaded
    assert (stats["file_spacing_x"]["min"], stats["file_spacing_y"]["max"], stats["file_spacing_z"]["median"]) \
        == pytest.approx((0.5, 2.0, 3.0))
    assert (stats["file_voxels_x"]["min"], stats["file_voxels_y"]["min"], stats["file_voxels_z"]["min"]) == (8, 6, 4)
    assert stats["file_anisotropy"]["max"] == pytest.approx(8.0) and stats["file_anisotropy"]["min"] == 1.0
    assert stats["shape"]["10x6x4"] == 1  # the loaded array of the first file, on the same axes


def test_segmentation_reports_the_image_files(tmp_path):
    for case, spacing in ((1, (1.0, 1.0, 1.0)), (2, (1.2, 1.0, 1.0))):
        write_volume(tmp_path / "imagesTr" / f"hippo_{case:03d}.nii.gz", spacing)
        write_volume(tmp_path / "labelsTr" / f"hippo_{case:03d}.nii.gz", spacing, value=-200.0)
        label = tmp_path / "labelsTr" / f"hippo_{case:03d}.nii.gz"
        image = nib.load(str(label))
        nib.save(nib.Nifti1Image((np.arange(512).reshape(8, 8, 8) % 2).astype(np.uint8), image.affine), str(label))
    _, result = measured("segment", tmp_path, "shape=8,8,8", "depth=1")
    assert result["statistics"]["file_spacing"] == {"1x1x1": 1, "1.2x1x1": 1}


def test_only_the_training_files_are_read(tmp_path):
    from datasets.examples import ArrayExamples

    examples = ArrayExamples(labels=np.array([0, 1, 0, 1]), origin="four", inputs=np.arange(4)[:, None],
                             files=["a", "b", "c", "d"])
    taken = examples.take([3, 1])
    assert taken.source_files() == ["d", "b"] and taken.inputs[:, 0].tolist() == [3, 1]
    for index in range(8):
        write_volume(tmp_path / "ab"[index % 2] / f"{index}.nii.gz", (1.0, 1.0, 1.0 + index % 2))
    cls = pipelines.get("volumes")
    result = fingerprint.measure(cls(override(cls.Config(), ["shape=8,8,8"])), str(tmp_path))
    assert result["examples"] < 8  # a stratified test hold-out
    assert result["statistics"]["file_orientation"] == {"RAS": result["examples"]}
    assert result["statistics"]["file_spacing_z"]["count"] == result["examples"]
