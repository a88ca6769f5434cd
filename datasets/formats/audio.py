"""Audio sources for the `audio` pipeline: files, folders, manifests, TFDS -> fixed-length waveforms.

Why decode up front, in Python: the files users have come at any sample rate, bit depth and
channel count. 16-bit PCM WAV is decoded with `tf.audio.decode_wav` (the same op the exported
`audio_bytes` signature uses); anything else (24-bit, float, FLAC, OGG, ...) goes through
librosa, and every clip is resampled to the pipeline's rate with librosa (soxr) and mixed down
to mono. Decoding everything before training also means a bad file is reported by name before
any step runs, and nothing is silently dropped.

Bad clips (decided here, documented in the README):
- an empty file, or a file that is not audio -> ValueError naming the file;
- a zero-length clip (a valid header with no samples) -> ValueError naming the file;
- a silent clip (every sample exactly 0) -> ValueError naming the file: it carries no
  information about its label and usually means a broken recording. (At serving time a silent
  or empty waveform is not an error: the model answers with finite probabilities.)

Length: every clip is centred in a window of `num_samples` (zero padding on both sides, or
the centre cropped out), the same rule the exported model applies to served waveforms
(`pipelines.audio.features.fix_length`).
"""
from __future__ import annotations

import concurrent.futures
import io
import os
import pathlib
import re
import struct

import numpy as np

from datasets import folders, labels as class_labels, manifests

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
# Decoding is bounded: a file whose header claims more samples (all channels) than this is refused
# before it is decoded (2**27 float32 samples: 512 MB, 23 minutes of 48 kHz stereo).
MAX_SAMPLES = 2**27
_PCM, _EXTENSIBLE = 1, 0xFFFE
_PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def wav_format(data: bytes):
    """(format_tag, channels, sample_rate, bits) of a RIFF/WAVE header, or None if not WAV."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        if chunk == b"fmt " and offset + 24 <= len(data):
            tag, channels, rate = struct.unpack("<HHI", data[offset + 8:offset + 16])
            bits = struct.unpack("<H", data[offset + 22:offset + 24])[0]
            if tag == _EXTENSIBLE and size >= 40 and offset + 8 + 40 <= len(data):
                sub = data[offset + 8 + 24:offset + 8 + 40]
                tag = struct.unpack("<H", sub[:2])[0] if sub[2:] == _PCM_GUID_TAIL else tag
            return tag, channels, rate, bits
        offset += 8 + size + (size & 1)
    return None


def is_pcm16_wav(data: bytes) -> bool:
    """True for the WAV files `tf.audio.decode_wav` reads: 16-bit integer PCM."""
    header = wav_format(data)
    return header is not None and header[0] == _PCM and header[3] == 16


def check_wav_size(data, what="waveform_bytes"):
    """tf ops (core only): an assertion that WAV bytes hold at most MAX_SAMPLES samples, the rule
    applied when files are read (bytes // 2), to run before `tf.audio.decode_wav` (which refuses
    a header claiming more data than the bytes hold, so the bytes bound what it allocates)."""
    import tensorflow as tf

    samples = tf.cast(tf.strings.length(data), tf.int64) // 2
    return tf.debugging.Assert(
        samples <= MAX_SAMPLES, [f"{what}: a WAV of more than {MAX_SAMPLES} samples is refused; bytes // 2:", samples])


WAV_HEADER_BYTES = 44  # RIFF/WAVE, a 16-byte PCM "fmt " chunk and the "data" chunk's header


def check_wav_header(data, what="waveform_bytes"):
    """tf ops (core only): an assertion that bytes begin as a WAV file does (RIFF....WAVE and a
    whole header), so that anything else is refused in words a client understands, where
    `tf.audio.decode_wav` would say "Data too short when trying to read string"."""
    import tensorflow as tf

    padded = tf.strings.join([data, "\0" * 12])  # substr needs the positions to exist
    is_wav = tf.logical_and(
        tf.logical_and(tf.equal(tf.strings.substr(padded, 0, 4), "RIFF"), tf.equal(tf.strings.substr(padded, 8, 4), "WAVE")),
        tf.strings.length(data) >= WAV_HEADER_BYTES)
    return tf.debugging.Assert(is_wav, [
        f"{what}: not a WAV file (a 16-bit PCM WAV begins with a {WAV_HEADER_BYTES}-byte RIFF/WAVE header); "
        "bytes:", tf.strings.length(data)])


def fix_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """Centre a 1-D clip in `num_samples`: zero-pad both sides or crop the middle."""
    n = len(waveform)
    if n >= num_samples:
        start = (n - num_samples) // 2
        return waveform[start:start + num_samples]
    left = (num_samples - n) // 2
    return np.pad(waveform, (left, num_samples - n - left))


def _decode(path: str, data: bytes):
    """(mono float32 waveform, sample_rate) from the file's bytes; ValueError naming `path`."""
    if not data:
        raise ValueError(f"{path}: empty file (0 bytes), not an audio file")
    if is_pcm16_wav(data):
        if len(data) // 2 > MAX_SAMPLES:
            raise ValueError(f"{path}: about {len(data) // 2} samples, more than the {MAX_SAMPLES} allowed")
        import tensorflow as tf

        try:
            audio, rate = tf.audio.decode_wav(data)  # [samples, channels] float32 in [-1, 1)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"{path}: unreadable WAV ({error.message.splitlines()[0]})") from None
        return audio.numpy().mean(axis=1), int(rate)
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001  (not a soundfile format: librosa below, bounded by its bytes)
        info = None
    if info is not None and info.frames * max(info.channels, 1) > MAX_SAMPLES:
        raise ValueError(f"{path}: the header claims {info.frames} frames x {info.channels} channels, "
                         f"more than the {MAX_SAMPLES} samples allowed")
    try:
        audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001  (soundfile raises several types; fall back to librosa/audioread)
        import warnings

        import librosa

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                audio, rate = librosa.load(path, sr=None, mono=False)
        except Exception as error:  # noqa: BLE001
            raise ValueError(f"{path}: not a readable audio file ({type(error).__name__})") from None
        audio = np.atleast_2d(audio).T  # librosa: [channels, samples] -> [samples, channels]
    return np.asarray(audio, np.float32).mean(axis=1), int(rate)


def load_clip(path, sample_rate: int, num_samples: int | None = None) -> np.ndarray:
    """One file as mono float32 at `sample_rate` (and fixed length if `num_samples`)."""
    path = str(path)
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    waveform, rate = _decode(path, data)
    if waveform.size == 0:
        raise ValueError(f"{path}: zero-length clip (no samples)")
    if not np.any(waveform):
        raise ValueError(f"{path}: silent clip (every sample is 0)")
    if rate != sample_rate:
        import librosa

        waveform = librosa.resample(waveform, orig_sr=rate, target_sr=sample_rate)
    waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32)
    return fix_length(waveform, num_samples) if num_samples else waveform


def load_clips(paths, sample_rate, num_samples, workers=None) -> np.ndarray:
    """(N, num_samples) float32 from N files, decoded in parallel; the first bad file raises."""
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if not paths:
        return np.zeros((0, num_samples), np.float32)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        clips = list(pool.map(lambda p: load_clip(p, sample_rate, num_samples), paths))
    return np.stack(clips)


# ------------------------------------------------------------------------- labels from names
def compile_pattern(pattern: str, what="label_pattern"):
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{what} {pattern!r}: not a valid regular expression ({error})") from None


def labels_from_names(paths, pattern: str, origin: str):
    """Label strings from file names: group 1 of `pattern` (or the whole match) per file.

    Raises ValueError when the pattern matches no file, or names the first file it misses
    (an example is never dropped silently).
    """
    regex = compile_pattern(pattern)
    labels, missed = [], []
    for path in paths:
        match = regex.search(os.path.basename(path))
        if match is None:
            missed.append(path)
            continue
        labels.append(match.group(1) if regex.groups else match.group(0))
    if len(missed) == len(paths):
        example = os.path.basename(paths[0]) if paths else "no files"
        raise ValueError(
            f"{origin}: label_pattern {pattern!r} matches none of the {len(paths)} file names "
            f"(e.g. {example})"
        )
    if missed:
        raise ValueError(
            f"{missed[0]}: file name does not match label_pattern {pattern!r} "
            f"({len(missed)} of {len(paths)} files do not)"
        )
    return labels


def audio_files(folder, extensions=AUDIO_EXTENSIONS):
    """Audio files directly in `folder`, sorted."""
    return sorted(
        str(p) for p in pathlib.Path(folder).iterdir()
        if p.is_file() and p.suffix.lower() in extensions
    )


# ------------------------------------------------------------------------- SourceData
def move_matching(named, pattern, to="test"):
    """Move files whose name matches `pattern` from the training split into split `to`.

    For sources without a given split, e.g. FSDD, where '_[5-9]\\.wav$' holds out takes 5-9.
    """
    regex = compile_pattern(pattern, "test_pattern")
    base = "train" if "train" in named else "all"
    paths, labels, origin = named[base]
    chosen = [i for i, p in enumerate(paths) if regex.search(os.path.basename(p))]
    if not chosen:
        raise ValueError(f"{origin}: test_pattern {pattern!r} matches none of the {len(paths)} file names")
    if len(chosen) == len(paths):
        raise ValueError(f"{origin}: test_pattern {pattern!r} matches every file; nothing left to train on")
    if to in named:
        raise ValueError(f"{origin}: test_pattern given but the source already has a '{to}' split")
    keep = sorted(set(range(len(paths))) - set(chosen))
    named = dict(named)
    named["train"] = ([paths[i] for i in keep], [labels[i] for i in keep], f"{origin} (train)")
    named[to] = ([paths[i] for i in chosen], [labels[i] for i in chosen], f"{origin} ({pattern})")
    named.pop("all", None)
    return named


def local_files(path, *, label_pattern="", path_column="path", label_column="label",
                extensions=AUDIO_EXTENSIONS):
    """{split: (paths, label strings, origin)} for a local SOURCE path (folder or CSV manifest).

    - a CSV manifest with named columns (and an optional `split` column: train/val/test);
    - a flat folder of audio files whose labels come from `label_pattern` (FSDD naming);
    - a folder of `train/`, `test/` (optionally `val/`) class folders;
    - a folder of class folders.
    The layout is recognised per folder: `label_pattern` names the labels of loose files only, so
    a model trained on a flat folder is evaluated on class folders as they are.
    """
    path = pathlib.Path(path)
    if path.is_file():
        if path.suffix.lower() not in (".csv", ".tsv"):
            raise ValueError(f"{path}: expected a folder or a CSV manifest")
        return manifests.read_file_manifest(
            path, path_column, label_column,
            column_hint="; choose with --set path_column=... label_column=...")
    loose = audio_files(path, extensions)
    if label_pattern and loose:
        return {"all": (loose, labels_from_names(loose, label_pattern, str(path)), str(path))}
    if loose:
        raise ValueError(
            f"{path}: audio files directly in the folder (e.g. {os.path.basename(loose[0])}); "
            f"give their labels with --set label_pattern='^(\\d+)_' or use one folder per class"
        )
    if folders.is_split_folder(path):
        return {split: (*folders.class_folder_files(path / split, extensions), str(path / split))
                for split in folders.SPLITS if (path / split).is_dir()}
    return {"all": (*folders.class_folder_files(path, extensions), str(path))}


def decode_splits(named, sample_rate, num_samples, description):
    """SourceData of in-memory (N, num_samples) waveforms from {split: (paths, labels, origin)}."""
    from datasets.examples import ArrayExamples, SourceData

    class_names, indices = class_labels.index_splits(named)
    splits = {split: ArrayExamples(labels=indices[split], origin=origin, files=list(paths),
                                   inputs=load_clips(paths, sample_rate, num_samples))
              for split, (paths, _, origin) in named.items()}
    counts = ", ".join(f"{len(e)} {name}" for name, e in splits.items())
    return SourceData(splits, class_names,
                      f"{description}: {counts} clips at {sample_rate} Hz, {len(class_names)} classes")


# ------------------------------------------------------------------------------- TFDS
def tfds_source(name, data_dir, sample_rate, num_samples):
    """`tfds:NAME` for audio (spoken_digit, speech_commands): SourceData at `sample_rate`.

    Read with the framework's offline-safe loader. When the set is recorded at the pipeline's
    rate (speech_commands: 16 kHz) it streams as it is (the pipeline's `conform` scales the
    int16-range integers and fixes the length in tf.data); otherwise (spoken_digit: 8 kHz) every
    clip is resampled with librosa and held in memory.
    """
    import tensorflow_datasets as tfds

    from datasets.formats import tfds as framework_tfds
    from datasets.examples import ArrayExamples, SourceData

    data = framework_tfds.load(name, data_dir=data_dir)
    builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    feature = builder.info.features[builder.info.supervised_keys[0]]
    rate = getattr(feature, "sample_rate", None)
    if rate is None:
        raise ValueError(f"tfds:{name}: its input '{builder.info.supervised_keys[0]}' is not audio")
    if int(rate) == sample_rate:
        return data
    import librosa

    import tensorflow as tf

    scale = 1.0 / 32768.0 if tf.as_dtype(feature.tf_dtype).is_integer else 1.0  # int16-range PCM
    splits = {}
    for split, examples in data.splits.items():
        clips = []
        for index, (audio, _) in enumerate(examples.dataset().as_numpy_iterator()):
            waveform = np.asarray(audio, np.float32).reshape(len(audio), -1).mean(axis=1) * scale
            if waveform.size == 0 or not np.any(waveform):
                raise ValueError(f"{examples.origin} example {index}: "
                                 f"{'zero-length' if waveform.size == 0 else 'silent'} clip")
            waveform = librosa.resample(waveform, orig_sr=int(rate), target_sr=sample_rate)
            clips.append(fix_length(np.clip(waveform, -1, 1), num_samples))
        splits[split] = ArrayExamples(labels=examples.labels, origin=examples.origin,
                                      inputs=np.stack(clips).astype(np.float32))
    return SourceData(splits, data.class_names,
                      f"{data.description} (resampled {int(rate)} -> {sample_rate} Hz)")
