"""datasets.label_maps: an evaluation source's labels onto a model's classes (by name, by a map,
by index), and evaluation sources without a train split (issue 18)."""
import numpy as np
import pytest

from datasets import folders, label_maps, labels
from datasets.examples import ArrayExamples, SourceData
from datasets.formats import text


def source(class_names, split_labels):
    """SourceData whose example i of each split is the integer i (to follow it through)."""
    splits = {split: ArrayExamples(labels=np.asarray(values), origin=f"here ({split})",
                                   inputs=np.arange(len(values)))
              for split, values in split_labels.items()}
    return SourceData(splits, class_names, "here")


def names_of(data):
    return {split: [data.class_names[i] for i in e.labels] for split, e in data.splits.items()}


def test_labels_match_by_name_in_any_order():
    data, note = label_maps.onto(source(["mass", "normal"], {"test": [1, 0, 0]}), ["normal", "mass"])
    assert note is None and data.class_names == ["normal", "mass"]
    assert data.split("test").labels.tolist() == [0, 1, 1]


def test_integer_labels_that_are_no_class_are_read_by_index():
    data, note = label_maps.onto(source(["0", "1"], {"test": [1, 0, 1]}), ["normal", "mass"])
    assert names_of(data) == {"test": ["mass", "normal", "mass"]}
    assert note == ("here: labels 0, 1 are not the model's classes; read as indices: 0 -> normal, "
                    "1 -> mass (choose otherwise with --label-map LABEL=CLASS,...)")
    # only the labels present count: a source of 1s alone is still read by index
    data, note = label_maps.onto(source(["0", "1"], {"test": [1, 1]}), ["normal", "mass"])
    assert names_of(data) == {"test": ["mass", "mass"]} and "labels 1 are not" in note


def test_no_guess_when_integer_labels_are_out_of_range_or_partly_class_names():
    with pytest.raises(ValueError, match=r"here: label '0' is not a class of the model \(classes: normal, "
                                         r"mass\); map the labels with --label-map"):
        label_maps.onto(source(["0", "2"], {"test": [0, 1]}), ["normal", "mass"])
    with pytest.raises(ValueError, match="label '0' is not a class"):  # 1 is a class: no index reading
        label_maps.onto(source(["0", "1"], {"test": [0, 1]}), ["1", "2"])


def test_label_map_renames_merges_and_keeps_unnamed_labels():
    data, note = label_maps.onto(source(["benign", "cyst", "mass"], {"test": [0, 1, 2]}),
                                 ["normal", "mass"], label_maps.parse("benign=normal, cyst=normal"))
    assert names_of(data) == {"test": ["normal", "normal", "mass"]}
    assert note == "here: labels mapped by --label-map: benign -> normal, cyst -> normal"


@pytest.mark.parametrize("text, message", [
    ("0", "expected LABEL=CLASS"), ("0=,1=mass", "expected LABEL=CLASS"), ("=a", "expected LABEL=CLASS"),
    ("0=a,0=b", "label '0' is mapped twice"),
])
def test_label_map_syntax(text, message):
    with pytest.raises(ValueError, match=f"--label-map '{text}': {message}"):
        label_maps.parse(text)


def test_label_map_errors_name_what_is_wrong():
    data = source(["0", "1", "2"], {"test": [0, 1, 2]})
    with pytest.raises(ValueError, match=r"--label-map: here has no label '7' \(its labels: 0, 1, 2\)"):
        label_maps.onto(data, ["a", "b"], {"7": "a"})
    with pytest.raises(ValueError, match="--label-map: 'c' is not a class of the model"):
        label_maps.onto(data, ["a", "b"], {"0": "c"})
    with pytest.raises(ValueError, match="here label '2' is neither mapped nor a class of the model"):
        label_maps.onto(data, ["a", "b"], {"0": "a", "1": "b"})


def test_a_folder_of_test_class_folders_alone_is_an_evaluation_source(tmp_path):
    for split, label in (("test", "pos"), ("test", "neg"), ("val", "pos")):
        (tmp_path / split / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / split / label / "a.txt").write_text(f"{label} text")
    assert folders.is_split_folder(tmp_path)  # not two classes named test and val
    data = text.local_source(tmp_path)
    assert sorted(data.splits) == ["test", "val"] and data.class_names == ["neg", "pos"]
    (tmp_path / "elsewhere").mkdir()
    assert not folders.is_split_folder(tmp_path)  # a class folder among them: class folders


def test_a_table_folder_without_train_is_an_evaluation_source(tmp_path):
    (tmp_path / "test.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    data = text.local_source(tmp_path, text_column="sentence")
    assert list(data.splits) == ["test"] and data.class_names == ["0", "1"]
    class_names, indices = labels.index_splits({"test": (["x", "y"], ["b", "a"], "t")})
    assert class_names == ["a", "b"] and indices["test"].tolist() == [1, 0]


def test_training_still_needs_a_train_split(tmp_path):
    from datasets.splits import make_splits
    from pipelines.core.config import BaseConfig

    with pytest.raises(ValueError, match="here: no training examples"):
        make_splits(source(["a", "b"], {"test": [0, 1]}), None, BaseConfig())
