"""README promises about folder sources (issue 19): hidden files and folders are not examples,
`val/` is the validation split, and `--test-data` labels match the training classes by name."""
import numpy as np
from PIL import Image

from datasets import folders, splits
from pipelines.core.config import BaseConfig


def png(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)


def test_hidden_files_and_folders_are_ignored_and_val_is_the_validation_split(tmp_path):
    for split, count in (("train", 3), ("val", 2), ("test", 1)):
        for label in ("cat", "dog"):
            for index in range(count):
                png(tmp_path / split / label / f"{index}.png")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")  # Finder's, at every level
    (tmp_path / "train" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork
    png(tmp_path / "train" / ".thumbnails" / "0.png")  # a hidden folder is no class
    png(tmp_path / "train" / "dog" / ".cache" / "0.png")  # nor are files in a hidden subfolder
    data = folders.load(tmp_path, (".png",), lambda path: None)
    assert data.class_names == ["cat", "dog"]
    assert {name: len(e) for name, e in data.splits.items()} == {"train": 6, "val": 4, "test": 2}
    assert not any("/." in path for e in data.splits.values() for path in e.paths)
    made = splits.make_splits(data, None, BaseConfig(validation_fraction=0.5))
    assert made.val.origin.endswith("val") and made.record["val"].startswith("given split")
    assert made.record["counts"] == {"train": 6, "val": 4, "test": 2}  # no hold-out taken from train


def test_test_data_labels_match_training_classes_by_name(tmp_path):
    for label, value in (("b", 10), ("c", 20), ("a", 30)):
        png(tmp_path / "train" / label / "0.png", value)
        png(tmp_path / "train" / label / "1.png", value)
    for label, value in (("c", 20), ("a", 30)):  # a test set without class b
        png(tmp_path / "other" / label / "0.png", value)
    made = splits.make_splits(folders.load(tmp_path / "train", (".png",), lambda p: None),
                              folders.load(tmp_path / "other", (".png",), lambda p: None), BaseConfig())
    assert made.class_names == ["a", "b", "c"]
    names = [made.class_names[i] for i in made.test.labels]
    assert [path.split("/")[-2] for path in made.test.paths] == names  # each file keeps its folder's class
    assert made.record["test"].startswith("--test-data ")
