"""The text pipeline end to end: train on bundled reviews, export, serve strings without the project."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from factories import train_bundled
from isolated import run_without_project

SETTINGS = ["epochs=5", "bundled_size=2000", "sequence_length=48"]
SENTENCES = ["the plot was superb and the cast was charming .",
             "the acting was not great , and the ending was tedious .",
             "", "caf\udcc3 broken \udcff bytes"]  # empty, and bytes that are not UTF-8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_bundled("text", tmp_path_factory.mktemp("text"), SETTINGS)


def test_learns_the_bundled_reviews(trained):
    pipeline, result, _ = trained
    assert result.metrics["accuracy"] > 0.85, result.metrics["accuracy"]
    assert result.metrics["class_names"] == ["negative", "positive"]
    vocabulary = pipeline.vectorizer().get_vocabulary()
    assert "superb" in vocabulary and len(vocabulary) < 400  # built from the training texts


def test_export_serves_raw_strings_without_the_project(trained):
    _, result, root = trained
    raw = [s.encode("utf-8", "surrogateescape") for s in SENTENCES]
    (root / "inputs.json").write_text(json.dumps([r.hex() for r in raw]))
    script = f"""
import json, numpy as np, tensorflow as tf
m = tf.saved_model.load({str(result.export_path)!r})
assert list(m.signatures) == ["serving_default"], list(m.signatures)
texts = [bytes.fromhex(h) for h in json.load(open("inputs.json"))]
out = m.signatures["serving_default"](text=tf.constant(texts))
print(json.dumps({{"p": out["probabilities"].numpy().tolist(),
                  "label": [s.decode() for s in out["label"].numpy()]}}))
"""
    done = run_without_project(script, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    probabilities = np.asarray(out["p"])
    assert probabilities.shape == (4, 2) and np.all(np.isfinite(probabilities))
    assert out["label"][:2] == ["positive", "negative"]  # negation read correctly
    import keras
    import tensorflow as tf

    model = keras.models.load_model(result.run_dir / "model.keras")
    np.testing.assert_allclose(model.predict(tf.constant(raw), verbose=0), probabilities, atol=1e-5)


def test_cli_predict_reads_text_files(trained, tmp_path):
    _, result, _ = trained
    file = tmp_path / "review.txt"
    file.write_text(SENTENCES[0])
    outcome = CliRunner().invoke(cli.main, ["predict", str(result.export_path), str(file)])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.strip().split("\t")[:2] == [str(file), "positive"]


def test_cli_csv_without_the_named_column_is_one_line(tmp_path):
    table = tmp_path / "data.csv"
    table.write_text("review,stars\ngood,5\n")
    message = one_line_error([
        "train", "text", "--data", str(table), "--set", "text_column=sentence",
        "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exp"),
    ])
    assert f"{table}: no column 'sentence' (columns: review, stars)" in message
