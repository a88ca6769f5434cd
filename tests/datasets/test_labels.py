"""One class order for every source: folders "2" and "10" (and "a", "B") get the same indices
whether they hold images, audio or text, or are named in a CSV manifest."""
import numpy as np
import pytest
import soundfile

from datasets import folders, labels, volumes
from datasets.formats import audio, npz, text

CLASSES = ("10", "2", "B", "a")
EXPECTED = ["2", "10", "a", "B"]


def test_class_order_is_natural():
    names = ["img10", "b", "10", "B", "a", "img2", "-1", "2", "01", "1"]
    assert labels.class_order(names) == ["-1", "01", "1", "2", "10", "a", "B", "b", "img2", "img10"]
    assert labels.class_order(["x", "x", "y"]) == ["x", "y"]


def test_to_indices_names_an_unseen_label():
    assert labels.to_indices(["b", "a"], ["a", "b"], "here").tolist() == [1, 0]
    with pytest.raises(ValueError, match="here: label 'c' not seen in training"):
        labels.to_indices(["a", "c"], ["a", "b"], "here")


def _tone(path):
    soundfile.write(path, 0.5 * np.sin(np.arange(800) / 3.0), 8000, format="FLAC")


def _class_folders(root, write, suffix):
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        write(root / name / f"one{suffix}")
    return root


def _expected_labels(paths):
    return [EXPECTED.index(path.split("/")[-2]) for path in paths]


def test_same_indices_for_image_audio_and_text_folders(tmp_path):
    images = folders.load(_class_folders(tmp_path / "img", lambda p: p.write_bytes(b"x"), ".png"),
                          (".png",), check_file=lambda path: None)
    assert images.class_names == EXPECTED
    assert images.split("all").labels.tolist() == _expected_labels(images.split("all").paths)

    named = audio.local_files(_class_folders(tmp_path / "wav", _tone, ".flac"))
    clips = audio.decode_splits(named, 8000, 800, "clips")
    assert clips.class_names == EXPECTED
    assert clips.split("all").labels.tolist() == _expected_labels(named["all"][0])

    texts = text.local_source(_class_folders(tmp_path / "txt", lambda p: p.write_text(p.parent.name), ".txt"))
    assert texts.class_names == EXPECTED
    by_text = dict(zip(texts.split("all").inputs, texts.split("all").labels.tolist()))
    assert by_text == {name: EXPECTED.index(name) for name in CLASSES}


def test_same_indices_for_csv_manifests_and_tables(tmp_path):
    for name in CLASSES:
        (tmp_path / f"{name}.png").write_bytes(b"x")
        _tone(tmp_path / f"{name}.flac")
        (tmp_path / f"{name}.nii.gz").write_bytes(b"x")  # listed, not decoded
    rows = "\n".join(f"{name}.SUFFIX,{name}" for name in CLASSES)
    (tmp_path / "images.csv").write_text("path,label\n" + rows.replace("SUFFIX", "png") + "\n")
    (tmp_path / "clips.csv").write_text("path,label\n" + rows.replace("SUFFIX", "flac") + "\n")
    (tmp_path / "texts.csv").write_text("text,label\n" + rows.replace(".SUFFIX", "") + "\n")
    (tmp_path / "volumes.csv").write_text("image,label\n" + rows.replace("SUFFIX", "nii.gz") + "\n")
    expected = [EXPECTED.index(name) for name in CLASSES]

    images = folders.load(tmp_path / "images.csv", (".png",), check_file=lambda path: None)
    clips = audio.decode_splits(audio.local_files(tmp_path / "clips.csv"), 8000, 800, "clips")
    texts = text.local_source(tmp_path / "texts.csv")
    for data in (images, clips, texts):
        assert data.class_names == EXPECTED and data.split("all").labels.tolist() == expected
    named, class_names = volumes.read_classification(tmp_path / "volumes.csv")
    assert class_names == EXPECTED
    assert labels.to_indices(named["all"][1], class_names, "volumes").tolist() == expected


def test_npz_string_labels_follow_the_same_order(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.asarray(CLASSES))
    data = npz.load(tmp_path / "d.npz")
    assert data.class_names == EXPECTED
    assert data.split("all").labels.tolist() == [EXPECTED.index(name) for name in CLASSES]
