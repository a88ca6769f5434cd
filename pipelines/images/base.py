"""What the 2D image pipelines share: image files in and out, the served `image` input, resizing
and scaling inside the model, shift/flip augmentation. digits and objects subclass it."""
from __future__ import annotations

import dataclasses

from datasets.formats import images
from pipelines.core.base import Pipeline
from pipelines.core.config import BaseConfig


@dataclasses.dataclass
class ImageConfig(BaseConfig):
    image_size: int = 32  # the network sees image_size x image_size (resized in the model)
    augment_shift: int = 0  # random translation of up to this many pixels (training only)
    augment_flip: bool = False  # random left-right flips (training only)


class ImagePipeline(Pipeline):
    """Images of any size, grey or RGB, served as `image` (batch, H, W, channels) float 0..255,
    or as encoded PNG/JPEG/GIF/BMP bytes (`image_bytes`)."""

    input_name = "image"
    file_extensions = images.EXTENSIONS
    channels = 3

    def check_file(self, path):
        images.check_file(path)

    def check_arrays(self, inputs, origin):
        images.check_pixels(inputs, origin)

    def decode_file(self, path):
        import tensorflow as tf

        return self.decode_bytes(tf.io.read_file(path))

    def decode_bytes(self, data):
        return images.decode(data, self.channels, self.config.image_size)

    def conform(self, x):
        if x.shape.rank == 2:  # (H, W) grey arrays
            x = x[..., None]
        return images.resize(images.to_channels(x, self.channels), self.config.image_size)

    def augment(self, x, seed):
        import tensorflow as tf

        size, shift = self.config.image_size, self.config.augment_shift
        if self.config.augment_flip:
            x = tf.image.stateless_random_flip_left_right(x, seed)
        if shift:
            padded = tf.pad(x, [[shift, shift], [shift, shift], [0, 0]])
            x = tf.image.stateless_random_crop(padded, (size, size, self.channels), seed + 1)
        return x

    def input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec((None, None, self.channels), tf.float32)

    def preprocess(self, x):
        import keras

        size = self.config.image_size
        x = keras.layers.Resizing(size, size, name="resize")(x)
        return keras.layers.Rescaling(1.0 / 255.0, name="scale")(x)  # (batch, size, size, C) 0..1

    def encode_bytes(self, example):
        """(H, W, C) float 0..255 -> PNG bytes."""
        import tensorflow as tf

        pixels = tf.cast(tf.clip_by_value(tf.round(example), 0, 255), tf.uint8)
        return tf.io.encode_png(pixels).numpy()

    def read_file(self, path):
        return images.read(path, "L" if self.channels == 1 else "RGB")

    def input_range(self):
        """Pixel values: attacks' epsilon is in 0..255 units."""
        return 0.0, 255.0

    def write_example(self, example, stem):
        """A PNG (pixels rounded to integers)."""
        from pipelines.core import files

        data = self.encode_bytes(example)
        return files.atomic_write(f"{stem}.png", lambda temporary: temporary.write_bytes(data))
