"""objects: object recognition in small colour images (CIFAR-10 and the like), on our layers.

Networks (`--set network=...`):
- `alexnet`: the AlexNet recipe scaled to 32x32 (as TensorFlow's CIFAR-10 tutorial model): 5x5
  convolutions with ReLU, overlapping 3x3/2 max pooling, local response normalisation, two fully
  connected layers with dropout 0.5; SGD with momentum 0.9 from lr 1e-2, cosine schedule,
  flips and crops.
- `resnet`: a small ResNet (three stages of two basic blocks, 3x3 convolutions, batch
  normalisation, identity or 1x1-strided shortcuts, global average pooling).
"""
from __future__ import annotations

import dataclasses

from datasets.synthetic import shapes
from pipelines import register
from pipelines.images.base import ImageConfig, ImagePipeline


@dataclasses.dataclass
class ObjectsConfig(ImageConfig):
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-2
    network: str = "alexnet"
    image_size: int = 32
    augment_shift: int = 4  # crops of the image padded by 4 pixels
    augment_flip: bool = True
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dropout: float = 0.5
    width: int = 64  # filters of the first convolution; later ones are multiples
    bundled_per_class: int = 300  # generated training images per class (a third as many to test)


@register
class Objects(ImagePipeline):
    name = "objects"
    summary = "objects in small colour images (AlexNet recipe or a small ResNet)"
    sources = ("bundled (generated shapes on textures, 8 classes), tfds:cifar10, image folders "
               "(train/<class>/*.jpg, test/<class>/*.jpg), CSV manifest, .npz")
    Config = ObjectsConfig
    networks = ("alexnet", "resnet")
    channels = 3

    def bundled(self):
        per_class = self.config.bundled_per_class
        return shapes.load(per_class, max(1, per_class // 3))

    def network(self, x, num_classes):
        build = alexnet if self.config.network == "alexnet" else resnet
        return build(x, num_classes, self.config)

    def optimizer(self, steps_per_epoch):
        import keras

        schedule = keras.optimizers.schedules.CosineDecay(
            self.config.learning_rate, decay_steps=max(1, steps_per_epoch * self.config.epochs)
        )
        return keras.optimizers.SGD(schedule, momentum=self.config.momentum,
                                    weight_decay=self.config.weight_decay)


def alexnet(x, num_classes, config):
    """x: (batch, 32, 32, 3) -> logits."""
    import keras

    import layers

    width = config.width
    x = layers.Conv2D(width, 5, padding="same", activation="relu", name="conv1")(x)  # 32x32
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)  # 16x16
    x = layers.LocalResponseNormalization(name="norm1")(x)
    x = layers.Conv2D(width, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.LocalResponseNormalization(name="norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)  # 8x8
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)  # 4x4
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6 * width, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(config.dropout)(x)
    x = keras.layers.Dense(3 * width, activation="relu", name="fc2")(x)
    x = keras.layers.Dropout(config.dropout)(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


def _block(x, filters, stride, name):
    """A basic residual block: two 3x3 convolutions; a 1x1 strided shortcut when shapes change."""
    import keras

    import layers

    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_a")(x)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_a_bn")(y)
    y = keras.layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b")(y)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_b_bn")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    return keras.layers.Activation("relu")(keras.layers.Add()([y, shortcut]))


def resnet(x, num_classes, config):
    """x: (batch, 32, 32, 3) -> logits; stages of width/2, width, 2*width filters."""
    import keras

    import layers

    width = config.width // 2
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.Activation("relu")(x)
    for stage, filters in enumerate((width, 2 * width, 4 * width)):  # 32 -> 16 -> 8
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _block(x, filters, stride, f"stage{stage + 1}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.dropout * 0.4)(x)
    return keras.layers.Dense(num_classes, name="logits")(x)
