"""`cnn export RUN --format litert|onnx [--quantize ...]`, and `cnn evaluate` / `cnn predict` on the
files it writes (issue 28): each format is written and printed; the .tflite gives the run's own
metrics; the .onnx predicts the SavedModel's labels; refusals are one line, exit 2, nothing written.
Digits trained 1 epoch at 8x8 (tests/serving_exports.py's TINY settings)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli
from cli_errors import one_line_error
from factories import train_bundled
from serving_exports import TINY

PROBABILITY_TOLERANCE = 1e-4  # float32 file against the SavedModel (tests/serving/test_formats.py measured <= 2e-7)
# the .tflite's accuracy against model.keras's on digits' 450 test examples: float32 differences of
# <= 1e-4 can flip only a near tie, so at most one answer (1/450) may change; loss to 1e-3 relative
ACCURACY_TOLERANCE = 1 / 450 + 1e-9


def invoke(*args):
    result = CliRunner().invoke(cli.main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(run folder, export root, {format: version folder}) after `cnn export RUN --format litert
    --format onnx`, and its output."""
    root = tmp_path_factory.mktemp("cli-formats")
    _, run, _ = train_bundled("digits", root, ["epochs=1", *TINY["digits"]])
    output = invoke("export", run.run_dir, "--export-dir", root / "formats", "--format", "litert", "--format", "onnx")
    return run, root / "formats", output


def test_export_writes_each_format_and_prints_its_path(digits):
    run, exports, output = digits
    assert output.splitlines() == [f"LiteRT: {exports / 'digits-litert' / '1'}",
                                   f"ONNX: {exports / 'digits-onnx' / '1'}"]
    for folder, file in (("digits-litert", "model.tflite"), ("digits-onnx", "model.onnx")):
        version = exports / folder / "1"
        assert sorted(p.name for p in version.iterdir()) == sorted([file, "class_names.txt", "cnn_suite.json"])
        assert json.loads((version / "cnn_suite.json").read_text())["run_dir"] == str(run.run_dir.resolve())
    assert not (exports / "digits").exists()  # no SavedModel unless asked for


def test_evaluate_on_the_tflite_file_gives_the_runs_metrics(digits, tmp_path):
    run, exports, _ = digits
    metrics = []
    for model in (run.run_dir, exports / "digits-litert" / "1" / "model.tflite"):
        invoke("evaluate", model, "--data", "bundled", "--json", tmp_path / "m.json")
        metrics.append(json.loads((tmp_path / "m.json").read_text()))
    keras_metrics, litert_metrics = metrics
    assert litert_metrics["accuracy"] == pytest.approx(keras_metrics["accuracy"], abs=ACCURACY_TOLERANCE)
    assert litert_metrics["loss"] == pytest.approx(keras_metrics["loss"], rel=1e-3)
    assert 0 < litert_metrics["loss"] and np.isfinite(litert_metrics["loss"])


def test_predict_with_the_onnx_export_gives_the_saved_models_labels(digits, tmp_path):
    run, exports, _ = digits
    saved_model = invoke("export", run.run_dir, "--export-dir", tmp_path / "exports").split(": ", 1)[1].strip()
    rng = np.random.default_rng(0)
    pngs = []
    for index in range(12):  # random pixels spread the answers over several classes
        pngs.append(tmp_path / f"digit{index}.png")
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(pngs[-1])
    expected = [line.split("\t") for line in invoke("predict", saved_model, *pngs).splitlines()]
    got = [line.split("\t") for line in invoke("predict", exports / "digits-onnx" / "1", *pngs).splitlines()]
    assert [(path, label) for path, label, _ in got] == [(path, label) for path, label, _ in expected]
    assert len({label for _, label, _ in expected}) > 1
    np.testing.assert_allclose([float(p) for *_, p in got], [float(p) for *_, p in expected],
                               atol=PROBABILITY_TOLERANCE + 1e-4)  # printed to 4 decimals


def test_quantize_is_only_for_litert_and_refused_before_writing(digits, tmp_path):
    run, _, _ = digits
    line = one_line_error(["export", str(run.run_dir), "--export-dir", str(tmp_path), "--format", "onnx",
                           "--quantize", "int8"])
    assert "--quantize int8" in line and "litert" in line
    line = one_line_error(["export", str(run.run_dir), "--export-dir", str(tmp_path), "--quantize", "float16"])
    assert "--quantize float16" in line and "saved_model" in line
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_pipeline_that_cannot_go_to_a_format_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_SUITE_DATA", str(tmp_path / "cache"))  # text's generated corpus
    _, run, _ = train_bundled("text", tmp_path, ["epochs=1", *TINY["text"]])
    line = one_line_error(["export", str(run.run_dir), "--export-dir", str(tmp_path / "out"), "--format", "litert"])
    assert "StringLower" in line and "saved_model" in line  # the op, and the format that can hold it
    assert not (tmp_path / "out" / "text-litert").exists() or not any((tmp_path / "out" / "text-litert").iterdir())


def test_the_loader_opens_the_file_or_its_folder_as_a_format_export(digits):
    """analysis/artifacts.py decides the kind; a format export has no gradients (attacks, explanations)."""
    from analysis import artifacts

    run, exports, _ = digits
    for path in (exports / "digits-litert" / "1", exports / "digits-litert" / "1" / "model.tflite"):
        opened = artifacts.open(path)
        assert (opened.kind, opened.path, opened.record["format"]) == (artifacts.FORMAT, path.parent if
                                                                       path.is_file() else path, "litert")
        assert opened.class_names == artifacts.open(run.run_dir).class_names
    assert artifacts.open(exports / "digits-onnx" / "1", artifacts.EXPORT).kind == artifacts.FORMAT
    with pytest.raises(ValueError, match="litert export has no gradients; give its run folder or SavedModel"):
        artifacts.open(exports / "digits-litert" / "1").probabilities(np.zeros((1, 8, 8, 1), np.float32))
