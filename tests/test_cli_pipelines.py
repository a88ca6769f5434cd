"""The `cnn` pipeline commands end to end on bundled digits: train, predict, evaluate, export."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli

TINY = ["--set", "image_size=8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    result = CliRunner().invoke(cli.main, [
        "train", "digits", "--epochs", "3", "--run-dir", str(root / "run"),
        "--export-dir", str(root / "exports"), *TINY,
    ])
    assert result.exit_code == 0, result.output
    return root, result.output


def test_train_prints_run_metrics_and_export(trained):
    root, output = trained
    assert f"run folder: {root / 'run'}" in output
    assert "test metrics: loss=" in output and "accuracy=" in output
    assert f"SavedModel: {root / 'exports' / 'digits' / '1'}" in output
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert metrics["examples"] == 450 and 0.5 < metrics["accuracy"] <= 1.0  # 3 epochs at 8x8
    assert len(metrics["confusion_matrix"]) == 10 and sum(map(sum, metrics["confusion_matrix"])) == 450
    assert set(metrics["per_class"]["7"]) == {"precision", "recall", "support"}
    history = (root / "run" / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == 4
    for name in ("config.json", "confusion_matrix.png", "model.keras", "checkpoints/last.keras"):
        assert (root / "run" / name).is_file(), name
    assert any((root / "run" / "logs").rglob("events.out.tfevents*"))
    record = json.loads((root / "run" / "config.json").read_text())
    assert record["config"]["image_size"] == 8 and record["splits"]["counts"]["test"] == 450


def test_predict_png_through_the_export(trained, tmp_path):
    from datasets.synthetic import bundled_digits

    root, _ = trained
    png = tmp_path / "digit.png"
    truth = bundled_digits.write_png(png, 0)
    big = tmp_path / "big_rgb.jpg"
    Image.open(png).convert("RGB").resize((40, 40)).save(big)
    result = CliRunner().invoke(cli.main, ["predict", str(root / "exports" / "digits" / "1"), str(png), str(big)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    path, label, probability = lines[0].split("\t")
    assert path == str(png) and label in [str(i) for i in range(10)] and 0.1 <= float(probability) <= 1
    assert 0 <= truth <= 9


def test_evaluate_export_and_run_agree(trained, tmp_path):
    root, _ = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    runner = CliRunner()
    out = tmp_path / "m.json"
    for model in (root / "exports" / "digits" / "1", root / "run"):
        result = runner.invoke(cli.main, ["evaluate", str(model), "--data", "bundled", "--json", str(out)])
        assert result.exit_code == 0, result.output
        evaluated = json.loads(out.read_text())
        assert evaluated["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
        assert evaluated["loss"] == pytest.approx(metrics["loss"], rel=1e-3)


def test_export_command_makes_a_new_version(trained):
    root, _ = trained
    result = CliRunner().invoke(cli.main, ["export", str(root / "run"), "--export-dir", str(root / "exports"),
                                           "--name", "digits-b", "--version", "7"])
    assert result.exit_code == 0, result.output
    assert (root / "exports" / "digits-b" / "7" / "saved_model.pb").is_file()
    again = CliRunner().invoke(cli.main, ["export", str(root / "run"), "--export-dir", str(root / "exports"),
                                          "--name", "digits-b", "--version", "7"])
    assert again.exit_code != 0 and "never overwritten" in again.output


def test_pipelines_lists_sources_and_defaults():
    result = CliRunner().invoke(cli.main, ["pipelines"])
    assert result.exit_code == 0, result.output
    assert "digits:" in result.output and "objects:" in result.output
    assert "tfds:mnist" in result.output and "network=lecun1989" in result.output


@pytest.mark.parametrize("args, message", [
    (["--set", "colour=red"], "unknown --set key 'colour'"),
    (["--data", "{missing}"], "no such file or folder"),
    (["--data", "{bad}"], "broken.png: not a readable image"),
])
def test_user_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"nope")
    args = [a.format(missing=tmp_path / "missing", bad=tmp_path / "bad") for a in args]
    result = CliRunner().invoke(cli.main, ["train", "digits", "--run-dir", str(tmp_path / "r"), *args])
    assert result.exit_code == 1 or result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_predict_names_a_non_image(trained, tmp_path):
    root, _ = trained
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    result = CliRunner().invoke(cli.main, ["predict", str(root / "exports" / "digits" / "1"), str(fake)])
    assert result.exit_code != 0 and "fake.png: cannot be decoded" in result.output
    assert "Traceback" not in result.output
