"""The audio pipeline end to end: train on bundled DTMF, export, serve without the project."""
import io
import json

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from factories import train_bundled
from isolated import run_without_project
from serving_exports import assert_core_tensorflow_only

SETTINGS = ["epochs=20", "bundled_per_class=40", "clip_seconds=0.5", "width=16", "batch_size=32"]


def wav_bytes(x, rate=16000):
    buffer = io.BytesIO()
    soundfile.write(buffer, x, rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_bundled("audio", tmp_path_factory.mktemp("audio"), SETTINGS)


def test_learns_dtmf_and_writes_the_run(trained):
    pipeline, result, _ = trained
    assert result.metrics["accuracy"] > 0.5, result.metrics["accuracy"]  # chance: 1/12
    assert result.metrics["class_names"] == list("0123456789*#")
    for name in ("config.json", "metrics.json", "history.csv", "model.keras"):
        assert (result.run_dir / name).is_file(), name
    assert result.export_path.name == "1"


def test_export_serves_waveforms_and_wav_bytes_without_the_project(trained):
    pipeline, result, root = trained
    from datasets.synthetic import dtmf

    waves, labels = dtmf.generate(2, seed=99, num_samples=8000)
    # What a WAV file carries: 16-bit samples. Both signatures must see the same numbers.
    quantised = np.round(waves * 32767).astype(np.int16)
    np.save(root / "waves.npy", quantised.astype(np.float32) / 32768)
    (root / "wavs.json").write_text(json.dumps(
        [__import__("base64").b64encode(wav_bytes(q)).decode() for q in quantised]))
    script = f"""
import base64, json, numpy as np, tensorflow as tf
m = tf.saved_model.load({str(result.export_path)!r})
assert set(m.signatures) == {{"serving_default", "waveform_bytes"}}, list(m.signatures)
x = np.load("waves.npy")
a = m.signatures["serving_default"](waveform=tf.constant(x))
b = m.signatures["waveform_bytes"](waveform_bytes=tf.constant([base64.b64decode(s) for s in json.load(open("wavs.json"))]))
short = m.signatures["serving_default"](waveform=tf.zeros([2, 1234]))  # any length; silence
print(json.dumps({{"a": a["probabilities"].numpy().tolist(), "b": b["probabilities"].numpy().tolist(),
                  "label": [s.decode() for s in a["label"].numpy()], "id": a["class_id"].numpy().tolist(),
                  "short": short["probabilities"].numpy().tolist()}}))
"""
    done = run_without_project(script, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    served = np.asarray(out["a"])
    np.testing.assert_allclose(np.asarray(out["b"]), served, atol=1e-5)
    assert np.all(np.isfinite(out["short"])) and np.allclose(np.sum(out["short"], axis=1), 1, atol=1e-5)
    assert out["label"] == [list("0123456789*#")[i] for i in out["id"]]
    import keras

    model = keras.models.load_model(result.run_dir / "model.keras")
    np.testing.assert_allclose(model.predict(np.load(root / "waves.npy"), verbose=0), served, atol=1e-4)


def test_exported_graph_is_core_tensorflow_only(trained):
    _, result, _ = trained
    assert_core_tensorflow_only(result.export_path)


def test_wav_at_another_rate_is_an_error_naming_the_rate(trained):
    import tensorflow as tf

    _, result, _ = trained
    m = tf.saved_model.load(str(result.export_path))
    with pytest.raises(tf.errors.InvalidArgumentError, match="sampled at 16000 Hz"):
        m.signatures["waveform_bytes"](waveform_bytes=tf.constant([wav_bytes(np.ones(800) * 0.1, 8000)]))


def test_cli_label_pattern_matching_nothing_is_one_line(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    soundfile.write(str(folder / "0_a_1.wav"), np.full(800, 0.1, np.float32), 8000)
    message = one_line_error([
        "train", "audio", "--data", str(folder), "--set", "label_pattern=^x(\\d)",
        "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exp"),
    ])
    assert f"{folder}: label_pattern '^x(\\\\d)' matches none of the 1 file names" in message


def test_cli_evaluate_reloads_the_run_folder(trained, tmp_path):
    """model.keras holds our front-end layers; `cnn evaluate RUN` must be able to load them."""
    _, result, _ = trained
    outcome = CliRunner().invoke(cli.main, ["evaluate", str(result.run_dir), "--data", "bundled",
                                            "--json", str(tmp_path / "m.json")])
    assert outcome.exit_code == 0, outcome.output
    again = json.loads((tmp_path / "m.json").read_text())
    assert abs(again["accuracy"] - result.metrics["accuracy"]) < 1e-6
