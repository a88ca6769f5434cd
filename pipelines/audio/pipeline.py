"""`audio`: spoken words and digits (and DTMF tones) from raw waveforms.

Served model: waveform [batch, samples] float32 (any length; centred in `clip_seconds`) ->
log-mel (tf.signal + librosa's filter bank, matching librosa within 0.01 dB) -> per-example
standardisation -> [SpecAugment in training] -> conv1d/conv2d from our layers -> softmax.
A second signature takes `audio_bytes`: a 16-bit PCM WAV file at the model's sample rate,
decoded in the graph by `tf.audio.decode_wav` (TF Serving's REST API base64-decodes
`{"b64": ...}` itself). A WAV at another rate is answered with an InvalidArgument error that
says the rate to use.

Sources: `bundled` (generated DTMF tones, datasets/synthetic/dtmf.py), `tfds:spoken_digit`,
`tfds:speech_commands`, folders of class folders (or train/test[/val] of them), a flat folder
with `--set label_pattern='^(\\d+)_'`, CSV manifests (`--set path_column=... label_column=...`,
optional `split` column). Local files are decoded up front (datasets/formats/audio.py): any format
librosa reads, resampled to `sample_rate`, mixed down to mono; bad files stop the run by name.
"""
from __future__ import annotations

import dataclasses

import numpy as np

import networks
from pipelines import register
from pipelines.core.base import Pipeline
from pipelines.core.config import BaseConfig
from pipelines.core.search_space import Between, Choice
from pipelines.core.settings import fraction, own_check, positive


SILENCE_DB = 60.0  # below the peak: silence, for the fingerprint (librosa.effects.trim's top_db)


@dataclasses.dataclass
class AudioConfig(networks.ChosenNetwork, BaseConfig):
    NETWORKS = networks.Choice("audio", ("audio",))

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    # 10% held out for validation curves and best.keras: no measurable cost on FSDD or the bundled
    # tones (docs/BENCHMARKS.md, "Validation by default")
    validation_fraction: float = 0.1
    network: str = "conv1d"  # conv1d (time x mel-channels) or conv2d (time x mel image)
    width: int = positive(64)  # channels of the first block; doubles per block
    dropout: float = fraction(0.3)
    # Signal and features (defaults: 16 kHz, 1 s, 32 ms windows, 10 ms hop, 64 Slaney mels).
    sample_rate: int = positive(16000)
    clip_seconds: float = positive(1.0)
    n_fft: int = positive(512)
    hop_length: int = positive(160)
    n_mels: int = positive(64)
    fmin: float = 0.0
    fmax: float = 0.0  # 0: sample_rate / 2 (librosa's default)
    top_db: float = 80.0  # per example; 0 disables
    # Training-only augmentation.
    time_shift_seconds: float = 0.1
    speed_change: float = own_check(0.0)  # random speed (tempo and pitch) within +-this fraction, e.g. 0.1
    end_trim: float = own_check(0.0)  # silence a random part, up to this fraction, of each word's end, e.g. 0.3
    time_masks: int = 2
    time_mask_frames: int = 10
    freq_masks: int = 2
    freq_mask_bins: int = 8
    # Sources.
    label_pattern: str = ""  # flat folder: regex on file names, group 1 is the label
    test_pattern: str = ""  # files whose name matches form the test split (FSDD: '_[5-9]\.wav$')
    path_column: str = "path"  # CSV manifests
    label_column: str = "label"
    bundled_per_class: int = positive(100)  # DTMF clips per key for training (a third of that for test)

    @property
    def num_samples(self):
        return int(round(self.clip_seconds * self.sample_rate))


@register
class Audio(Pipeline):
    name = "audio"
    summary = "spoken words/digits and DTMF tones from raw waveforms (log-mel in the model, 1D CNN)"
    sources = ("bundled (DTMF tones), tfds:spoken_digit, tfds:speech_commands, class folders of "
               "audio files, a flat folder with --set label_pattern=REGEX, CSV manifests")
    Config = AudioConfig
    search_space = (Between("learning_rate", 5e-4, 5e-3, log=True), Choice("batch_size", (16, 32, 64)),
                    Between("dropout", 0.1, 0.5, step=0.1), Choice("width", (32, 64, 96)))
    input_name = "waveform"
    source_options = ("label_pattern", "test_pattern", "path_column", "label_column")
    file_extensions = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
    networks = networks.ChoiceNames()
    keras_modules = ("pipelines.audio.features",)
    explain_layer = "log_mel"  # maps over the log-mel spectrogram (frames, mels)
    explain_channels = False
    predict_reads_like_training = True  # an 8 kHz or stereo WAV is resampled and mixed down (librosa)

    def __init__(self, config=None):
        super().__init__(config)
        if not 0 <= self.config.speed_change < 1:
            raise ValueError(f"speed_change must be in [0, 1), got {self.config.speed_change}")
        if not 0 <= self.config.end_trim < 1:
            raise ValueError(f"end_trim must be in [0, 1), got {self.config.end_trim}")

    # ------------------------------------------------------------------ data
    def bundled(self):
        from datasets.synthetic import dtmf
        from datasets.examples import ArrayExamples, SourceData

        c = self.config
        n = max(1, c.bundled_per_class)
        train = dtmf.generate(n, seed=1000 + c.seed, sample_rate=c.sample_rate, num_samples=c.num_samples)
        test = dtmf.generate(max(1, n // 3), seed=2000 + c.seed, sample_rate=c.sample_rate,
                             num_samples=c.num_samples)
        splits = {
            "train": ArrayExamples(labels=train[1], origin="bundled DTMF (train)", inputs=train[0]),
            "test": ArrayExamples(labels=test[1], origin="bundled DTMF (test)", inputs=test[0]),
        }
        return SourceData(splits, list(dtmf.CLASS_NAMES),
                          f"bundled DTMF tones: {len(train[1])} train, {len(test[1])} test clips "
                          f"at {c.sample_rate} Hz, 12 keys")

    def read_source(self, source, data_dir=None):
        """`tfds:NAME` recorded at another sample rate is resampled here (librosa)."""
        if not source.startswith("tfds:"):
            return None
        from datasets.formats import audio

        c = self.config
        return audio.tfds_source(source[len("tfds:"):], data_dir, c.sample_rate, c.num_samples)

    def read_path(self, path):
        """Every local audio source: decoded (and resampled) up front into memory."""
        from datasets.formats import audio

        c = self.config
        named = audio.local_files(path, label_pattern=c.label_pattern, path_column=c.path_column,
                                  label_column=c.label_column, extensions=self.file_extensions)
        if c.test_pattern:
            named = audio.move_matching(named, c.test_pattern)
        return audio.decode_splits(named, c.sample_rate, c.num_samples, str(path))

    def check_file(self, path):
        from datasets.formats import audio

        audio.load_clip(path, self.config.sample_rate)

    def decode_file(self, path):
        import tensorflow as tf

        return self._decode_wav(tf.io.read_file(path))

    def fingerprint_example(self, example, measurements):
        """Duration and channels of a clip as read (at `sample_rate`), and its leading and
        trailing silence: samples quieter than `SILENCE_DB` below the clip's peak, as
        librosa.effects.trim's default (top_db=60) counts them."""
        clip = np.asarray(example, np.float64)
        channels = 1 if clip.ndim == 1 else clip.shape[-1]
        level = np.abs(clip if clip.ndim == 1 else clip.mean(axis=-1))
        rate = self.config.sample_rate
        measurements.numbers("duration_seconds", len(level) / rate)
        measurements.category("channels", channels)
        loud = np.flatnonzero(level > level.max() * 10 ** (-SILENCE_DB / 20)) if level.max() > 0 else []
        lead, trail = (loud[0], len(level) - 1 - loud[-1]) if len(loud) else (len(level), 0)
        measurements.numbers("leading_silence_seconds", lead / rate)
        measurements.numbers("trailing_silence_seconds", trail / rate)

    def fingerprint_file(self, path, measurements):
        """The file's own sample rate, duration and channels (its header): reading resamples it
        to `sample_rate`, fits it to `clip_seconds` and mixes it down to mono."""
        import soundfile

        try:
            info = soundfile.info(path)
        except Exception:  # noqa: BLE001  (not a libsndfile format, e.g. some MP3: audioread, no channels)
            import librosa

            rate, duration, channels = librosa.get_samplerate(path), librosa.get_duration(path=path), None
        else:
            rate, duration, channels = info.samplerate, info.duration, info.channels
        measurements.category("file_sample_rate", int(rate))
        measurements.numbers("file_duration_seconds", duration)
        if channels is not None:
            measurements.category("file_channels", int(channels))

    def conform(self, x):
        """Any source's clip (float, or int16-range integers from TFDS) -> [num_samples] float32."""
        from pipelines.audio.features import fix_length

        return fix_length(self.as_held(x), self.config.num_samples)

    def as_held(self, x):
        """Any source's clip -> [samples] float32 at its own length (the model fixes the length)."""
        import tensorflow as tf

        if x.dtype.is_integer:
            x = tf.cast(x, tf.float32) / 32768.0
        return tf.cast(x, tf.float32)

    def augment(self, x, seed):
        from pipelines.audio.features import random_end_trim, random_speed, random_time_shift

        c = self.config
        if c.end_trim > 0:
            x = random_end_trim(x, c.end_trim, seed + 5)
        if c.speed_change > 0:
            x = random_speed(x, c.speed_change, seed + 3)
        shift = int(c.time_shift_seconds * c.sample_rate)
        return random_time_shift(x, shift, seed) if shift > 0 else x

    # ----------------------------------------------------------------- model
    def input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec([None], tf.float32)  # any length: centred in clip_seconds

    def preprocess(self, x):
        from pipelines.audio import features as f

        c = self.config
        x = f.FixLength(c.num_samples, name="fix_length")(x)  # [B, num_samples]
        x = f.LogMelSpectrogram(
            sample_rate=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length, n_mels=c.n_mels,
            fmin=c.fmin, fmax=c.fmax or None, top_db=c.top_db or None, name="log_mel",
        )(x)  # [B, frames, n_mels]
        x = f.PerExampleStandardize(name="standardize")(x)
        return f.SpecAugment(c.time_masks, c.time_mask_frames, c.freq_masks, c.freq_mask_bins,
                             name="spec_augment")(x)

    def network(self, x, num_classes):
        c = self.config
        return networks.create(c.network, x, num_classes=num_classes, width=c.width, dropout=c.dropout)

    def optimizer(self, steps_per_epoch):
        import keras

        c = self.config
        schedule = keras.optimizers.schedules.CosineDecay(
            c.learning_rate, decay_steps=max(1, c.epochs * steps_per_epoch), alpha=0.01)
        return keras.optimizers.Adam(schedule)

    # --------------------------------------------------------------- serving
    def decode_bytes(self, data):
        """A WAV file (scalar string) -> [num_samples] float32, in the graph."""
        from pipelines.audio.features import fix_length

        return fix_length(self._decode_wav(data), self.config.num_samples)

    def encode_bytes(self, example):
        """[samples] float -> 16-bit PCM WAV bytes at the model's sample rate."""
        import tensorflow as tf

        clip = tf.clip_by_value(tf.convert_to_tensor(example, tf.float32), -1.0, 1.0)
        return tf.audio.encode_wav(clip[:, None], self.config.sample_rate).numpy()

    def input_range(self):
        """Waveform amplitude: attacks' epsilon is in [-1, 1] sample units."""
        return -1.0, 1.0

    input_step = 2.0**-15  # 16-bit PCM (tf.audio.encode_wav scales by 2**15 and rounds)

    def write_example(self, example, stem):
        """A 16-bit PCM WAV at the model's sample rate."""
        from pipelines.core import files

        data = self.encode_bytes(example)
        return files.atomic_write(f"{stem}.wav", lambda temporary: temporary.write_bytes(data))

    def read_file(self, path):
        from datasets.formats import audio

        return audio.load_clip(path, self.config.sample_rate, self.config.num_samples)

    def _decode_wav(self, data):
        """tf ops: 16-bit PCM WAV bytes -> mono [samples]; another sample rate is an error."""
        import tensorflow as tf

        from datasets.formats.audio import check_wav_header, check_wav_size

        with tf.control_dependencies([check_wav_header(data), check_wav_size(data)]):  # checked before decoding
            audio, rate = tf.audio.decode_wav(data)  # [samples, channels], scalar int32
        check = tf.debugging.assert_equal(
            rate, self.config.sample_rate,
            message=f"audio_bytes: the WAV must be sampled at {self.config.sample_rate} Hz "
                    f"(16-bit PCM); resample it first",
        )
        with tf.control_dependencies([check]):
            return tf.reduce_mean(audio, axis=-1)  # stereo -> mono

    # ---------------------------------------------------------- explanations
    def log_mel(self, waveform):
        """(frames, n_mels) log-mel of one clip, by the model's own front-end layer."""
        import numpy as np

        from pipelines.audio import features as f

        c = self.config
        layer = f.LogMelSpectrogram(sample_rate=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length,
                                    n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax or None, top_db=c.top_db or None)
        return np.asarray(layer(np.asarray(waveform, np.float32)[None]))[0]

    def render_explanation(self, path, example, context, maps, prefix, model=None):
        """Per class: the map over the log-mel spectrogram (time x mel) as a PNG and .npy, the
        importance per frame (`_frames.npy`) and per sample (`_samples.npy`, the waveform's
        resolution). A map over the waveform (from an export's signature) is summed into the
        frames it falls in and drawn as a band over the spectrogram."""
        import numpy as np

        from pipelines.core import render

        c = self.config
        log_mel = self.log_mel(example)  # (T, M)
        centres = np.arange(log_mel.shape[0]) * c.hop_length  # librosa center=True: frame i is centred here
        rendering = render.Rendering()
        for label, map_ in maps.items():
            map_ = np.asarray(map_, np.float32)
            if map_.ndim == 1:  # (samples,): gradients with respect to the waveform
                half = c.hop_length // 2
                per_frame = np.array([map_[max(0, i - half):i + half].sum() for i in centres], np.float32)
                map_ = np.repeat(per_frame[:, None] / log_mel.shape[1], log_mel.shape[1], axis=1)
            stem = f"{prefix}_{render.safe_name(label)}"
            per_frame = map_.sum(axis=1)
            per_sample = np.interp(np.arange(len(example)), centres, per_frame)
            rendering.files += [render.save_npy(f"{stem}.npy", map_),
                                render.save_npy(f"{stem}_frames.npy", per_frame),
                                render.save_npy(f"{stem}_samples.npy", per_sample),
                                render.spectrogram_png(f"{stem}.png", log_mel, map_, f"{path}: {label}")]
        return rendering
