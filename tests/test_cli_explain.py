"""`cnn explain`, `cnn visualize` and `cnn report` from the command line: files written, the
export path, one-line errors."""
import json
import re
import shutil

import numpy as np
from click.testing import CliRunner
from PIL import Image

import cli
from cli_errors import one_line_error
from explain_runs import trained_digits, untrained_run


def _digit_png(folder, run):
    image = np.asarray(run.splits.test.inputs[0], np.float32)[..., 0]  # (8, 8) 0..255
    path = folder / "digit.png"
    Image.fromarray(image.astype(np.uint8)).save(path)
    return path


def _ok(args):
    result = CliRunner().invoke(cli.main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_explain_a_run_then_its_export(tmp_path):
    _, run = trained_digits()
    png = _digit_png(tmp_path, run)
    lines = _ok(["explain", run.run_dir, png, "--method", "gradcam", "--out", tmp_path / "run"])
    label = lines[0].rsplit("maps: ", 1)[1]
    assert np.load(tmp_path / "run" / f"digit_gradcam_{label}.npy").shape == (8, 8)  # the file's own size
    assert (tmp_path / "run" / f"digit_gradcam_{label}.png").stat().st_size > 1000
    # gradients through the export's serving_default equal those through model.keras
    _ok(["explain", run.run_dir, png, "--method", "saliency", "--target", "3", "--out", tmp_path / "run"])
    _ok(["explain", run.export_path, png, "--method", "saliency", "--target", "3", "--out", tmp_path / "export"])
    ours, exported = (np.load(tmp_path / d / "digit_saliency_3.npy") for d in ("run", "export"))
    assert np.allclose(ours, exported, atol=1e-6 * max(1.0, ours.max())) and ours.max() > 0
    # Grad-CAM on an export says why not, and falls back
    lines = _ok(["explain", run.export_path, png, "--method", "gradcam", "--out", tmp_path / "export"])
    assert lines[0].startswith("Grad-CAM needs a convolution stage's activations")
    assert (tmp_path / "export" / f"digit_integrated-gradients_{label}.npy").is_file()


def test_explain_errors_are_one_line(tmp_path):
    _, run = trained_digits()
    png = _digit_png(tmp_path, run)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert "broken.png" in one_line_error(["explain", str(run.run_dir), str(broken)])
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run.run_dir / "config.json", unfinished)
    assert "no model.keras" in one_line_error(["explain", str(unfinished), str(png)])
    message = one_line_error(["explain", str(run.run_dir), str(png), "--target", "seven"])
    assert "--target seven: not a class of this model" in message
    assert "missing.png: no such file" in one_line_error(["explain", str(run.run_dir), str(tmp_path / "missing.png")])
    _, flips, _ = untrained_run("volumes", "tta_flips=true")  # the network sits inside FlipAveraged
    message = one_line_error(["explain", str(flips), str(png), "--method", "gradcam"])
    assert "Grad-CAM needs a convolution layer in the model's own graph" in message and "flip_averaged" in message


def test_visualize_filters_feature_maps_and_curves(tmp_path):
    _, run = trained_digits()
    written = _ok(["visualize", run.run_dir, "--out", tmp_path / "default"])
    names = sorted(line.rsplit("/", 1)[1] for line in written)
    # one map per convolution stage, in order, named after its layer (Keras numbers layer names
    # by how many were made before in the process, so only the stem of the name is fixed)
    assert [names[0], names[-1]] == ["curves.png", "filters.png"] and len(names) == 5
    for stage, name in enumerate(names[1:-1]):
        assert re.fullmatch(rf"features_{stage:02d}_activation(_\d+)?\.png", name), names
    png = _digit_png(tmp_path, run)
    assert len(_ok(["visualize", run.run_dir, "--input", png, "--out", tmp_path / "input"])) == 5
    pipeline, audio_run, _ = untrained_run("audio")  # 1D filters as curves
    wav = tmp_path / "tone.wav"
    wav.write_bytes(pipeline.encode_bytes(np.zeros(pipeline.config.num_samples, np.float32) + 0.1))
    written = _ok(["visualize", audio_run, "--input", wav, "--out", tmp_path / "audio"])
    assert sum("features_" in line for line in written) == 7  # stem + 3 blocks of 2 convolutions


def test_report_lists_the_export_and_its_signatures(tmp_path):
    _, run = trained_digits()
    page = (run.run_dir / "report.html").read_text()  # written by training, export filled in
    assert str(run.export_path) in page and "serving_default" in page and "image_bytes" in page
    (run.run_dir / "report.html").unlink()
    assert _ok(["report", run.run_dir])[-1] == f"report: {run.run_dir / 'report.html'}"
    page = (run.run_dir / "report.html").read_text()
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    assert f'data-value="{metrics["accuracy"]!r}"' in page
    assert page.count("<img ") >= 4 and "Most confident errors" in page and str(run.export_path) in page
