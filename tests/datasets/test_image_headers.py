"""What `images` reads before and around decoding: the size an image's header claims (the cap on
pixels rests on it), the cap's boundary, resizing, channel conversion and the pixel-range check.

Headers are written byte by byte with sizes whose every byte differs (0x0102..., 0x03...), so a
byte read from the wrong offset or weighed in the wrong order gives another number."""
import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from datasets.formats import images

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_header(width, height):
    return PNG_MAGIC + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)


def _bmp_header(width, height):
    """BITMAPFILEHEADER (14 bytes) + the start of a BITMAPINFOHEADER: width, height at 18, 22,
    then one colour plane and 24 bits per pixel, as every BMP has."""
    return b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHH", 40, width, height, 1, 24)


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _claimed_in_a_graph(data):  # as the export's `image_bytes` runs it
    return images.claimed_size(data)


def _claimed(data):
    width, height = images.claimed_size(tf.constant(data))
    assert width.dtype == height.dtype == tf.int64
    assert [int(v) for v in _claimed_in_a_graph(tf.constant(data))] == [int(width), int(height)]
    return int(width), int(height)


@pytest.mark.parametrize("data, size", [
    (_png_header(0x01020304, 0x05060708), (0x01020304, 0x05060708)),  # big-endian, 4 bytes each
    (b"GIF89a" + struct.pack("<HH", 0x0102, 0x0304), (0x0102, 0x0304)),  # little-endian, 2 bytes; padded
    (b"GIF87a" + struct.pack("<HH", 300, 5), (300, 5)),
    (_bmp_header(0x01020304, 0x05060708), (0x01020304, 0x05060708)),  # little-endian, 4 bytes
    (_bmp_header(70000, -513), (70000, 513)),  # rows stored top-down: a negative height
    (_bmp_header(3, -1), (3, 1)),  # 0xFFFFFFFF is -1, not 4294967295
    (_bmp_header(3, 2**31 - 1), (3, 2**31 - 1)),  # the largest positive height stays as it is
    (b"not an image at all", (0, 0)),
    (b"", (0, 0)),
])
def test_the_header_claims_width_and_height(data, size):
    assert _claimed(data) == size


def test_a_truncated_header_claims_nothing():
    assert _claimed(PNG_MAGIC + struct.pack(">I", 13) + b"IHDR") == (0, 0)  # the sizes cut off: zeros


def test_a_jpeg_claims_its_width_and_height():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((5, 9, 3), np.uint8)).save(buffer, "JPEG")  # 9 wide, 5 high
    assert _claimed(buffer.getvalue()) == (9, 5)


def _grey_png(height, width):
    buffer = io.BytesIO()
    Image.fromarray(np.arange(height * width, dtype=np.uint8).reshape(height, width), "L").save(buffer, "PNG")
    return buffer.getvalue()


def test_decoding_accepts_exactly_the_pixel_cap_and_refuses_one_row_more(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "MAX_PIXELS", 4 * 6)
    assert images.decode(_grey_png(4, 6), 1).shape == (4, 6, 1)  # width * height == the cap
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes: the header claims more than the 24 "
                       r"pixels allowed \(a decompression bomb\?\); width, height:\W*6\W+5"):
        images.decode(_grey_png(5, 6), 1)
    (tmp_path / "cap.png").write_bytes(_grey_png(4, 6))
    (tmp_path / "over.png").write_bytes(_grey_png(6, 5))
    assert images.read(tmp_path / "cap.png", "L").shape == (4, 6)
    with pytest.raises(ValueError, match=r"^\S*over\.png: 5x6 pixels is more than the 24 allowed "
                                         r"\(a decompression bomb\?\)$"):
        images.check_file(tmp_path / "over.png")


def test_decode_resizes_to_the_size_asked():
    image = images.decode(_grey_png(4, 6), 1, 3)
    assert image.shape == (3, 3, 1) and image.dtype == tf.uint8


def test_a_bmp_with_alpha_decodes_to_its_colours():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, np.arange(3) * 50, 7, 128
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "BMP")  # 32 bits per pixel
    np.testing.assert_array_equal(images.decode(buffer.getvalue(), 3).numpy(), rgba[..., :3])


def test_a_format_tensorflow_cannot_decode_is_refused_by_name(tmp_path):
    path = tmp_path / "scan.tiff"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path, "TIFF")
    with pytest.raises(ValueError, match=r"scan\.tiff: image format TIFF is not supported \(use PNG, JPEG"):
        images.check_file(path)
    (tmp_path / "text.png").write_bytes(b"just text")
    with pytest.raises(ValueError, match=r"^\S*text\.png: not a readable image \(cannot identify image file") as error:
        images.check_file(tmp_path / "text.png")
    assert "Error" not in str(error.value)  # PIL's reason, without its exception class name


def test_read_gives_float_pixels_in_the_mode_asked(tmp_path):
    path = tmp_path / "grey.png"
    path.write_bytes(_grey_png(3, 4))
    grey = images.read(path, "L")
    assert grey.dtype == np.float32 and grey.shape == (3, 4)
    np.testing.assert_array_equal(grey, np.arange(12).reshape(3, 4))
    np.testing.assert_array_equal(images.read(path, "RGB"), np.repeat(grey[..., None], 3, -1))


def test_resize_is_bilinear_rounded_and_a_no_op_at_the_size():
    image = tf.constant(np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 16)  # 0..240
    same = images.resize(image, 4)
    assert same.dtype == tf.uint8
    np.testing.assert_array_equal(same.numpy(), image.numpy())
    halved = images.resize(tf.constant([[[0], [255]], [[255], [0]]], tf.uint8), 4).numpy()[..., 0]
    expected = np.round(tf.image.resize(np.array([[[0.0], [255.0]], [[255.0], [0.0]]]), (4, 4)).numpy()[..., 0])
    np.testing.assert_array_equal(halved, expected)
    assert halved[0, 0] == 0 and halved[0, 3] == 255 and 0 < halved[1, 1] < 255
    floats = images.resize(tf.constant(np.full((2, 2, 1), 300.0, np.float32)), 3)  # clipped, not wrapped
    assert floats.dtype == tf.uint8 and floats.numpy().min() == 255


def test_resize_takes_an_image_of_unknown_static_shape():
    resize = tf.function(lambda image: images.resize(image, 2), input_signature=[tf.TensorSpec(None, tf.uint8)])
    out = resize(tf.constant(np.full((3, 5, 1), 9, np.uint8)))
    assert out.dtype == tf.uint8
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2, 1), 9))


def test_to_channels_converts_grey_and_colour_both_ways():
    colour = tf.constant([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], tf.uint8)  # (1, 4, 3)
    grey = images.to_channels(colour, 1).numpy()[0, :, 0]
    np.testing.assert_array_equal(grey, np.round(np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]])
                                                 @ [0.2989, 0.5870, 0.1140]))
    assert images.to_channels(colour, 3) is colour
    levels = tf.constant([[[7], [200]]], tf.uint8)
    np.testing.assert_array_equal(images.to_channels(levels, 3).numpy(), [[[7, 7, 7], [200, 200, 200]]])


@pytest.mark.parametrize("inputs", [
    np.zeros((2, 3, 3), np.uint8),
    np.full((2, 3, 3), 255.0),
    np.array([[0.0, 2.0]]),  # floats beyond 1.0: 0..255 pixels
    [np.array([0, 255], np.int32), np.array([[3.0, 128.0]])],  # files of several sizes, as a list
    [],
    np.zeros((0, 8, 8), np.float32),  # no examples: nothing to check
    np.array([[0, 1]], np.int64),  # integer pixels 0..1 are dark pixels, not unit-range floats
])
def test_pixels_0_255_are_accepted(inputs):
    images.check_pixels(inputs, "x")


@pytest.mark.parametrize("inputs, message", [
    (np.array([[-1.0, 3.0]]), r"^x: pixel values -1\.\.3 are outside 0\.\.255$"),
    (np.array([[0, 256]], np.int32), r"^x: pixel values 0\.\.256 are outside 0\.\.255$"),
    ([np.array([1.0]), np.array([[0.0, 300.0]])], r"^x: pixel values 0\.\.300 are outside"),
    (np.array([[0.0, 1.0]], np.float32),
     r"^x: float pixels in 0\.\.1, but pixels are read as 0\.\.255 \(as image files decode; serving expects the "
     r"same\): multiply by 255 \(e\.g\. np\.round\(x \* 255\)\.astype\(np\.uint8\)\)$"),
    ([np.array([0.5]), np.array([[0.25]])], r"^x: float pixels in 0\.25\.\.0\.5"),
    (np.array([["a", "b"]]), r"^x: pixels of type <U1, expected numbers 0\.\.255$"),
    (np.array([1 + 1j]), r"^x: pixels of type complex128, expected numbers"),
])
def test_pixels_outside_0_255_or_in_0_1_are_refused(inputs, message):
    with pytest.raises(ValueError, match=message):
        images.check_pixels(inputs, "x")
