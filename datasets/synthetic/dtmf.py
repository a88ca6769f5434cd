"""The audio pipeline's bundled data: telephone keypad (DTMF) tones, generated offline.

Why DTMF: it is a real 12-class audio classification task with a known ground truth (ITU-T
Q.23: each key is the sum of one low-group and one high-group sine), that needs frequency
resolution to solve (697 vs 770 Hz) and that we can generate reproducibly without shipping
any audio. To make it more than a lookup, every clip varies the way real lines do:

- tone duration 40-400 ms (Q.24's minimum is 40 ms) at a random position in the clip;
- level -36 to -3 dBFS and "twist" (high group -6 to +4 dB relative to the low group);
- frequency error up to +-1.8 % per tone (Q.24 tolerates 1.5 %) and random phases;
- noise: white/pink mixtures at 0-30 dB SNR relative to the tone;
- distractors in a third of the clips: a dial tone (350 + 440 Hz) or a single stray tone;
- channel: telephone band-pass (300-3400 Hz, random order), occasional hard clipping and
  8-bit mu-law companding.

Labels are the key names `0`-`9`, `*`, `#`.
"""
from __future__ import annotations

import numpy as np

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0)
CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")


def key_frequencies(key):
    """(low Hz, high Hz) of a keypad key."""
    index = KEYS.index(key)
    return LOW[index // 3], HIGH[index % 3]


def _pink(rng, n):
    """Pink (1/f) noise by shaping white noise in the frequency domain, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _telephone_band(x, sample_rate, rng):
    from scipy import signal

    nyquist = sample_rate / 2
    low, high = 300.0 * rng.uniform(0.8, 1.2), min(3400.0 * rng.uniform(0.9, 1.1), nyquist * 0.95)
    sos = signal.butter(int(rng.integers(2, 5)), [low, high], btype="bandpass", fs=sample_rate,
                        output="sos")
    return signal.sosfilt(sos, x)


def _mu_law(x, mu=255.0):
    """8-bit mu-law companding and expansion (G.711-like quantisation)."""
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantised = np.round(compressed * 127.0) / 127.0
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu


def tone_clip(key, rng, sample_rate=16000, num_samples=16000):
    """One float32 clip [num_samples] in [-1, 1] holding key `key` under random conditions."""
    t = np.arange(num_samples) / sample_rate
    low, high = key_frequencies(key)
    duration = int(rng.uniform(0.04, min(0.4, 0.9 * num_samples / sample_rate)) * sample_rate)
    start = int(rng.integers(0, num_samples - duration + 1))
    envelope = np.zeros(num_samples)
    ramp = max(1, int(0.004 * sample_rate))  # 4 ms raised-cosine edges
    envelope[start:start + duration] = 1.0
    edge = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    envelope[start:start + ramp] *= edge
    envelope[start + duration - ramp:start + duration] *= edge[::-1]

    twist = 10 ** (rng.uniform(-6, 4) / 20)
    tone = (np.sin(2 * np.pi * low * rng.uniform(0.982, 1.018) * t + rng.uniform(0, 2 * np.pi))
            + twist * np.sin(2 * np.pi * high * rng.uniform(0.982, 1.018) * t
                             + rng.uniform(0, 2 * np.pi)))
    tone *= envelope
    tone_rms = np.sqrt(np.mean(tone[start:start + duration] ** 2))

    mix = rng.uniform()
    noise = mix * rng.standard_normal(num_samples) + (1 - mix) * _pink(rng, num_samples)
    noise /= np.sqrt(np.mean(noise**2))
    clip = tone + noise * tone_rms * 10 ** (-rng.uniform(0, 30) / 20)

    distractor = rng.uniform()
    if distractor < 1 / 6:  # dial tone under the whole clip
        clip += 0.3 * tone_rms * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    elif distractor < 1 / 3:  # a stray tone away from the DTMF frequencies
        stray = rng.choice([rng.uniform(200, 600), rng.uniform(1700, 3000)])
        clip += 0.5 * tone_rms * np.sin(2 * np.pi * stray * t)

    if rng.uniform() < 0.7:
        clip = _telephone_band(clip, sample_rate, rng)
    clip *= 10 ** (rng.uniform(-36, -3) / 20) / (np.max(np.abs(clip)) + 1e-12)
    if rng.uniform() < 0.15:  # overdriven line: clip at a fraction of the peak
        limit = np.max(np.abs(clip)) * rng.uniform(0.3, 0.8)
        clip = np.clip(clip, -limit, limit)
    if rng.uniform() < 0.3:
        clip = _mu_law(clip)
    return clip.astype(np.float32)


def generate(count_per_class, seed, sample_rate=16000, num_samples=16000):
    """(waveforms (N, num_samples) float32, labels (N,) int64 into CLASS_NAMES), shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASS_NAMES)), count_per_class)
    rng.shuffle(labels)
    waves = np.stack([tone_clip(CLASS_NAMES[k], rng, sample_rate, num_samples) for k in labels])
    return waves, labels.astype(np.int64)
