"""What the 2D image pipelines share: image files in and out, the served `image` input, resizing
and scaling inside the model, shift/flip augmentation. digits and objects subclass it."""
from __future__ import annotations

import dataclasses

import numpy as np

import networks
from datasets.formats import images
from pipelines.extensions import transfer
from pipelines.core.base import Pipeline
from pipelines.core.config import BaseConfig
from pipelines.core.settings import POSITIVE, UNIT, positive, ranged


@dataclasses.dataclass
class ImageConfig(networks.ChosenNetwork, BaseConfig):
    """A subclass sets NETWORKS: its own networks, then every registered image network."""

    image_size: int = positive(32)  # the network sees image_size x image_size (resized in the model)
    augment_shift: int = 0  # random translation of up to this many pixels (training only)
    augment_flip: bool = False  # random left-right flips (training only)
    # Transfer learning (backbones; pipelines/extensions/transfer.py): the network starts from a
    # weight file (with or without its top), a new head trains alone for head_epochs, then
    # everything for `epochs` at learning_rate * fine_tune_factor, batch norm in inference mode.
    weights: str = ""
    head_epochs: int = ranged(2, when="weights")
    fine_tune_factor: float = ranged(0.1, POSITIVE, UNIT, when="weights")


class ImagePipeline(Pipeline):
    """Images of any size, grey or RGB, served as `image` (batch, H, W, channels) float 0..255,
    or as encoded PNG/JPEG/GIF/BMP bytes (`image_bytes`)."""

    input_name = "image"
    file_extensions = images.EXTENSIONS
    channels = 3
    keras_modules = ("networks.preprocessing",)
    networks = networks.ChoiceNames()

    def __init__(self, config=None):
        super().__init__(config)
        c = self.config
        transfer.check(c, self.backbones())
        entry = networks.get(c.network)
        if c.image_size < entry.min_size:
            raise ValueError(f"--set image_size={c.image_size}: network {c.network} needs "
                             f"image_size >= {entry.min_size} (its input is {entry.input_shape})")
        if entry.preprocessing in ("caffe", "torch") and self.channels != 3:
            raise ValueError(f"--set network={c.network}: needs colour images (3 channels), "
                             f"{self.name} has {self.channels}")

    @classmethod
    def backbones(cls):
        """The networks this pipeline takes as they are, besides its own (transfer learning)."""
        return tuple(name for name in cls.networks if name not in cls.Config.NETWORKS.own)

    def network_hparams(self):
        """The settings of the config that the pipeline's own network `config.network` takes."""
        return {}

    def network(self, x, num_classes):
        """(N, size, size, C) 0..1 -> logits: an own network built with the config's settings;
        any other as a backbone (`backbone_network`)."""
        if self.config.network in self.Config.NETWORKS.own:
            return networks.create(self.config.network, x, num_classes=num_classes, **self.network_hparams())
        return self.backbone_network(x, num_classes)

    def backbone_network(self, x, num_classes):
        """(N, size, size, C) 0..1 -> logits: the network's own input scaling, the network
        without its top (a nested model; with `weights`, loaded from the file, see
        pipelines/extensions/transfer.py), global average pooling, dropout, logits."""
        from networks.blocks import classifier_head
        from networks.preprocessing import Preprocess

        c = self.config
        x = Preprocess(networks.get(c.network).preprocessing, scale=255.0, name="network_input")(x)
        backbone = networks.build(c.network, input_shape=tuple(x.shape[1:]), include_top=False,
                                  weights=c.weights or None)
        return classifier_head(backbone(x), num_classes, c.dropout)

    def check_file(self, path):
        images.check_file(path)

    def check_arrays(self, inputs, origin):
        images.check_pixels(inputs, origin)

    def decode_file(self, path):
        """At the file's own size (`conform` resizes for training, `as_held` keeps it)."""
        import tensorflow as tf

        return images.decode(tf.io.read_file(path), self.channels)

    def fingerprint_decode(self, path):
        """The image as stored (its own size and channels; `decode_file` resizes it)."""
        import tensorflow as tf

        data = tf.io.read_file(path)
        width, height = images.claimed_size(data)
        with tf.control_dependencies([tf.debugging.Assert(width * height <= images.MAX_PIXELS, [path])]):
            return tf.io.decode_image(data, expand_animations=False)

    def fingerprint_example(self, example, measurements):
        """Size, aspect ratio (width / height), channels and intensity range of one image."""
        image = np.asarray(example)  # (H, W) or (H, W, C)
        height, width = image.shape[:2]
        measurements.category("size", (height, width))
        measurements.numbers("height", height)
        measurements.numbers("width", width)
        measurements.numbers("aspect_ratio", width / height)
        measurements.category("channels", image.shape[2] if image.ndim == 3 else 1)
        measurements.numbers("intensity", image)

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
        """(H, W, channels) pixels at the file's own size: the served input of one example."""
        pixels = images.read(path, "L" if self.channels == 1 else "RGB")
        return pixels[..., None] if pixels.ndim == 2 else pixels  # Pillow's "L" has no channel axis

    def input_range(self):
        """Pixel values: attacks' epsilon is in 0..255 units."""
        return 0.0, 255.0

    input_step = 1.0  # PNG pixels are whole levels

    def as_held(self, x):
        """(H, W[, C]) -> (H, W, channels) float32 pixels at the image's own size."""
        import tensorflow as tf

        if x.shape.rank == 2:  # (H, W) grey arrays
            x = x[..., None]
        return tf.cast(images.to_channels(x, self.channels), tf.float32)

    def write_example(self, example, stem):
        """A PNG (pixels rounded to integers)."""
        from pipelines.core import files

        data = self.encode_bytes(example)
        return files.atomic_write(f"{stem}.png", lambda temporary: temporary.write_bytes(data))

    # ---------------------------------------------------------- explanations
    def render_explanation(self, path, example, context, maps, prefix, model=None):
        """A heat-map overlay PNG and the map (H, W) as .npy, per class."""
        from pipelines.core import render

        rendering = render.Rendering()
        for label, map_ in maps.items():
            stem = f"{prefix}_{render.safe_name(label)}"
            rendering.files.append(render.save_npy(f"{stem}.npy", map_))
            rendering.files.append(render.overlay_png(f"{stem}.png", example, map_, f"{path}: {label}"))
        return rendering
