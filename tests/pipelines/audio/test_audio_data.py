"""Audio sources: decoding, resampling, mixdown, label patterns, manifests, DTMF, bad input."""

import numpy as np
import pytest
import soundfile

import pipelines
from datasets.formats import audio
from datasets.synthetic import dtmf
from pipelines.core import sources
from pipelines.core.config import override
from tfds_mocks import prepared_metadata


def write_wav(path, samples, rate=16000, channels=1, subtype="PCM_16"):
    """A WAV file of float samples [n] or [n, channels] (soundfile writes the header)."""
    samples = np.asarray(samples, np.float32)
    if channels > 1 and samples.ndim == 1:
        samples = np.stack([samples] * channels, axis=1)
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return path


def tone(seconds=0.5, rate=16000, hz=440.0, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def audio_pipeline(*assignments):
    cls = pipelines.get("audio")
    return cls(override(cls.Config(), list(assignments)))


# ------------------------------------------------------------------------------ decoding
def test_pcm16_wav_goes_through_tf_decode_and_matches_the_samples(tmp_path):
    x = tone()
    path = write_wav(tmp_path / "a.wav", x)
    assert audio.is_pcm16_wav(path.read_bytes())
    y = audio.load_clip(path, 16000)
    np.testing.assert_allclose(y, x, atol=1 / 32768 + 1e-6)


def test_other_formats_go_through_soundfile_or_librosa(tmp_path):
    x = tone()
    for subtype, suffix in (("PCM_24", ".wav"), ("FLOAT", ".wav"), ("PCM_16", ".flac")):
        path = write_wav(tmp_path / f"b_{subtype}{suffix}", x, subtype=subtype)
        assert not audio.is_pcm16_wav(path.read_bytes())
        np.testing.assert_allclose(audio.load_clip(path, 16000), x, atol=1e-4)


def test_stereo_is_mixed_down_and_8k_is_resampled_to_16k(tmp_path):
    left, right = tone(hz=300, rate=8000), tone(hz=300, rate=8000, amplitude=0.1)
    path = write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), rate=8000)
    y = audio.load_clip(path, 16000)
    assert len(y) == 2 * len(left)
    # A 300 Hz tone of amplitude (0.5 + 0.1) / 2 after mixdown, at twice the rate.
    t = np.arange(len(y)) / 16000
    middle = slice(1000, -1000)
    np.testing.assert_allclose(y[middle], 0.3 * np.sin(2 * np.pi * 300 * t)[middle], atol=5e-3)


def test_load_clips_fixes_the_length_by_centring(tmp_path):
    short = write_wav(tmp_path / "short.wav", tone(0.25))
    long = write_wav(tmp_path / "long.wav", tone(2.0))
    clips = audio.load_clips([str(short), str(long)], 16000, 16000)
    assert clips.shape == (2, 16000) and clips.dtype == np.float32
    assert np.all(clips[0, :6000] == 0) and np.all(clips[0, -6000:] == 0) and np.any(clips[0, 6000:10000])


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("this is not audio\n" * 20), "not a readable audio file"),
    (lambda p: write_wav(p, np.zeros(0)), "zero-length clip"),
    (lambda p: write_wav(p, np.zeros(800)), "silent clip"),
])
def test_bad_clips_are_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(ValueError, match=message) as error:
        audio.load_clip(path, 16000)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


# --------------------------------------------------------------------------- label sources
def fsdd_like(folder, digits=(0, 1, 2), takes=range(6)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for digit in digits:
        for take in takes:
            write_wav(folder / f"{digit}_spk_{take}.wav", tone(0.2, 8000, 300 + 200 * digit)
                      + 0.01 * rng.standard_normal(1600).astype(np.float32), rate=8000)
    return folder


def test_flat_folder_with_label_pattern_and_test_pattern(tmp_path):
    folder = fsdd_like(tmp_path / "rec")
    p = audio_pipeline(r"label_pattern=^(\d+)_", r"test_pattern=_[45]\.wav$", "clip_seconds=0.5")
    data = sources.load(p, str(folder))
    assert data.class_names == ["0", "1", "2"]
    assert len(data.split("train")) == 12 and len(data.split("test")) == 6
    assert data.split("train").inputs.shape == (12, 8000)  # 0.5 s at 16 kHz, resampled from 8 kHz
    test_names = sorted(np.asarray(data.split("test").labels).tolist())
    assert test_names == [0, 0, 1, 1, 2, 2]


def test_label_pattern_errors(tmp_path):
    folder = fsdd_like(tmp_path / "rec")
    with pytest.raises(ValueError, match=r"matches none of the 18 file names"):
        sources.load(audio_pipeline(r"label_pattern=^speaker(\d)"), str(folder))
    write_wav(folder / "stray.wav", tone(0.1))
    with pytest.raises(ValueError, match=r"stray\.wav: file name does not match"):
        sources.load(audio_pipeline(r"label_pattern=^(\d+)_"), str(folder))
    with pytest.raises(ValueError, match="not a valid regular expression"):
        sources.load(audio_pipeline(r"label_pattern=^(\d+"), str(folder))
    with pytest.raises(ValueError, match="label_pattern"):  # flat folder without a pattern
        sources.load(audio_pipeline(), str(folder))


def test_class_folders_and_bad_file_inside(tmp_path):
    for name in ("down", "up"):
        (tmp_path / "c" / name).mkdir(parents=True)
        for i in range(3):
            write_wav(tmp_path / "c" / name / f"{i}.wav", tone(0.3, hz=200 + 100 * i))
    data = sources.load(audio_pipeline(), str(tmp_path / "c"))
    assert data.class_names == ["down", "up"] and len(data.split("all")) == 6
    (tmp_path / "c" / "up" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(ValueError, match=r"broken\.wav"):
        sources.load(audio_pipeline(), str(tmp_path / "c"))


def test_csv_manifest_with_named_columns_splits_and_row_errors(tmp_path):
    for i in range(4):
        write_wav(tmp_path / f"{i}.wav", tone(0.2, hz=300 + 300 * (i % 2)))
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,word,split\n0.wav,yes,train\n1.wav,no,train\n2.wav,yes,test\n3.wav,no,test\n")
    p = audio_pipeline("path_column=file", "label_column=word")
    data = sources.load(p, str(manifest))
    assert data.class_names == ["no", "yes"]
    assert data.split("train").labels.tolist() == [1, 0] and len(data.split("test")) == 2
    with pytest.raises(ValueError, match=r"m\.csv: no column 'path' \(columns: file, word, split\)"):
        sources.load(audio_pipeline(), str(manifest))
    manifest.write_text("file,word\n0.wav,yes\nmissing.wav,no\n")
    with pytest.raises(ValueError, match=r"m\.csv:3: no such file"):
        sources.load(p, str(manifest))


def test_tfds_source_at_another_rate_is_resampled(tmp_path):
    """tfds:spoken_digit (8 kHz int PCM) -> 16 kHz float clips, through the real loader
    (datasets/formats/tfds.py) over TFDS's mock examples (no download, no patch of ours)."""
    import tensorflow_datasets as tfds

    prepared_metadata("spoken_digit", tmp_path, {"train": 5})
    with tfds.testing.mock_data(num_examples=5, data_dir=str(tmp_path), policy=tfds.testing.MockPolicy.USE_FILES):
        data = sources.load(audio_pipeline("clip_seconds=0.25"), "tfds:spoken_digit", data_dir=str(tmp_path))
        raw = [x for x, _ in tfds.load("spoken_digit", split="train", as_supervised=True,
                                       try_gcs=False).as_numpy_iterator()]
    clips = data.split("train").inputs
    assert clips.shape == (5, 4000) and clips.dtype == np.float32
    assert "8000 -> 16000" in data.description
    expected = audio.fix_length(
        __import__("librosa").resample(raw[0].astype(np.float32) / 32768, orig_sr=8000, target_sr=16000), 4000)
    np.testing.assert_allclose(clips[0], np.clip(expected, -1, 1), atol=1e-6)


# ------------------------------------------------------------------------------ bundled
def goertzel_power(x, hz, rate=16000):
    t = np.arange(len(x)) / rate
    return np.abs(np.sum(x * np.exp(-2j * np.pi * hz * t))) ** 2


def test_dtmf_clips_carry_their_key():
    """Decoding each clip by its strongest DTMF row and column tone finds the key: the labels
    are right, and the noise/channel effects make it harder than a lookup but not random."""
    waves, labels = dtmf.generate(10, seed=5)
    assert waves.shape == (120, 16000) and np.bincount(labels).tolist() == [10] * 12
    assert np.all(np.abs(waves) <= 1) and np.all(np.isfinite(waves))
    correct = 0
    for x, label in zip(waves, labels):
        low = dtmf.LOW[int(np.argmax([goertzel_power(x, f) for f in dtmf.LOW]))]
        high = dtmf.HIGH[int(np.argmax([goertzel_power(x, f) for f in dtmf.HIGH]))]
        correct += (low, high) == dtmf.key_frequencies(dtmf.CLASS_NAMES[label])
    assert 0.75 <= correct / len(labels) < 1.0, correct


def test_dtmf_is_reproducible():
    a, la = dtmf.generate(2, seed=1)
    b, lb = dtmf.generate(2, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
