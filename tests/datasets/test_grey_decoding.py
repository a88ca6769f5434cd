"""Grey pixels from colour GIF and BMP files (`images.decode`, the path of a grey pipeline's
`image_bytes`), checked pixel by pixel against the luma of the file's own colours.

TensorFlow decodes GIF and BMP to colour only, so `decode` converts to grey after decoding; that
conversion must weigh red, green and blue as ITU-R BT.601 does (tf.image.rgb_to_grayscale:
0.2989, 0.5870, 0.1140). A picture whose red and blue differ by up to 255 makes any mix-up of the
channels (reversed, or one channel taken) tens of levels wrong, while the reference, computed
here in float64 from Pillow's decoding of the same bytes, differs from float32 rounding by at
most one level."""
import io

import numpy as np
import pytest
from PIL import Image

from datasets.formats import images

SIZE = 8
LUMA = np.array([0.2989, 0.5870, 0.1140])


def _colours():
    """(SIZE, SIZE, 3) uint8: red rises left to right, blue right to left, green top to bottom."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    red = x * 255 // (SIZE - 1)
    return np.stack([red, y * 255 // (SIZE - 1), 255 - red], -1).astype(np.uint8)


@pytest.mark.parametrize("kind", ["GIF", "BMP"])
def test_grey_decoding_of_a_colour_file_is_its_luma(kind):
    buffer = io.BytesIO()
    Image.fromarray(_colours(), "RGB").save(buffer, kind)
    colours = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), np.float64)  # GIF: its palette's
    assert np.abs(colours[..., 0] - colours[..., 2]).max() > 200  # red and blue far apart: a swap would show
    expected = np.round(colours @ LUMA)  # (SIZE, SIZE)
    grey = images.decode(buffer.getvalue(), 1, SIZE).numpy()
    assert grey.shape == (SIZE, SIZE, 1) and grey.dtype == np.uint8
    np.testing.assert_allclose(grey[..., 0], expected, rtol=0, atol=1)  # a level of float32 rounding


@pytest.mark.parametrize("kind", ["GIF", "BMP", "PNG"])
def test_colour_decoding_keeps_each_channel_in_its_place(kind):
    buffer = io.BytesIO()
    Image.fromarray(_colours(), "RGB").save(buffer, kind)
    colours = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    np.testing.assert_array_equal(images.decode(buffer.getvalue(), 3, SIZE).numpy(), colours)  # lossless formats


def test_a_grey_file_decodes_to_its_own_levels_in_grey_and_in_colour():
    levels = (np.arange(SIZE * SIZE).reshape(SIZE, SIZE) * 4).astype(np.uint8)
    for kind in ("GIF", "BMP", "PNG"):
        buffer = io.BytesIO()
        Image.fromarray(levels, "L").save(buffer, kind)
        np.testing.assert_array_equal(images.decode(buffer.getvalue(), 1, SIZE).numpy()[..., 0], levels, err_msg=kind)
        np.testing.assert_array_equal(images.decode(buffer.getvalue(), 3, SIZE).numpy(),
                                      np.repeat(levels[..., None], 3, -1), err_msg=kind)
