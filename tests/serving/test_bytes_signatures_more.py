"""README promises (issue 19) that tests/serving/test_image_bytes.py leaves out: the ensemble
export's `image_bytes` takes JPEG, GIF and BMP files at sizes other than the training size and
answers as `serving_default` and as the mean of its members do for the same pixels; `waveform_bytes`
mixes a stereo WAV down to the mean of its channels, answers a WAV with no samples as silence
(finite probabilities, as the README promises for empty input at serving time) and refuses bytes
that are no WAV with an InvalidArgument error, after which the export still answers."""
import io
import wave

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from factories import make_pipeline
from fixed_models import dense_waveform_model, resized_dense_classifier
from serving import export
from serving_exports import assert_core_tensorflow_only


def picture(width, height):
    """A colour picture with structure everywhere (gradients and a bright square)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 255 // (width + height)], -1)
    rgb[height // 4:height // 2, width // 4:width // 2] = 250
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    """(loaded export, members) of an objects ensemble of two fixed-weight colour models, built
    as `cnn ensemble` builds one (pipelines/extensions/ensemble.py: MeanProbabilities)."""
    import keras

    from pipelines.extensions.ensemble import MeanProbabilities

    pipeline = make_pipeline("objects", "image_size=8")
    members = [resized_dense_classifier(8, 3, seed=seed, scale=0.3) for seed in (0, 1)]
    inputs = keras.Input((None, None, 3), name="image")
    model = keras.Model(inputs, MeanProbabilities(members, name="mean_probabilities")(inputs))
    path = export.export(model, pipeline, [str(c) for c in range(10)], tmp_path_factory.mktemp("ensemble"),
                         provenance={"ensemble_of": ["a", "b"]})
    return tf.saved_model.load(str(path)), members


@pytest.mark.parametrize("kind", ["JPEG", "GIF", "BMP"])
@pytest.mark.parametrize("width, height", [(13, 9), (40, 27)])
def test_ensemble_image_bytes_answers_as_serving_default_and_its_members(ensemble, kind, width, height):
    loaded, members = ensemble
    buffer = io.BytesIO()
    picture(width, height).save(buffer, kind, **({"quality": 95} if kind == "JPEG" else {}))
    # The pixels as TensorFlow decodes them (Pillow's JPEG decoder rounds otherwise); GIF and BMP
    # are lossless, so these are the pixels saved, for GIF after its palette.
    pixels = tf.io.decode_image(buffer.getvalue(), channels=3, expand_animations=False).numpy()
    if kind != "JPEG":
        np.testing.assert_array_equal(pixels, np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))
    # Resized as training resizes (datasets/formats/images.py): bilinear to the training size,
    # without antialiasing, rounded to 8 bits.
    resized = np.clip(np.round(tf.image.resize(pixels, (8, 8), antialias=False).numpy()), 0, 255)
    batch = resized[None].astype(np.float32)  # (1, 8, 8, 3)
    from_bytes = loaded.signatures["image_bytes"](image_bytes=tf.constant([buffer.getvalue()]))
    from_pixels = loaded.signatures["serving_default"](image=tf.constant(batch))
    members_mean = np.mean([member.predict(batch, verbose=0) for member in members], axis=0)
    np.testing.assert_allclose(from_pixels["probabilities"].numpy(), members_mean, atol=1e-5)
    np.testing.assert_allclose(from_bytes["probabilities"].numpy(), members_mean, atol=1e-5)
    assert from_bytes["label"].numpy()[0] == str(int(members_mean.argmax())).encode()
    # The picture at its own size through serving_default (the model's Resizing, in floats)
    # differs from the 8-bit resize by rounding only.
    unrounded = loaded.signatures["serving_default"](image=tf.constant(pixels[None].astype(np.float32)))
    np.testing.assert_allclose(from_bytes["probabilities"].numpy(), unrounded["probabilities"].numpy(), atol=5e-3)


# ------------------------------------------------------------------------------ waveform_bytes
SAMPLES = 4000  # clip_seconds=0.25 at 16 kHz


def wav(samples, rate=16000):
    """16-bit PCM WAV bytes of int16 `samples` (N,) mono or (N, channels), written by the
    standard library's wave module (not by the project or TensorFlow)."""
    samples = np.asarray(samples, np.int16)
    samples = samples.reshape(len(samples), samples.shape[1] if samples.ndim == 2 else 1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(samples.shape[1])
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def audio_export(tmp_path_factory):
    pipeline = make_pipeline("audio", "clip_seconds=0.25")
    assert pipeline.config.num_samples == SAMPLES
    path = export.export(dense_waveform_model(SAMPLES, 12, seed=2), pipeline, list("0123456789*#"),
                         tmp_path_factory.mktemp("audio"))
    assert_core_tensorflow_only(path)  # the WAV checks included
    return tf.saved_model.load(str(path))


def by_bytes(loaded, data):
    return loaded.signatures["waveform_bytes"](waveform_bytes=tf.constant([data]))["probabilities"].numpy()


def by_waveform(loaded, waveform):
    return loaded.signatures["serving_default"](waveform=tf.constant(waveform[None], tf.float32))["probabilities"].numpy()


def test_stereo_wav_is_mixed_down_to_the_mean_of_its_channels(audio_export):
    rng = np.random.default_rng(4)
    left, right = rng.integers(-20000, 20000, (2, SAMPLES), np.int16)
    stereo = by_bytes(audio_export, wav(np.stack([left, right], -1)))
    mono_mean = by_waveform(audio_export, (left / 32768 + right / 32768) / 2)
    np.testing.assert_allclose(stereo, mono_mean, atol=1e-5)
    only_left = by_waveform(audio_export, left / 32768)
    assert np.abs(stereo - only_left).max() > 1e-2  # the right channel counts


def test_wav_without_samples_is_answered_as_silence(audio_export):
    empty = by_bytes(audio_export, wav(np.zeros(0, np.int16)))
    assert np.all(np.isfinite(empty)) and empty.sum() == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(empty, by_waveform(audio_export, np.zeros(SAMPLES)), atol=1e-6)


@pytest.mark.parametrize("data", [b"", b"RIFF\x04\x00\x00\x00WAVE", b"not a wav file at all, though long enough to be one"],
                         ids=["no bytes", "a header's start", "text"])
def test_bytes_that_are_no_wav_are_an_invalid_argument_and_the_export_still_answers(audio_export, data):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"waveform_bytes: not a WAV file \(a 16-bit PCM WAV "
                       rf"begins with a 44-byte RIFF/WAVE header\); bytes:\] \[{len(data)}\]"):
        by_bytes(audio_export, data)
    tone = (np.sin(np.arange(SAMPLES) / 5) * 10000).astype(np.int16)
    np.testing.assert_allclose(by_bytes(audio_export, wav(tone)), by_waveform(audio_export, tone / 32768), atol=1e-5)
