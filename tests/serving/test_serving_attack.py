"""`cnn attack` on a run folder and on its export (in a fresh process): the same robust
accuracy, the curve, the example files and the JSON; one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli
from adversarial_runs import standard
from cli_errors import one_line_error
from project import ROOT


def _attack(model, out, *options):
    result = CliRunner().invoke(cli.main, ["attack", str(model), "--data", "bundled", "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_attack_through_the_export_in_a_fresh_process_matches_the_run(tmp_path):
    _, run, _ = standard()
    options = ["--method", "pgd", "--steps", "3", "--epsilon", "25.5"]
    output = _attack(run.run_dir, tmp_path / "run", *options, "--json", str(tmp_path / "run.json"))
    assert "epsilon 25.5: accuracy" in output
    fresh = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "attack", str(run.export_path), "--data", "bundled",
         "--out", str(tmp_path / "export"), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert fresh.returncode == 0, fresh.stderr
    through_run = json.loads((tmp_path / "run.json").read_text())
    through_export = json.loads((tmp_path / "export" / "attack.json").read_text())
    assert through_run == json.loads((tmp_path / "run" / "attack.json").read_text())
    assert through_export["clean"] == pytest.approx(through_run["clean"], abs=1e-9)
    for by_run, by_export in zip(through_run["robust"], through_export["robust"], strict=True):
        assert by_export["accuracy"] == pytest.approx(by_run["accuracy"], abs=1 / 450 + 1e-9)
    assert through_run["robust"][0]["accuracy"] < through_run["clean"] - 0.2


def test_attack_writes_the_curve_and_examples_with_their_labels(tmp_path):
    _, run, _ = standard()
    _attack(run.run_dir, tmp_path, "--method", "fgsm", "--epsilon", "40", "--norm", "inf")
    result = json.loads((tmp_path / "attack.json").read_text())
    assert result["metric"] == "accuracy" and result["examples"] == 450 and result["steps"] == 1
    assert Image.open(tmp_path / "curve.png").format == "PNG"
    written = result["written_examples"]
    assert len(written) == 4
    for entry in written:
        original = np.asarray(Image.open(entry["original"]), np.float32)
        attacked = np.asarray(Image.open(entry["adversarial"]), np.float32)
        assert original.shape == attacked.shape == (8, 8)  # the bundled digits' own size
        assert np.abs(attacked - original).max() <= 40  # changes rounded toward zero: whole pixels
        assert f"label_{entry['label']}-adversarial_{entry['adversarial_prediction']}" in entry["adversarial"]
    assert written[0]["adversarial_prediction"] != written[0]["clean_prediction"]


def test_an_attacked_file_reproduces_the_attack_through_the_export(tmp_path):
    """The written example is a PNG of the file's own size (8x8 grey, uint8) within epsilon in
    whole pixel levels, and `cnn predict` through the export (its image_bytes signature) answers
    what the attack reported for it, fooled or not; the original file too."""
    _, run, _ = standard()
    _attack(run.run_dir, tmp_path, "--method", "pgd", "--steps", "3", "--epsilon", "25.5")
    written = json.loads((tmp_path / "attack.json").read_text())["written_examples"]
    files = []
    for entry in written:
        original, attacked = Image.open(entry["original"]), Image.open(entry["adversarial"])
        assert original.mode == attacked.mode == "L" and original.size == attacked.size == (8, 8)
        change = np.asarray(attacked, np.float32) - np.asarray(original, np.float32)
        assert 0 < np.abs(change).max() <= 25.5
        files += [entry["original"], entry["adversarial"]]
    result = CliRunner().invoke(cli.main, ["predict", str(run.export_path), *files])
    assert result.exit_code == 0, result.output
    answers = dict(line.split("\t")[:2] for line in result.output.splitlines())
    for entry in written:
        assert answers[entry["original"]] == entry["clean_prediction"]
        assert answers[entry["adversarial"]] == entry["adversarial_prediction"]
    assert any(entry["adversarial_prediction"] != entry["label"] for entry in written)


def test_attack_errors_are_one_line(tmp_path):
    _, run, _ = standard()
    assert "--epsilon 1,abc: 'abc' is not a number" in one_line_error(
        ["attack", str(run.run_dir), "--data", "bundled", "--epsilon", "1,abc"])
    assert "--method cw: unknown attack (known: fgsm, pgd)" in one_line_error(
        ["attack", str(run.run_dir), "--data", "bundled", "--method", "cw"])
    assert "--norm 1: unknown norm" in one_line_error(
        ["attack", str(run.run_dir), "--data", "bundled", "--norm", "1"])
    text_run = tmp_path / "text-run"
    text_run.mkdir()
    (text_run / "config.json").write_text(json.dumps({"pipeline": "text", "config": {}, "class_names": ["neg", "pos"]}))
    assert "gradient attacks on tokens are out of scope" in one_line_error(
        ["attack", str(text_run), "--data", "bundled", "--epsilon", "1"])
    assert "pipeline text has no continuous input" in one_line_error(
        ["train", "text", "--set", "adversarial=pgd", "--set", "adversarial_epsilon=1"])
    assert "--set adversarial=pgd needs --set adversarial_epsilon" in one_line_error(
        ["train", "digits", "--set", "adversarial=pgd"])
    assert "--set adversarial_fraction=1.5: must be in [0, 1]" in one_line_error(
        ["train", "digits", "--set", "adversarial_fraction=1.5"])
