"""`cnn evaluate MODEL --data SOURCE` on a source laid out or labelled unlike the training one
(issue 18): the layout is recognised per source, and labels map onto the model's classes by
name, by --label-map or by index, with a note. Expected metrics come from evaluating the same
examples in the training layout."""
import json

import nibabel as nib
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from datasets.synthetic import dtmf
from factories import make_pipeline
from fixed_models import dense_waveform_model, halves_classifier, halves_probabilities
from serving import export


def evaluate(*args):
    """The metrics.json of `cnn evaluate ARGS --json ...`, and the printed output."""
    result = CliRunner().invoke(cli.main, ["evaluate", *args])
    assert result.exit_code == 0, result.output
    return result.output


def metrics_of(tmp_path, *args):
    path = tmp_path / f"metrics-{len(list(tmp_path.glob('metrics-*')))}.json"
    output = evaluate(*args, "--json", str(path))
    return json.loads(path.read_text()), output


# ------------------------------------------------------- MedMNIST .npz model, NIfTI 0/1 labels
@pytest.fixture(scope="module")
def medmnist_model(tmp_path_factory):
    """An export of a model with fixed weights (tests/fixed_models.py) whose classes are
    MedMNIST's names, normal and mass, and test volumes as NIfTI with MedMNIST's own labels.csv
    (filename,split,index_in_npz,label 0/1); the expected confusion matrix comes from NumPy."""
    root = tmp_path_factory.mktemp("medmnist")
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])  # imbalanced: a swapped mapping shows
    volumes = rng.normal(100, 5, (8, 8, 8, 8)).astype(np.float32)
    volumes[::2, 4:] += 40  # brighter upper halves: the fixed model says mass
    volumes[1::2, :4] += 40  # brighter lower halves: normal
    pipeline = make_pipeline("volumes", "shape=8,8,8")
    model = export.export(halves_classifier((8, 8, 8), scale=0.001), pipeline, ["normal", "mass"], root / "exports")
    rows = ["filename,split,index_in_npz,label"]
    (root / "nifti" / "test").mkdir(parents=True)
    for index, (volume, label) in enumerate(zip(volumes, labels)):
        name = f"test/adrenal_test_{index:04d}.nii.gz"
        nib.save(nib.Nifti1Image(volume, np.eye(4)), root / "nifti" / name)
        rows.append(f"{name},test,{index},{label}")
    (root / "nifti" / "labels.csv").write_text("\n".join(rows) + "\n")
    predicted = halves_probabilities(volumes, scale=0.001).argmax(1)
    expected = [[int(np.sum((labels == t) & (predicted == p))) for p in (0, 1)] for t in (0, 1)]
    assert 0 < predicted.sum() < len(predicted)  # both classes predicted: a swap would show
    return str(model), str(root / "nifti" / "labels.csv"), expected


def test_integer_labels_are_read_by_index_with_a_note(medmnist_model, tmp_path):
    model, csv, expected = medmnist_model
    metrics, output = metrics_of(tmp_path, model, "--data", csv)
    assert "labels 0, 1 are not the model's classes; read as indices: 0 -> normal, 1 -> mass" in output
    assert metrics["class_names"] == ["normal", "mass"]
    assert metrics["confusion_matrix"] == expected


def test_label_map_chooses_the_classes(medmnist_model, tmp_path):
    model, csv, expected = medmnist_model
    swapped, output = metrics_of(tmp_path, model, "--data", csv, "--label-map", "0=mass, 1=normal")
    assert "labels mapped by --label-map: 0 -> mass, 1 -> normal" in output
    assert swapped["confusion_matrix"] == expected[::-1]  # the true rows swapped


def test_label_map_errors_are_one_line(medmnist_model):
    run, csv, _ = medmnist_model
    assert "'tumour' is not a class of the model (classes: normal, mass)" in one_line_error(
        ["evaluate", run, "--data", csv, "--label-map", "0=normal,1=tumour"])
    assert "has no label '2'" in one_line_error(["evaluate", run, "--data", csv, "--label-map", "2=mass"])
    assert "expected LABEL=CLASS" in one_line_error(["evaluate", run, "--data", csv, "--label-map", "0"])
    assert "--set shape=4,4,4: evaluate changes only how a source is read (options of volumes: none)" in \
        one_line_error(["evaluate", run, "--data", csv, "--set", "shape=4,4,4"])


# ------------------------------------------------ audio trained on a flat folder with label_pattern
@pytest.fixture(scope="module")
def flat_audio_model(tmp_path_factory):
    """An audio export (fixed weights) made with label_pattern for a flat folder `k<key>_<n>.wav`,
    and the same clips as class folders `<key>/*.wav` and as a flat folder named otherwise."""
    root = tmp_path_factory.mktemp("flat-audio")
    waves, labels = dtmf.generate(3, seed=0, sample_rate=8000, num_samples=2000)
    for folder in ("flat", "other", "classes"):
        (root / folder).mkdir()
    for index, (wave, label) in enumerate(zip(waves, labels)):
        soundfile.write(root / "flat" / f"k{label}_{index}.wav", wave, 8000, subtype="PCM_16")
        soundfile.write(root / "other" / f"key-{label}-{index}.wav", wave, 8000, subtype="PCM_16")
        (root / "classes" / str(label)).mkdir(exist_ok=True)
        soundfile.write(root / "classes" / str(label) / f"{index}.wav", wave, 8000, subtype="PCM_16")
    pipeline = make_pipeline("audio", r"label_pattern=^k(\d+)_", "sample_rate=8000", "clip_seconds=0.25")
    class_names = [str(key) for key in range(len(dtmf.CLASS_NAMES))]
    return export.export(dense_waveform_model(2000, len(class_names)), pipeline, class_names, root / "exports")


def test_class_folders_are_read_as_class_folders(flat_audio_model, tmp_path):
    run, data = str(flat_audio_model), flat_audio_model.parent.parent.parent
    reference, _ = metrics_of(tmp_path, run, "--data", str(data / "flat"))
    metrics, output = metrics_of(tmp_path, run, "--data", str(data / "classes"))
    assert "not the model's classes" not in output  # matched by name
    assert metrics["confusion_matrix"] == reference["confusion_matrix"]
    assert sum(map(sum, metrics["confusion_matrix"])) == 36


def test_set_changes_how_the_source_is_read(flat_audio_model, tmp_path):
    run, data = str(flat_audio_model), flat_audio_model.parent.parent.parent
    other = str(data / "other")
    reference, _ = metrics_of(tmp_path, run, "--data", str(data / "flat"))
    assert "label_pattern '^k(\\\\d+)_' matches none of the 36 file names" in one_line_error(
        ["evaluate", run, "--data", other])
    metrics, _ = metrics_of(tmp_path, run, "--data", other, "--set", r"label_pattern=^key-(\d+)-")
    assert metrics["confusion_matrix"] == reference["confusion_matrix"]
    assert "--set n_mels=8: evaluate changes only how a source is read (options of audio: label_pattern" in \
        one_line_error(["evaluate", run, "--data", other, "--set", "n_mels=8"])
