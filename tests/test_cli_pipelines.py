"""The `cnn` pipeline commands end to end on bundled digits: train, predict, evaluate, export."""
import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli
from cli_errors import one_line_error

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
    with open(root / "run" / "history.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:  # validation by default for digits: a number in every val_* cell
        assert 0 <= float(row["val_accuracy"]) <= 1 and float(row["val_loss"]) > 0
    assert (root / "run" / "checkpoints" / "best.keras").is_file()  # kept by val_loss
    for name in ("config.json", "confusion_matrix.png", "model.keras", "checkpoints/last.keras"):
        assert (root / "run" / name).is_file(), name
    assert any((root / "run" / "logs").rglob("events.out.tfevents*"))
    record = json.loads((root / "run" / "config.json").read_text())
    assert record["config"]["image_size"] == 8 and record["splits"]["counts"]["test"] == 450


def test_without_validation_no_val_columns_are_written(tmp_path):
    result = CliRunner().invoke(cli.main, [
        "train", "digits", "--epochs", "1", "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "e"),
        *TINY, "--set", "validation_fraction=0"])
    assert result.exit_code == 0, result.output
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "epoch" and "loss" in header and not any(name.startswith("val_") for name in header)
    assert "NA" not in (tmp_path / "run" / "history.csv").read_text()
    assert not any(key.startswith("val_") for key in json.loads((tmp_path / "run" / "metrics.json").read_text()))
    assert not (tmp_path / "run" / "checkpoints" / "best.keras").exists()
    assert "no validation split" in (tmp_path / "run" / "report.html").read_text()


def test_train_ends_with_one_summary_block_after_naming_each_long_step(trained):
    """Issue 27 item 3: time, examples and classes per split, parameters, test metrics, and
    where the run, its report and its export are; each long step announced before it starts."""
    import keras

    import layers  # noqa: F401  (registers our layers for loading)

    root, output = trained
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("trained in "))
    block = lines[start:]
    assert re.fullmatch(r"trained in \d+\.\d s", block[0]), block
    # digits hold out 10% of the 1347 bundled training images for validation by default
    assert block[1] == ("data: train 1211 examples (10 classes), val 136 examples (10 classes), "
                        "test 450 examples (10 classes)")
    parameters = keras.saving.load_model(root / "run" / "model.keras", compile=False).count_params()
    assert block[2] == f"parameters: {parameters:,}" and parameters > 1000
    assert block[3].startswith("test metrics: loss=") and "accuracy=" in block[3]
    assert block[4:] == [f"run folder: {root / 'run'}", f"report: {root / 'run' / 'report.html'}",
                         f"SavedModel: {root / 'exports' / 'digits' / '1'}"]
    assert (root / "run" / "report.html").is_file()
    steps = ["loading data: bundled ...", "training on 1211 examples ...", "evaluating on 450 test examples ...",
             "exporting the SavedModel ...", "writing report.html ..."]
    assert [line for line in lines[:start] if line.endswith(" ...")] == steps


def test_predict_png_through_the_export(trained, tmp_path):
    """`cnn predict` on PNGs of the bundled test digits gives the label and probability of the
    Keras model on scikit-learn's own pixel arrays (read here without the pipeline), and mostly
    the true digit."""
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import layers  # noqa: F401  (registers our layers for loading)

    root, _ = trained
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    _, test_x, _, test_y = train_test_split(pixels, digits.target, test_size=0.25,
                                            stratify=digits.target, random_state=0)
    count = 30
    pngs = []
    for index in range(count):
        pngs.append(tmp_path / f"digit{index}.png")
        Image.fromarray(test_x[index]).save(pngs[-1])
    big = tmp_path / "big_rgb.jpg"
    Image.fromarray(test_x[0]).convert("RGB").resize((40, 40)).save(big)
    result = CliRunner().invoke(cli.main, ["predict", str(root / "exports" / "digits" / "1"),
                                           *map(str, pngs), str(big)])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.strip().splitlines()]
    assert len(lines) == count + 1 and lines[-1][0] == str(big) and lines[-1][1] in list("0123456789")

    model = keras.models.load_model(root / "run" / "model.keras")
    expected = model.predict_on_batch(test_x[:count, :, :, None].astype(np.float32))
    assert [path for path, _, _ in lines[:count]] == list(map(str, pngs))
    assert [int(label) for _, label, _ in lines[:count]] == expected.argmax(1).tolist()
    np.testing.assert_allclose([float(p) for _, _, p in lines[:count]], expected.max(1), atol=1e-4)
    correct = np.mean([int(label) == truth for (_, label, _), truth in zip(lines, test_y)])
    assert correct >= 0.5, correct  # metrics.json: 3 epochs at 8x8 get well above this


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
    assert "\ndigits " in result.output and "\nobjects " in result.output
    result = CliRunner().invoke(cli.main, ["pipelines", "digits"])
    assert result.exit_code == 0, result.output
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
    assert message in one_line_error(["train", "digits", "--run-dir", str(tmp_path / "r"), *args])


def test_predict_names_a_non_image(trained, tmp_path):
    root, _ = trained
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    result = CliRunner().invoke(cli.main, ["predict", str(root / "exports" / "digits" / "1"), str(fake)])
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: {fake}: cannot be decoded as image (Unknown image file format")
    assert len(result.stderr.splitlines()) == 1  # the graph's own words, without its node and stack
