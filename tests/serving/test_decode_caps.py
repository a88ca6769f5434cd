"""Decoding is bounded inside the exported graph too (issue 18): an encoded file sent to a
`*_bytes` signature whose header claims more pixels (or whose bytes hold more samples) than
the caps is an InvalidArgument error before anything is decoded, with core TensorFlow ops only.
Checked through the SavedModels, loaded in one process without the project (as TF Serving
would load them), which also measures the memory each request took."""
import io
import json
import struct
import zlib

import numpy as np
import pytest
import soundfile
from PIL import Image

from datasets.formats import audio as audio_format, images as image_format
from factories import make_pipeline
from fixed_models import dense_waveform_model, mean_pixel_classifier
from isolated import run_without_project
from serving import export

FORMATS = ("PNG", "JPEG", "GIF", "BMP")


def png_bomb(width, height):
    """A valid RGB PNG of zeros: some hundred KB claiming width x height pixels."""
    packer, row = zlib.compressobj(9), b"\x00" * (1 + 3 * width)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def encoded(kind, width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 200)).save(buffer, kind)
    return buffer.getvalue()


def top_down_bmp(width, height):
    bmp = bytearray(encoded("BMP", width, height))
    bmp[22:26] = struct.pack("<i", -height)  # a negative height: rows stored top-down
    return bytes(bmp)


def wav(samples):
    buffer = io.BytesIO()
    soundfile.write(buffer, np.full(samples, 0.25, np.float32), 8000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


CALL = """
import json, resource
import tensorflow as tf
answers, loaded = {}, {}
for name, (path, signature, payload) in json.load(open("requests.json")).items():
    loaded[path] = loaded.get(path) or tf.saved_model.load(path)
    function = loaded[path].signatures[signature]
    data = open(payload, "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        outputs = function(**{signature: tf.constant([data])})
        answer = {"probabilities": outputs["probabilities"].numpy().tolist()}
    except tf.errors.InvalidArgumentError as error:
        lines = [line for line in error.message.splitlines() if "assertion failed" in line]
        answer = {"error": (lines or [error.message])[0]}
    answer["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    answers[name] = answer
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """{request name: the export's answer}: digits exports of a fixed-weight model with the real
    pixel cap and with a cap of 1,000 pixels (small files of every format cross it), an audio
    export with a cap of 4,000 samples (caps are baked into the graph at export)."""
    root = tmp_path_factory.mktemp("decode-caps")
    digits = make_pipeline("digits", "image_size=8")
    real = export.export(mean_pixel_classifier(), digits, [str(d) for d in range(10)], root, name="real")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(image_format, "MAX_PIXELS", 1000)
        small = export.export(mean_pixel_classifier(), digits, [str(d) for d in range(10)], root, name="small")
        patch.setattr(audio_format, "MAX_SAMPLES", 4000)
        audio = make_pipeline("audio", "sample_rate=8000", "clip_seconds=0.25")
        sound = export.export(dense_waveform_model(2000, 12), audio, [str(k) for k in range(12)], root, name="audio")
    requests = {
        "bomb": (real, "image_bytes", png_bomb(16384, 16384)),  # 768 MiB of pixels in < 1 MB
        "fine": (real, "image_bytes", encoded("PNG", 40, 30)),
        "top-down BMP": (small, "image_bytes", top_down_bmp(40, 26)),
        "wav within": (sound, "waveform_bytes", wav(3900)),
        "wav over": (sound, "waveform_bytes", wav(4100)),
    }
    for kind in FORMATS:  # 1,000 pixels is the cap itself
        requests[f"{kind} within"] = (small, "image_bytes", encoded(kind, 40, 25))
        requests[f"{kind} over"] = (small, "image_bytes", encoded(kind, 40, 26))
    listed = {}
    for index, (name, (path, signature, payload)) in enumerate(requests.items()):
        (root / f"payload-{index}").write_bytes(payload)
        listed[name] = (str(path), signature, str(root / f"payload-{index}"))
    (root / "requests.json").write_text(json.dumps(listed))
    assert len(requests["bomb"][2]) < 1_000_000
    done = run_without_project(CALL, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_png_bomb_is_refused_before_it_is_decoded(answers):
    refused = answers["bomb"]
    assert refused["error"] == ("assertion failed: [image_bytes: the header claims more than the 67108864 "
                                "pixels allowed (a decompression bomb?); width, height:] [16384] [16384]"), refused
    assert refused["grew_mb"] < 100  # the 256 MiB grey image was never allocated
    assert np.isclose(sum(answers["fine"]["probabilities"][0]), 1.0)


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_is_capped_by_its_header(answers, kind):
    assert "error" not in answers[f"{kind} within"], answers[f"{kind} within"]
    over = answers[f"{kind} over"]
    assert "claims more than the 1000 pixels allowed" in over["error"] and "[40] [26]" in over["error"], over


def test_a_bmp_stored_top_down_is_capped_too(answers):
    assert "[40] [26]" in answers["top-down BMP"]["error"], answers["top-down BMP"]


def test_wav_samples_are_capped_in_the_graph(answers):
    assert "error" not in answers["wav within"], answers["wav within"]
    assert answers["wav over"]["error"].startswith(
        "assertion failed: [waveform_bytes: a WAV of more than 4000 samples is refused; bytes // 2:] [4"), answers
