"""`cnn predict` reads audio as training reads it (issue 27, item 6): an 8 kHz or a stereo WAV is
resampled and mixed down by datasets/formats/audio.py (librosa) before it goes to the export,
instead of the bytes signature's refusal. The same DTMF key at 16 kHz mono, 8 kHz and 16 kHz
stereo gets the same probabilities; the SavedModel's own graph still refuses 8 kHz bytes."""
import json

import librosa
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import cli
from analysis import artifacts
from datasets.synthetic import dtmf

TINY = ["epochs=1", "bundled_per_class=6", "clip_seconds=0.25", "width=8", "n_mels=16"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A tiny audio model trained for one epoch on the bundled DTMF tones, exported."""
    import pipelines
    from pipelines.core import config as configs

    root = tmp_path_factory.mktemp("audio")
    cls = pipelines.get("audio")
    pipeline = cls(configs.override(cls.Config(), TINY))
    run = cli.train_and_export(pipeline, run_dir=root / "run", export_dir=root / "models", verbose=0)
    return run.export_path


def key_tone(key, rate, seconds=0.25):
    """[samples] float32: the DTMF key's two sines at `rate`, as the bundled data makes them."""
    low, high = dtmf.key_frequencies(key)
    t = np.arange(int(seconds * rate)) / rate
    return (0.25 * np.sin(2 * np.pi * low * t) + 0.25 * np.sin(2 * np.pi * high * t)).astype(np.float32)


def predict_json(model, *files):
    result = CliRunner().invoke(cli.main, ["predict", str(model), *map(str, files), "--json", "--top-k", "12"])
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def probabilities(answer):
    return {item["label"]: item["probability"] for item in answer["top_k"]}


def test_an_8khz_and_a_stereo_wav_predict_as_the_16khz_clip(export, tmp_path):
    clip = tmp_path / "five-16k.wav"
    soundfile.write(clip, key_tone("5", 16000), 16000, subtype="PCM_16")
    low_rate = tmp_path / "five-8k.wav"
    soundfile.write(low_rate, key_tone("5", 8000), 8000, subtype="PCM_16")
    stereo = tmp_path / "five-stereo.wav"
    soundfile.write(stereo, np.stack([key_tone("5", 16000)] * 2, axis=1), 16000, subtype="PCM_16")
    result, answers = predict_json(export, clip, low_rate, stereo)
    assert result.exit_code == 0 and result.stderr == "", result.output
    reference, resampled, mixed = map(probabilities, answers)
    assert sorted(reference) == sorted(dtmf.CLASS_NAMES)
    # the 8 kHz file as training reads it: librosa's resampling to 16 kHz, then the model
    waveform, rate = soundfile.read(low_rate, dtype="float32")
    upsampled = librosa.resample(waveform, orig_sr=rate, target_sr=16000)
    expected = artifacts.open(export).predict(upsampled[None].astype(np.float32))[0]
    names = artifacts.open(export).class_names
    for label, p in reference.items():
        assert resampled[label] == pytest.approx(float(expected[names.index(label)]), abs=1e-4)
        assert resampled[label] == pytest.approx(p, abs=0.02)  # and close to the 16 kHz clip's
        assert mixed[label] == pytest.approx(p, abs=1e-4)
    assert answers[2]["label"] == answers[0]["label"]


def test_the_16khz_clip_predicts_as_the_exports_own_bytes_signature(export, tmp_path):
    """Reading the file in Python gives what the graph gives the same bytes."""
    clip = tmp_path / "nine.wav"
    soundfile.write(clip, key_tone("9", 16000), 16000, subtype="PCM_16")
    _, (answer,) = predict_json(export, clip)
    graph = artifacts.open(export).signature("waveform_bytes")([clip.read_bytes()])["probabilities"][0]
    names = json.loads((export / "assets.extra" / "cnn_suite.json").read_text())["class_names"]
    for label, p in probabilities(answer).items():
        assert p == pytest.approx(float(graph[names.index(label)]), abs=1e-4)


def test_the_graph_itself_still_refuses_another_rate(export, tmp_path):
    """What TF Serving runs cannot resample: its message says the rate to use."""
    import tensorflow as tf

    low_rate = tmp_path / "five-8k.wav"
    soundfile.write(low_rate, key_tone("5", 8000), 8000, subtype="PCM_16")
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be sampled at 16000 Hz"):
        artifacts.open(export).signature("waveform_bytes")([low_rate.read_bytes()])
