"""objects: object recognition in small colour images (CIFAR-10 and the like), on our layers.

Networks (`--set network=...`; runs and recipes from before the names were unique say `alexnet`
and `resnet`, which this pipeline still reads as these two):
- `alexnet_cifar`: the AlexNet recipe scaled to 32x32 (as TensorFlow's CIFAR-10 tutorial model): 5x5
  convolutions with ReLU, overlapping 3x3/2 max pooling, local response normalisation, two fully
  connected layers with dropout 0.5; SGD with momentum 0.9 from lr 1e-2, cosine schedule,
  flips and crops.
- `resnet_cifar`: a small ResNet (three stages of two basic blocks, 3x3 convolutions, batch
  normalisation, identity or 1x1-strided shortcuts, global average pooling).
- any other registered image network (`cnn zoo`), as a backbone.
"""
from __future__ import annotations

import dataclasses

import networks
from datasets.synthetic import shapes
from pipelines import register
from pipelines.core.search_space import Between, Choice
from pipelines.core.settings import fraction, positive
from pipelines.images.base import ImageConfig, ImagePipeline


@dataclasses.dataclass
class ObjectsConfig(ImageConfig):
    NETWORKS = networks.Choice("objects", ("image",), own=("alexnet_cifar", "resnet_cifar"),
                               aliases={"alexnet": "alexnet_cifar", "resnet": "resnet_cifar"})

    # the best measured (CIFAR-10, docs/BENCHMARKS.md); AlexNet's: `--recipe cifar10-alexnet`
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 0.05
    network: str = "resnet_cifar"
    image_size: int = 32
    augment_shift: int = 4  # crops of the image padded by 4 pixels
    augment_flip: bool = True
    momentum: float = fraction(0.9)
    weight_decay: float = 5e-4
    dropout: float = fraction(0.5)
    width: int = positive(64)  # filters of the first convolution; later ones are multiples
    bundled_per_class: int = positive(300)  # generated training images per class (a third as many to test)


@register
class Objects(ImagePipeline):
    name = "objects"
    summary = "objects in small colour images (AlexNet recipe or a small ResNet)"
    sources = ("bundled (generated shapes on textures, 8 classes), tfds:cifar10, image folders "
               "(train/<class>/*.jpg, test/<class>/*.jpg), CSV manifest, .npz")
    Config = ObjectsConfig
    search_space = (Between("learning_rate", 0.01, 0.2, log=True), Choice("batch_size", (64, 128, 256)),
                    Between("weight_decay", 1e-4, 1e-3, log=True), Between("dropout", 0.0, 0.5, step=0.1),
                    Choice("width", (32, 64)))
    channels = 3

    def bundled(self):
        per_class = self.config.bundled_per_class
        return shapes.load(per_class, max(1, per_class // 3))

    def network_hparams(self):
        c = self.config
        if c.network == "alexnet_cifar":
            return {"width": c.width, "dropout": c.dropout}
        # resnet_cifar: stages of width/2, width, 2*width filters; 0.4 of AlexNet's dropout before the logits
        return {"widths": (c.width // 2, c.width, 2 * c.width), "dropout": c.dropout * 0.4}

    def optimizer(self, steps_per_epoch):
        import keras

        schedule = keras.optimizers.schedules.CosineDecay(
            self.config.learning_rate, decay_steps=max(1, steps_per_epoch * self.config.epochs)
        )
        return keras.optimizers.SGD(schedule, momentum=self.config.momentum,
                                    weight_decay=self.config.weight_decay)

