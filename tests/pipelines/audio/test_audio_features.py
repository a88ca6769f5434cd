"""The in-graph audio front end against librosa, and its training-only augmentation."""

import librosa
import numpy as np
import pytest
from project import shared_data
import tensorflow as tf

from datasets.formats import audio
from datasets.synthetic import dtmf
from pipelines.audio import features as f

def librosa_log_mel(y, sr, n_fft, hop, n_mels=64, top_db=80.0):
    """The reference: librosa's defaults (Slaney mel, centre zero padding, power 2, ref 1)."""
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=top_db).T  # [frames, mels]


@pytest.mark.parametrize("sr,n_fft,hop", [(16000, 512, 160), (8000, 256, 80), (22050, 2048, 512)])
def test_log_mel_matches_librosa_on_real_speech(sr, n_fft, hop):
    files = sorted(shared_data("fsdd", "recordings").glob("*.wav"))[::150]  # 18 clips: every speaker, several digits
    layer = f.LogMelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop)
    worst = 0.0
    for file in files:
        y, _ = librosa.load(file, sr=sr)
        ours = layer(y[None]).numpy()[0]
        reference = librosa_log_mel(y, sr, n_fft, hop)
        assert ours.shape == reference.shape  # same centre padding -> same frame count
        worst = max(worst, float(np.abs(ours - reference).max()))
    assert worst < 0.002, f"max |ours - librosa| = {worst:.4f} dB"  # README: within 0.002 dB (measured 0.0013)


def test_log_mel_matches_librosa_on_generated_tones_and_batches_independently():
    rng = np.random.default_rng(0)
    loud = dtmf.tone_clip("5", rng)
    quiet = 1e-3 * dtmf.tone_clip("#", rng)  # 60 dB lower: per-batch top_db would clip it
    layer = f.LogMelSpectrogram()
    batch = layer(np.stack([loud, quiet])).numpy()
    for row, y in zip(batch, (loud, quiet)):
        np.testing.assert_allclose(row, librosa_log_mel(y, 16000, 512, 160), atol=0.002)
    np.testing.assert_allclose(layer(quiet[None]).numpy()[0], batch[1], atol=1e-4)  # per example


def test_htk_filter_bank_would_not_match():
    """Why the librosa matrix is baked in: TF's own mel matrix is far off librosa's features."""
    y = dtmf.tone_clip("1", np.random.default_rng(1))
    stft = tf.signal.stft(np.pad(y, 256)[None], 512, 160, 512, pad_end=False)
    tf_mel = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 0.0, 8000.0)
    power = tf.matmul(tf.abs(stft) ** 2, tf_mel).numpy()[0]
    tf_db = 10 * np.log10(np.maximum(power, 1e-10))
    assert np.abs(tf_db - librosa_log_mel(y, 16000, 512, 160, top_db=None)).max() > 10


def test_standardize_is_per_example_and_silence_is_finite():
    x = np.stack([np.random.default_rng(0).normal(3, 5, (10, 4)), np.zeros((10, 4))]).astype(np.float32)
    out = f.PerExampleStandardize()(x).numpy()
    assert abs(out[0].mean()) < 1e-5 and abs(out[0].std() - 1) < 1e-3
    assert np.all(out[1] == 0)
    log_mel = f.LogMelSpectrogram()(np.zeros((1, 16000), np.float32))
    assert np.all(np.isfinite(f.PerExampleStandardize()(log_mel).numpy()))


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 4321])
def test_fix_length_numpy_and_graph_agree(n):
    x = np.arange(1, n + 1, dtype=np.float32)
    ours = f.fix_length(tf.constant(x[None]), 1000).numpy()[0]
    np.testing.assert_array_equal(ours, audio.fix_length(x, 1000))
    assert ours.shape == (1000,)
    if 0 < n <= 1000:  # centred: the clip sits in the middle
        start = (1000 - n) // 2
        np.testing.assert_array_equal(ours[start:start + n], x)


def test_spec_augment_only_in_training():
    x = tf.ones((4, 101, 64))
    layer = f.SpecAugment(time_masks=2, time_width=10, freq_masks=2, freq_width=8)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    masked = layer(x, training=True).numpy()
    zero_frames = (masked == 0).all(axis=2).sum(axis=1)  # whole frames masked, per example
    zero_bins = (masked == 0).all(axis=1).sum(axis=1)
    assert np.all(zero_frames <= 20) and np.all(zero_bins <= 16)
    assert (masked == 0).any()
    assert set(np.unique(masked)) <= {0.0, 1.0}


def test_random_time_shift_is_seeded_and_shifts_with_zero_fill():
    x = tf.range(1, 101, dtype=tf.float32)
    a = f.random_time_shift(x, 10, tf.constant([1, 2])).numpy()
    b = f.random_time_shift(x, 10, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(a, b)
    shifts = {int(np.argmax(f.random_time_shift(x, 10, tf.constant([s, 0])).numpy() == 50)) - 49
              for s in range(40)}
    assert len(shifts) > 5 and all(-10 <= s <= 10 for s in shifts)


def test_change_speed_scales_pitch_and_keeps_the_length():
    rate, n = 8000, 8000
    t = np.arange(n) / rate
    tone = tf.constant(np.sin(2 * np.pi * 500 * t) * (np.abs(t - 0.5) < 0.3), tf.float32)  # 0.6 s
    for factor in (0.9, 1.0, 1.1):
        changed = f.change_speed(tone, factor).numpy()
        assert changed.shape == (n,)
        peak = np.argmax(np.abs(np.fft.rfft(changed))) * rate / n
        assert peak == pytest.approx(500 * factor, abs=2)
        sounding = np.flatnonzero(np.abs(changed) > 1e-3)
        assert (sounding[-1] - sounding[0]) / rate == pytest.approx(0.6 / factor, abs=0.01)
    np.testing.assert_allclose(f.change_speed(tone, 1.0).numpy(), tone.numpy(), atol=1e-6)
    a = f.random_speed(tone, 0.1, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(a, f.random_speed(tone, 0.1, tf.constant([3, 4])).numpy())


def test_speed_change_and_end_trim_are_validated():
    import pipelines
    from pipelines.core.config import override

    cls = pipelines.get("audio")
    with pytest.raises(ValueError, match=r"speed_change must be in \[0, 1\), got 1.5"):
        cls(override(cls.Config(), ["speed_change=1.5"]))
    with pytest.raises(ValueError, match=r"end_trim must be in \[0, 1\), got -0.1"):
        cls(override(cls.Config(), ["end_trim=-0.1"]))


def test_random_end_trim_silences_only_the_end_of_the_word():
    word = np.zeros(1000, np.float32)
    word[200:800] = np.linspace(1, 2, 600)  # a 600-sample word centred in its clip
    kept_lengths = []
    for s in range(60):
        trimmed = f.random_end_trim(tf.constant(word), 0.3, tf.constant([s, 9])).numpy()
        kept = np.flatnonzero(trimmed)
        assert kept[0] == 200  # the start is never touched
        np.testing.assert_array_equal(trimmed[:kept[-1] + 1], word[:kept[-1] + 1])
        assert not trimmed[kept[-1] + 1:].any()
        kept_lengths.append(len(kept))
    assert min(kept_lengths) >= 600 - 0.3 * 600 and max(kept_lengths) <= 600
    assert max(kept_lengths) - min(kept_lengths) > 100  # the cut varies with the seed
    again = f.random_end_trim(tf.constant(word), 0.3, tf.constant([5, 9])).numpy()
    np.testing.assert_array_equal(again, f.random_end_trim(tf.constant(word), 0.3, tf.constant([5, 9])).numpy())
    silent = f.random_end_trim(tf.zeros(50), 0.3, tf.constant([1, 2])).numpy()
    assert silent.shape == (50,) and not silent.any()
