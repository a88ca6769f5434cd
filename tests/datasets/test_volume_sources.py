"""3D sources as SourceData (datasets/volumes.py): NIfTI manifests, class folders, pairs."""
import nibabel as nib
import numpy as np
import pytest

from datasets import volumes
from datasets.formats import decathlon
from datasets.formats.nifti import VolumeError


def save(path, value, dtype=np.float32):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((3, 4, 5), value, dtype), np.eye(4)), str(path))
    return path


def test_nifti_manifest_splits_and_bad_split_names(tmp_path):
    for name in ("a", "b", "c"):
        save(tmp_path / f"{name}.nii.gz", 1.0)
    manifest = tmp_path / "m.csv"
    manifest.write_text("filename,label,split\na.nii.gz,10,train\nb.nii.gz,2,train\nc.nii.gz,2,test\n")
    data = volumes.nifti_manifest(manifest)
    assert data.class_names == ["2", "10"] and list(data.splits) == ["train", "test"]
    assert data.split("train").labels.tolist() == [1, 0] and data.split("train").inputs[0].shape == (3, 4, 5)
    manifest.write_text("image,label,split\na.nii.gz,x,train\nb.nii.gz,y,training\n")
    with pytest.raises(VolumeError, match=r"m\.csv:3: split 'training' is not one of train, val, test"):
        volumes.nifti_manifest(manifest)


def test_nifti_class_folders_use_the_class_order(tmp_path):
    for label in ("10", "2"):
        save(tmp_path / label / "x.nii.gz", float(label))
    data = volumes.nifti_class_folders(tmp_path)
    assert data.class_names == ["2", "10"]
    assert [int(v.max()) for v in data.split("all").inputs] == [10, 2]
    assert data.split("all").labels.tolist() == [1, 0]
    assert volumes.nifti_class_folders(tmp_path / "10" / "x.nii.gz") is None


def test_segmentation_pairs_from_a_csv_keep_their_splits(tmp_path):
    for name in ("p", "q"):
        save(tmp_path / f"{name}_img.nii.gz", 5.0)
        save(tmp_path / f"{name}_lab.nii.gz", 1, np.uint8)
    table = tmp_path / "pairs.csv"
    table.write_text("image,label,split\np_img.nii.gz,p_lab.nii.gz,train\nq_img.nii.gz,q_lab.nii.gz,test\n")
    data = volumes.segmentation_pairs(decathlon.read_source(table), None, str(table))
    assert data.class_names == ["0", "1"] and list(data.splits) == ["train", "test"]
    packed = data.split("test").inputs[0]
    assert packed.shape == (3, 4, 5, 2) and packed[..., 0].max() == 5 and packed[..., 1].max() == 1
    table.write_text("image,label,split\np_img.nii.gz,p_lab.nii.gz,train\nq_img.nii.gz,q_lab.nii.gz,\n")
    with pytest.raises(VolumeError, match=r"pairs\.csv:3: empty split"):
        decathlon.read_source(table)
