"""Image files: checked up front with Pillow (so a bad file is named), decoded in tf.data with
`tf.io.decode_image` (the op the export uses), resized to a pipeline's fixed size."""
from __future__ import annotations

# The formats tf.io.decode_image reads; Pillow may open more (TIFF...), which TF could not decode.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "MPO"}


def check_file(path):
    """Raise ValueError naming `path` unless it is an image TensorFlow can decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{path}: not a readable image ({type(error).__name__})") from None
    if kind not in _FORMATS:
        raise ValueError(f"{path}: image format {kind} is not supported (use PNG, JPEG, GIF or BMP)")


def decode(data, channels, size):
    """tf ops: encoded image bytes -> (size, size, channels) uint8; grey or RGB, any size."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    return resize(image, size)


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
