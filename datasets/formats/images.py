"""Image files: checked up front with Pillow (so a bad file is named), decoded in tf.data with
`tf.io.decode_image` (the op the export uses), resized to a pipeline's fixed size."""
from __future__ import annotations

# The formats tf.io.decode_image reads; Pillow may open more (TIFF...), which TF could not decode.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "MPO"}


# Decoding is bounded: an image claiming more pixels than this is refused before it is decoded
# (a decompression bomb: a few hundred KB of PNG claiming 16384 x 16384 pixels).
MAX_PIXELS = 64 * 1024 * 1024


def _open(path):
    """A Pillow image of `path`, its size checked against MAX_PIXELS, not yet decoded."""
    from PIL import Image

    image = Image.open(path)
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ValueError(f"{path}: {width}x{height} pixels is more than the {MAX_PIXELS} allowed "
                         "(a decompression bomb?)")
    return image


def check_file(path):
    """Raise ValueError naming `path` unless it is an image TensorFlow can decode: its chunks
    verified (CRCs), its size within MAX_PIXELS and its pixel data decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(path) as image:
            kind = image.format
            image.verify()  # chunk structure and CRCs; does not decode the pixel data
        with _open(path) as image:
            image.load()  # decodes: corrupt compressed data with valid CRCs fails here
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: too many pixels (a decompression bomb?): {error}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError) as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable image ({error or 'truncated'})") from None
    if kind not in _FORMATS:
        raise ValueError(f"{path}: image format {kind} is not supported (use PNG, JPEG, GIF or BMP)")


def read(path, mode):
    """(H, W, C) float32 pixels of an image file in Pillow `mode` ("L" or "RGB"), checked as
    `check_file` checks (a bad file is a ValueError naming it)."""
    import numpy as np

    check_file(path)
    with _open(path) as image:
        pixels = np.asarray(image.convert(mode), np.float32)
    return pixels


def check_pixels(inputs, origin):
    """Raise ValueError naming `origin` unless array pixels are 0..255 as image files decode:
    float pixels in [0, 1] would be rounded to black and white, so they are refused."""
    import numpy as np

    arrays = inputs if isinstance(inputs, np.ndarray) else np.asarray([], np.uint8)
    if not isinstance(inputs, np.ndarray) and len(inputs):
        arrays = np.concatenate([np.ravel(np.asarray(a)) for a in inputs])
    if arrays.size == 0 or arrays.dtype == np.uint8:
        return
    if not np.issubdtype(arrays.dtype, np.number) or np.iscomplexobj(arrays):
        raise ValueError(f"{origin}: pixels of type {arrays.dtype}, expected numbers 0..255")
    low, high = float(np.min(arrays)), float(np.max(arrays))
    if low < 0 or high > 255:
        raise ValueError(f"{origin}: pixel values {low:g}..{high:g} are outside 0..255")
    if np.issubdtype(arrays.dtype, np.floating) and high <= 1.0:
        raise ValueError(f"{origin}: float pixels in {low:g}..{high:g}, but pixels are read as 0..255 "
                         "(as image files decode; serving expects the same): multiply by 255 "
                         "(e.g. np.round(x * 255).astype(np.uint8))")


def decode(data, channels, size=None):
    """tf ops: encoded image bytes -> (size, size, channels) uint8 (size None: the image's own
    (H, W, channels)); grey or RGB, any size.

    Bounded in the graph too (the export's `image_bytes`): an image whose header claims more
    than MAX_PIXELS pixels is an InvalidArgument error before anything is decoded."""
    import tensorflow as tf

    width, height = claimed_size(data)
    check = tf.debugging.Assert(
        width * height <= MAX_PIXELS,
        [f"image_bytes: the header claims more than the {MAX_PIXELS} pixels allowed "
         "(a decompression bomb?); width, height:", width, height])
    with tf.control_dependencies([check]):
        # TF decodes GIF and BMP to colour only ("channels must be 0 or 3 for GIF", "0, 3 or 4
        # for BMP"): grey comes after.
        magic = tf.strings.substr(data, 0, 4)
        image = tf.cond(
            tf.equal(magic, b"GIF8") | tf.equal(tf.strings.substr(magic, 0, 2), b"BM"),
            lambda: to_channels(tf.io.decode_image(data, channels=3, expand_animations=False), channels),
            lambda: tf.io.decode_image(data, channels=channels, expand_animations=False))
    return image if size is None else resize(image, size)


def claimed_size(data):
    """tf ops (core only, for TF Serving): (width, height) int64 scalars that an encoded image's
    header claims, read before any pixel is decoded: PNG (IHDR), GIF (logical screen), BMP (DIB
    header), JPEG (tf.io.extract_jpeg_shape); (0, 0) for other data, which decode_image refuses."""
    import tensorflow as tf

    head = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, 32), b"\0" * 32]), 0, 32)
    byte = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)  # (32,) the header, zero-padded

    def little(start, count):
        return sum(byte[start + i] * 256**i for i in range(count))

    def big(start, count):
        return sum(byte[start + i] * 256**(count - 1 - i) for i in range(count))

    def signed32(value):  # BMP: a negative height means rows stored top-down
        return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

    def jpeg():
        shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)  # (height, width, channels)
        return tf.stack([shape[1], shape[0]])

    def starts(magic):
        return tf.equal(tf.strings.substr(head, 0, len(magic)), magic)

    size = tf.case([
        (starts(b"\x89PNG\r\n\x1a\n"), lambda: tf.stack([big(16, 4), big(20, 4)])),
        (starts(b"GIF8"), lambda: tf.stack([little(6, 2), little(8, 2)])),
        (starts(b"BM"), lambda: tf.stack([signed32(little(18, 4)), signed32(little(22, 4))])),
        (starts(b"\xff\xd8\xff"), jpeg),
    ], default=lambda: tf.zeros([2], tf.int64))
    return size[0], size[1]


def resize(image, size):
    """tf ops: (H, W, C) -> (size, size, C) uint8, bilinear as the model's Resizing layer, so
    training and serving resize alike (no antialiasing: XLA has no kernel for it)."""
    import tensorflow as tf

    image.set_shape([None, None, image.shape[-1]])
    if tuple(image.shape[:2]) == (size, size):
        return tf.cast(image, tf.uint8)
    resized = tf.image.resize(image, (size, size))
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def to_channels(image, channels):
    """tf ops: (H, W, C) uint8 with 1 or 3 channels -> `channels` channels."""
    import tensorflow as tf

    if image.shape[-1] == channels:
        return image
    if channels == 1:
        return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)
    return tf.image.grayscale_to_rgb(image)
