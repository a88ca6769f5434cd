"""README promise (issue 19): `image_bytes` takes PNG, JPEG, GIF and BMP files at any size, grey
or colour, and answers as `serving_default` does for the same pixels (decoded here by Pillow),
for the grey (digits) and the colour (objects) pipelines. Fails if the bytes path resized or
converted otherwise than the model's own Resizing (e.g. grey GIF/BMP, refused before the fix)."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from factories import make_pipeline
from fixed_models import resized_dense_classifier
from serving import export

SIZES = [(13, 9), (40, 27), (8, 8)]  # wider, taller and the training size


def picture(width, height):
    """A colour picture with structure everywhere (gradients and a bright square)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 255 // (width + height)], -1)
    rgb[height // 4:height // 2, width // 4:width // 2] = 250
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


@pytest.fixture(scope="module", params=[("digits", 1), ("objects", 3)], ids=["digits", "objects"])
def served(request, tmp_path_factory):
    name, channels = request.param
    pipeline = make_pipeline(name, "image_size=8")
    path = export.export(resized_dense_classifier(8, channels, scale=0.3), pipeline, [str(c) for c in range(10)],
                         tmp_path_factory.mktemp(name))
    return tf.saved_model.load(str(path)), channels


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "BMP"])
@pytest.mark.parametrize("width, height", SIZES)
def test_image_bytes_answers_as_serving_default(served, kind, width, height):
    loaded, channels = served
    buffer = io.BytesIO()
    picture(width, height).save(buffer, kind, **({"quality": 95, "subsampling": 0} if kind == "JPEG" else {}))
    if kind == "JPEG":  # the same JPEG decoder (Pillow's IDCT and chroma upsampling differ)
        pixels = tf.io.decode_jpeg(buffer.getvalue(), channels=channels).numpy()
    else:
        pixels = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L" if channels == 1 else "RGB"))
    pixels = pixels.reshape(height, width, channels).astype(np.float32)
    from_bytes = loaded.signatures["image_bytes"](image_bytes=tf.constant([buffer.getvalue()]))
    from_pixels = loaded.signatures["serving_default"](image=tf.constant(pixels[None]))
    # Colour to grey rounds differently in Pillow and TensorFlow: small weights keep a level's
    # difference small, where each pixel lands still shows.
    np.testing.assert_allclose(from_bytes["probabilities"].numpy(), from_pixels["probabilities"].numpy(),
                               atol=0.02)
    assert from_bytes["label"].numpy()[0] == from_pixels["label"].numpy()[0]
