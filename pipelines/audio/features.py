"""Audio front end as Keras layers: waveform -> log-mel -> per-example normalisation (+ SpecAugment).

Why inside the model: the features that train are the features that serve. The exported
SavedModel takes a raw waveform (or WAV bytes) and computes these features with core TF ops
only (`tf.signal`), so TF Serving runs it and no client re-implements the front end.

Why librosa's filter bank: `tf.signal.linear_to_mel_weight_matrix` is HTK-scaled with peak-1
triangles, while librosa defaults to the Slaney scale with area normalisation; the two differ by
tens of dB (../shared/REFERENCES.md). We compute librosa's matrix once in Python when the layer
is constructed and bake it into the graph as a constant, so the in-graph features equal
`librosa.power_to_db(librosa.feature.melspectrogram(y, sr, ...))` with librosa's defaults
(center=True with zero padding, periodic Hann window, power 2, ref=1, amin=1e-10, top_db=80).
`top_db` is applied per example (each clip's own maximum), never across the batch, so a
request's features do not depend on what else TF Serving batched with it.
"""
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class LogMelConfig:
    """STFT/mel parameters. Defaults: 32 ms windows, 10 ms hop, 64 Slaney mel bands at 16 kHz."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2, as librosa
    top_db: float | None = 80.0
    amin: float = 1e-10

    def num_frames(self, num_samples):
        """Frames librosa produces with center=True: 1 + samples // hop."""
        return 1 + num_samples // self.hop_length


def librosa_mel_matrix(config):
    """librosa's mel filter bank (Slaney scale, area norm), shape (n_mels, 1 + n_fft // 2)."""
    import librosa  # construction time only; never part of the exported graph

    return librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
        fmin=config.fmin, fmax=config.fmax,
    ).astype(np.float32)


@keras.saving.register_keras_serializable(package="cnn_suite")
class LogMelSpectrogram(keras.layers.Layer):
    """waveform [batch, samples] float32 in [-1, 1] -> log-mel [batch, frames, n_mels] in dB."""

    def __init__(self, sample_rate=16000, n_fft=512, hop_length=160, n_mels=64, fmin=0.0,
                 fmax=None, top_db=80.0, amin=1e-10, **kwargs):
        super().__init__(**kwargs)
        self.spec = LogMelConfig(sample_rate, n_fft, hop_length, n_mels, fmin, fmax, top_db, amin)
        if n_fft % 2:
            raise ValueError(f"n_fft must be even (got {n_fft}); librosa's centre padding is n_fft // 2.")
        # (1 + n_fft // 2, n_mels): transposed so the power spectrum multiplies from the left.
        self._mel_np = np.ascontiguousarray(librosa_mel_matrix(self.spec).T)

    def call(self, waveform):
        spec = self.spec
        waveform = tf.cast(waveform, tf.float32)
        # center=True: librosa (>= 0.10) pads n_fft // 2 zeros on both sides.
        pad = spec.n_fft // 2
        padded = tf.pad(waveform, [[0, 0], [pad, pad]])  # [batch, samples + n_fft]
        # tf.signal.stft's own steps (frame, periodic Hann = scipy's get_window("hann"), rfft), with
        # the rfft on a 2-D [rows, n_fft] tensor: the same numbers, and a graph tf2onnx can map
        # (its RFFT + ComplexAbs handlers lose the shape of an rfft over a 3-D batch).
        frames = tf.signal.frame(padded, spec.n_fft, spec.hop_length)  # [batch, frames, n_fft]
        windowed = tf.reshape(frames * tf.signal.hann_window(spec.n_fft), [-1, spec.n_fft])
        spectrum = tf.signal.rfft(windowed, [spec.n_fft])  # [batch * frames, 1 + n_fft // 2] complex64
        power = tf.reshape(tf.math.square(tf.math.abs(spectrum)),
                           tf.concat([tf.shape(frames)[:2], [spec.n_fft // 2 + 1]], 0))
        mel = tf.matmul(power, tf.constant(self._mel_np))  # [batch, frames, n_mels]
        log_mel = 10.0 * tf.math.log(tf.maximum(mel, spec.amin)) / tf.math.log(10.0)
        if spec.top_db is not None:
            # Per example: each clip is clipped relative to its own peak.
            peak = tf.reduce_max(log_mel, axis=[1, 2], keepdims=True)
            log_mel = tf.maximum(log_mel, peak - spec.top_db)
        return log_mel

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else self.spec.num_frames(input_shape[1])
        return (input_shape[0], frames, self.spec.n_mels)

    def get_config(self):
        s = self.spec
        return {**super().get_config(), "sample_rate": s.sample_rate, "n_fft": s.n_fft,
                "hop_length": s.hop_length, "n_mels": s.n_mels, "fmin": s.fmin, "fmax": s.fmax,
                "top_db": s.top_db, "amin": s.amin}


@keras.saving.register_keras_serializable(package="cnn_suite")
class PerExampleStandardize(keras.layers.Layer):
    """(x - mean) / std over all but the batch axis, per example (never per batch).

    Removes the recording level (a louder clip is a shifted log-mel) and keeps each served
    request independent of its batch neighbours. A silent clip (constant features) maps to
    zeros rather than NaN thanks to `epsilon`.
    """

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        axes = list(range(1, len(x.shape)))
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        std = tf.math.reduce_std(x, axis=axes, keepdims=True)
        return (x - mean) / (std + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _band_mask(batch, length, max_width):
    """A [batch, length] boolean mask with one random band of width in [0, max_width] per row."""
    width = tf.random.uniform([batch, 1], 0, max_width + 1, dtype=tf.int32)
    start = tf.cast(tf.random.uniform([batch, 1]) * tf.cast(length - width + 1, tf.float32), tf.int32)
    positions = tf.range(length)[tf.newaxis, :]
    return (positions >= start) & (positions < start + width)


@keras.saving.register_keras_serializable(package="cnn_suite")
class SpecAugment(keras.layers.Layer):
    """SpecAugment-style masking (Park et al. 2019) of [batch, frames, mels], training only.

    Masked cells are set to 0, the mean after per-example standardisation. Each example gets
    its own `time_masks` bands of up to `time_width` frames and `freq_masks` bands of up to
    `freq_width` mel bins. At inference (and in the exported model) it is the identity.
    """

    def __init__(self, time_masks=2, time_width=10, freq_masks=2, freq_width=8, **kwargs):
        super().__init__(**kwargs)
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width

    def call(self, x, training=False):
        if not training:
            return x
        batch, frames, mels = tf.shape(x)[0], x.shape[1], x.shape[2]
        keep = tf.ones_like(x, dtype=tf.bool)
        for _ in range(self.time_masks):
            keep &= ~_band_mask(batch, frames, self.time_width)[:, :, tf.newaxis]
        for _ in range(self.freq_masks):
            keep &= ~_band_mask(batch, mels, self.freq_width)[:, tf.newaxis, :]
        return tf.where(keep, x, tf.zeros_like(x))

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks, "time_width": self.time_width,
                "freq_masks": self.freq_masks, "freq_width": self.freq_width}


def random_time_shift(waveform, max_shift, seed):
    """tf ops: shift ONE waveform [samples] by a seeded random -max..+max samples, zero fill.

    Training-only augmentation (the tf.data `augment` hook): a word's position in the window
    should not matter. `seed` is a (2,) int tensor for stateless, reproducible randomness.
    """
    n = waveform.shape[-1]
    shift = tf.random.stateless_uniform([], seed, -max_shift, max_shift + 1, dtype=tf.int32)
    padded = tf.pad(waveform, [[max_shift, max_shift]])  # [samples + 2 max_shift]
    return tf.ensure_shape(padded[max_shift - shift:max_shift - shift + n], [n])


def change_speed(waveform, factor):
    """tf ops: ONE waveform [samples] played `factor` times faster (tempo and pitch together, as
    Kaldi's speed perturbation), by linear interpolation, centred in the same number of samples."""
    n = waveform.shape[-1]
    length = tf.maximum(tf.cast(tf.round(n / factor), tf.int32), 1)
    image = waveform[None, :, None, None]  # [1, samples, 1, 1]: a one-pixel-wide image
    resampled = tf.image.resize(image, tf.stack([length, 1]), method="bilinear")
    return fix_length(resampled[0, :, 0, 0], n)


def random_speed(waveform, max_change, seed):
    """tf ops: ONE waveform at a seeded random speed in [1 - max_change, 1 + max_change].

    Training-only augmentation: speakers differ in speaking rate and vocal tract length, and a
    +-10% speed change imitates both (Ko et al. 2015, "Audio augmentation for speech recognition").
    """
    factor = tf.random.stateless_uniform([], seed, 1.0 - max_change, 1.0 + max_change)
    return change_speed(waveform, factor)


def random_end_trim(waveform, max_fraction, seed):
    """tf ops: silence the last part (a seeded random fraction in [0, max_fraction]) of the word
    in ONE clip [samples]; the word is the span from its first to its last non-zero sample.

    Training-only augmentation: recordings trimmed tightly, or a speaker who swallows a final
    stop, lose a word's last sounds (FSDD's held-out "eight"s of one speaker have no final /t/,
    his training ones do).
    """
    n = waveform.shape[-1]
    index = tf.range(n)
    voiced = tf.not_equal(waveform, 0.0)
    first = tf.reduce_min(tf.where(voiced, index, n))
    last = tf.reduce_max(tf.where(voiced, index + 1, 0))  # 0 for an all-zero clip: nothing to trim
    fraction = tf.random.stateless_uniform([], seed, 0.0, max_fraction)
    cut = last - tf.cast(fraction * tf.cast(tf.maximum(last - first, 0), tf.float32), tf.int32)
    return tf.where(index < cut, waveform, tf.zeros_like(waveform))


def fix_length(waveform, num_samples):
    """tf ops: centre waveforms [..., samples] in `num_samples` (crop the middle or zero-pad both
    sides), the rule `datasets.formats.audio.fix_length` applies to files. Output [..., num_samples]."""
    waveform = tf.convert_to_tensor(waveform)
    n = tf.shape(waveform)[-1]
    start = tf.maximum(n - num_samples, 0) // 2
    cropped = waveform[..., start:start + num_samples]
    kept = tf.shape(cropped)[-1]
    left = (num_samples - kept) // 2
    rank = len(waveform.shape)
    paddings = [[0, 0]] * (rank - 1) + [[left, num_samples - kept - left]]
    fixed = tf.pad(cropped, paddings)
    # set_shape, not tf.ensure_shape: the length is num_samples by construction, and EnsureShape
    # is no LiteRT builtin (the exported file would need TensorFlow's Flex kernels)
    fixed.set_shape(waveform.shape[:-1] + [num_samples])
    return fixed


@keras.saving.register_keras_serializable(package="cnn_suite")
class FixLength(keras.layers.Layer):
    """[batch, any samples] -> [batch, num_samples]: the static length the convolutions need."""

    def __init__(self, num_samples, **kwargs):
        super().__init__(**kwargs)
        self.num_samples = int(num_samples)

    def call(self, waveform):
        return fix_length(tf.cast(waveform, tf.float32), self.num_samples)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_samples)

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples}
