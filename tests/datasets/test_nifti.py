"""NIfTI loading, orientation, resampling, writing back, sources and their error messages."""
import gzip
import json

import nibabel as nib
import numpy as np
import pytest

from datasets.formats import decathlon, medmnist, nifti
from datasets.synthetic import phantoms
from datasets import volumes
from datasets.formats.nifti import VolumeError

LPS_PERMUTED = np.array([[0, 0, -2.0, 10], [-1.5, 0, 0, 5], [0, 3.0, 0, -4], [0, 0, 0, 1]])


def save(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), str(path))
    return path


def truncate(path, size):
    path.write_bytes(path.read_bytes()[:size])


@pytest.fixture
def volume(tmp_path):
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    return save(tmp_path / "scan.nii.gz", data, LPS_PERMUTED), data


def test_canonical_orientation_keeps_world_positions(volume):
    path, data = volume
    loaded = nifti.load_volume(path)
    assert nib.aff2axcodes(loaded.geometry.canonical_affine) == ("R", "A", "S")
    assert loaded.data.shape == (7, 5, 6)
    assert loaded.geometry.spacing == (2.0, 1.5, 3.0)
    # every voxel sits at the same world position before and after reorientation
    for index in [(0, 0, 0), (1, 2, 3), (4, 5, 6)]:
        world = LPS_PERMUTED @ np.array([*index, 1.0])
        canonical = np.linalg.inv(loaded.geometry.canonical_affine) @ world
        assert loaded.data[tuple(np.round(canonical[:3]).astype(int))] == data[index]


def test_to_original_inverts_reorientation_exactly(volume):
    path, data = volume
    loaded = nifti.load_volume(path)
    np.testing.assert_array_equal(nifti.to_original(loaded.data, loaded.geometry), data)
    channels = np.stack([loaded.data, -loaded.data], -1)  # (D, H, W, 2) probabilities-like
    back = nifti.to_original(channels, loaded.geometry, order=1)
    np.testing.assert_array_equal(back[..., 1], -data)


def test_resampling_to_target_spacing_and_back(tmp_path):
    labels = np.zeros((8, 10, 6), np.uint8)
    labels[2:6, 3:8, 1:4] = 2
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    path = save(tmp_path / "lab.nii.gz", labels, affine)
    loaded = nifti.load_label(path, classes=3, target_spacing=(1.0, 1.0, 1.0))
    assert loaded.data.shape == (16, 20, 12)
    assert loaded.geometry.spacing == (1.0, 1.0, 1.0)
    assert loaded.data.sum() == labels.sum() * 8  # nearest neighbour: each voxel becomes 2x2x2
    # resampled voxel 1 spans old [0, 0.5] in edge coordinates: its centre is old voxel 0.25
    assert np.allclose(loaded.geometry.affine_out @ [1, 1, 1, 1], affine @ [0.25, 0.25, 0.25, 1])
    np.testing.assert_array_equal(nifti.to_original(loaded.data, loaded.geometry), labels)


def test_save_like_writes_input_grid_affine_and_header(volume, tmp_path):
    path, data = volume
    loaded = nifti.load_volume(path)
    segmentation = (loaded.data > 0.5).astype(np.uint8)
    out = nifti.save_like(nifti.to_original(segmentation, loaded.geometry), loaded.geometry,
                          tmp_path / "scan_seg.nii.gz")
    written = nib.load(str(out))
    assert written.shape == data.shape
    np.testing.assert_allclose(written.affine, LPS_PERMUTED)
    np.testing.assert_array_equal(np.asarray(written.dataobj), (data > 0.5).astype(np.uint8))
    assert written.get_data_dtype() == np.uint8


def test_save_like_keeps_the_header_a_viewer_reads(tmp_path):
    """Units, time step, description, intent and the qform/sform codes of the input come back;
    only the voxel type and scaling change (a label map is stored unscaled)."""
    image = nib.Nifti1Image(np.random.default_rng(1).random((5, 6, 7)).astype(np.float32), LPS_PERMUTED)
    header = image.header
    header.set_xyzt_units("mm", "sec")
    header["pixdim"][4] = 2.5
    header["descrip"] = b"scanner 7, protocol T1"
    header["intent_name"] = b"scan"
    header["aux_file"] = b"lut.txt"
    image.set_qform(LPS_PERMUTED, code=1)  # scanner
    image.set_sform(LPS_PERMUTED, code=2)  # aligned
    header.set_slope_inter(3.0, 1.0)
    nib.save(image, str(tmp_path / "scan.nii.gz"))
    loaded = nifti.load_volume(tmp_path / "scan.nii.gz")
    out = nifti.save_like(nifti.to_original((loaded.data > 2.5).astype(np.uint8), loaded.geometry),
                          loaded.geometry, tmp_path / "scan_seg.nii.gz")
    written = nib.load(str(out)).header
    assert written.get_xyzt_units() == ("mm", "sec")
    np.testing.assert_allclose(written.get_zooms(), (1.5, 3.0, 2.0))  # the column norms of the affine
    assert written["pixdim"][4] == pytest.approx(2.5)
    assert written["descrip"].tobytes().rstrip(b"\0") == b"scanner 7, protocol T1"
    assert written["intent_name"].tobytes().rstrip(b"\0") == b"scan"
    assert written["aux_file"].tobytes().rstrip(b"\0") == b"lut.txt"
    assert (int(written["qform_code"]), int(written["sform_code"])) == (1, 2)
    np.testing.assert_allclose(written.get_qform(), LPS_PERMUTED)
    np.testing.assert_allclose(written.get_sform(), LPS_PERMUTED)
    assert written.get_data_dtype() == np.uint8 and written.get_slope_inter() in ((1.0, 0.0), (None, None))


def test_trailing_singleton_fourth_axis_is_one_volume(tmp_path):
    path = save(tmp_path / "one.nii", np.ones((4, 5, 6, 1), np.float32))
    assert nifti.load_volume(path).data.shape == (4, 5, 6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: save(p, np.zeros((4, 5, 6, 2), np.float32)), "expected a 3D volume, got 4D"),
        (lambda p: save(p, np.zeros((4, 5), np.float32)), "expected a 3D volume, got 2D"),
        (lambda p: save(p, np.where(np.eye(4)[:, :, None] > 0, np.nan, 1.0).repeat(3, 2)), "NaN/Inf"),
        (lambda p: save(p, np.full((3, 3, 3), np.inf, np.float32)), "27 NaN/Inf voxel"),
        (lambda p: p.write_bytes(gzip.compress(b"\x00" * 2000)[:12]), "corrupt or truncated gzip"),
        (lambda p: truncate(save(p, np.random.default_rng(0).random((20, 20, 20))), 3000), "corrupt or truncated gzip"),
        (lambda p: p.write_bytes(b"not a nifti at all"), "scan.nii.gz"),
        (lambda p: None, "no such file"),
    ],
    ids=["4d", "2d", "nan", "inf", "corrupt-gzip", "truncated-gzip", "garbage", "missing"],
)
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "scan.nii.gz"
    make(path)
    with pytest.raises(VolumeError) as error:
        nifti.load_volume(path)
    text = str(error.value)
    assert message in text and str(path) in text and "\n" not in text


def test_labels_outside_declared_classes_and_non_integer(tmp_path):
    path = save(tmp_path / "lab.nii.gz", np.array([0, 1, 5], np.uint8).reshape(1, 1, 3))
    with pytest.raises(VolumeError, match=r"lab.nii.gz: label value\(s\) 5 outside the declared classes 0..2"):
        nifti.load_label(path, classes=3)
    path = save(tmp_path / "frac.nii.gz", np.array([0, 0.5, 1], np.float32).reshape(1, 1, 3))
    with pytest.raises(VolumeError, match="non-integer"):
        nifti.load_label(path)


def test_pairs_with_different_shapes_or_affines_are_refused(tmp_path):
    image = save(tmp_path / "img.nii.gz", np.zeros((4, 4, 4), np.float32))
    other_shape = save(tmp_path / "a.nii.gz", np.zeros((4, 4, 5), np.uint8))
    other_affine = save(tmp_path / "b.nii.gz", np.zeros((4, 4, 4), np.uint8), np.diag([1, 1, 2, 1.0]))
    with pytest.raises(VolumeError, match=r"a.nii.gz: label shape \(4, 4, 5\) differs from image .*img.nii.gz"):
        decathlon.load_pair(image, other_shape)
    with pytest.raises(VolumeError, match=r"b.nii.gz: label affine differs"):
        decathlon.load_pair(image, other_affine)


def test_fit_to_shape_pads_and_crops_around_the_centre():
    array = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    fitted, (pad_before, starts) = nifti.fit_to_shape(array, (6, 4, 3))
    assert fitted.shape == (6, 4, 3) and pad_before == (1, 0, 0) and starts == (0, 1, 0)
    np.testing.assert_array_equal(fitted[1:5], array[:, 1:5])
    assert (fitted[0] == 0).all() and (fitted[5] == 0).all()


def test_classification_manifest_resolves_paths_and_names_missing_rows(tmp_path):
    (tmp_path / "vols").mkdir()
    save(tmp_path / "vols" / "a.nii.gz", np.zeros((3, 3, 3), np.float32))
    save(tmp_path / "vols" / "b.nii.gz", np.zeros((3, 3, 3), np.float32))
    csv = tmp_path / "manifest.csv"
    csv.write_text("image,label\nvols/a.nii.gz,10\nvols/b.nii.gz,2\n")
    splits, names = volumes.read_classification(csv)
    assert names == ["2", "10"]  # natural order of numeric labels
    assert splits["all"][0] == [str(tmp_path / "vols" / "a.nii.gz"), str(tmp_path / "vols" / "b.nii.gz")]
    csv.write_text("image,label\nvols/a.nii.gz,x\nvols/gone.nii.gz,y\n")
    with pytest.raises(VolumeError, match=r"manifest.csv:3: no such file vols/gone.nii.gz"):
        volumes.read_classification(csv)


def test_medmnist_npz_official_format(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "organmnist3d.npz"
    np.savez(path, train_images=rng.integers(0, 255, (6, 28, 28, 28), dtype=np.uint8),
             train_labels=np.array([[0], [1], [2], [0], [1], [2]]),
             val_images=np.zeros((2, 28, 28, 28), np.uint8), val_labels=np.array([[1], [0]]))
    assert medmnist.is_medmnist_npz(path)
    splits, names = medmnist.load(path)
    assert sorted(splits) == ["train", "val"] and names == ["0", "1", "2"]
    assert splits["train"][0].shape == (6, 28, 28, 28) and splits["val"][1].tolist() == [1, 0]
    np.savez(tmp_path / "bad.npz", train_images=np.zeros((3, 28, 28)), train_labels=np.zeros((3, 1)))
    with pytest.raises(VolumeError, match=r"bad.npz: train_images has shape \(3, 28, 28\)"):
        medmnist.load(tmp_path / "bad.npz")


def test_decathlon_layout_pairs_and_errors(tmp_path):
    for folder in ("imagesTr", "labelsTr"):
        (tmp_path / folder).mkdir()
    for name in ("c1.nii.gz", "c2.nii.gz"):
        save(tmp_path / "imagesTr" / name, np.zeros((3, 3, 3), np.float32))
        save(tmp_path / "labelsTr" / name, np.zeros((3, 3, 3), np.uint8))
    (tmp_path / "imagesTr" / "._c1.nii.gz").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork
    pairs = decathlon.read_source(tmp_path)
    assert [p.rsplit("/", 1)[1] for p in pairs.images] == ["c1.nii.gz", "c2.nii.gz"]
    assert pairs.class_names is None
    (tmp_path / "dataset.json").write_text(json.dumps({
        "labels": {"0": "background", "1": "a", "2": "b"},
        "training": [{"image": "./imagesTr/c2.nii.gz", "label": "./labelsTr/c2.nii.gz"}]}))
    pairs = decathlon.read_source(tmp_path)
    assert pairs.class_names == ["background", "a", "b"] and len(pairs) == 1
    (tmp_path / "dataset.json").unlink()
    save(tmp_path / "imagesTr" / "c3.nii.gz", np.zeros((3, 3, 3), np.float32))
    with pytest.raises(VolumeError, match=r"imagesTr/c3.nii.gz: no label labelsTr/c3.nii.gz"):
        decathlon.read_source(tmp_path)


def test_phantoms_are_deterministic_varied_and_readable(tmp_path):
    manifest = phantoms.write_classification(tmp_path / "a", count=6, seed=3)
    again = phantoms.write_classification(tmp_path / "b", count=6, seed=3)
    splits, names = volumes.read_classification(manifest)
    assert names == ["healthy", "lesion"] and splits["all"][1] == ["healthy", "lesion"] * 3
    first = [nifti.load_volume(p) for p in splits["all"][0]]
    second = [nifti.load_volume(p) for p in volumes.read_classification(again)[0]["all"][0]]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.data, b.data)
    assert len({v.data.shape for v in first}) > 1  # varied shapes
    folder = phantoms.write_segmentation(tmp_path / "s", count=3, seed=1)
    images, labels, names = decathlon.load_pairs(decathlon.read_source(folder))
    assert names == ["background", "organ", "lesion"]
    for image, label in zip(images, labels):
        assert image.shape == label.shape and set(np.unique(label)) == {0, 1, 2}
        # the lesion differs from the organ by its contrast
        organ = image[label == 1]  # one level plus noise: its spread is the noise
        assert abs(image[label == 2].mean() - organ.mean()) > 3 * organ.std()
