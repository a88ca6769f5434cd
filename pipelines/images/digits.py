"""digits: handwritten digit recognition with the networks of the lecture, on our layers.

Networks (`--set network=...`):
- `lecun1989`: LeCun et al. 1989 style: strided 5x5 convolutions and no pooling layers, then a
  small fully connected layer. The 1989 sizes are `--set filters=12,12 dense_units=30`; the
  defaults are wider, with batch normalisation and ReLU, which is what reaches the targets.
- `lenet5`: LeNet-5 (C1 6@5x5, S2, C3 16@5x5, S4, C5 120, F6 84), pooling S2/S4 by averaging.
"""
from __future__ import annotations

import dataclasses

import networks
from datasets.synthetic import bundled_digits
from datasets.formats import mnist_idx
from pipelines import register
from pipelines.core.search_space import Between, Choice
from pipelines.core.settings import fraction, positive
from pipelines.images.base import ImageConfig, ImagePipeline


@dataclasses.dataclass
class DigitsConfig(ImageConfig):
    NETWORKS = networks.Choice("digits", ("image",), own=("lecun1989", "lenet5"))

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3
    # 10% held out for validation curves and best.keras: no measurable cost on bundled digits or
    # MNIST (docs/BENCHMARKS.md, "Validation by default")
    validation_fraction: float = 0.1
    learning_rate_warmup_epochs: float = 0.0  # linear rise from 0 to learning_rate, then cosine decay
    network: str = "lecun1989"
    image_size: int = 16  # as LeCun 1989 (16x16); MNIST at full resolution: --set image_size=28
    augment_shift: int = 2
    filters: tuple[int, ...] = positive((32, 64, 128))  # lecun1989: one strided 5x5 convolution each
    dense_units: int = positive(128)
    dropout: float = fraction(0.3)


@register
class Digits(ImagePipeline):
    name = "digits"
    summary = "handwritten digits 0-9 (LeCun 1989 strided network or LeNet-5)"
    sources = ("bundled (scikit-learn 8x8 digits), tfds:mnist, MNIST IDX folder, "
               "image folders (any size, grey or RGB), CSV manifest, .npz")
    Config = DigitsConfig
    search_space = (Between("learning_rate", 5e-4, 5e-3, log=True), Choice("batch_size", (32, 64, 128)),
                    Between("dropout", 0.0, 0.5, step=0.1), Choice("filters", ("16,32,64", "32,64,128", "48,96,192")),
                    Choice("dense_units", (64, 128, 256)))
    channels = 1

    def __init__(self, config=None):
        super().__init__(config)
        if self.config.learning_rate_warmup_epochs >= self.config.epochs:
            raise ValueError(f"--set learning_rate_warmup_epochs={self.config.learning_rate_warmup_epochs}: "
                             f"must be less than the {self.config.epochs} epochs (the cosine decay follows it)")

    def bundled(self):
        return bundled_digits.load()

    def read_path(self, path):
        return mnist_idx.detect(path)

    def network_hparams(self):
        c = self.config
        if c.network == "lecun1989":
            return {"filters": tuple(c.filters), "dense_units": c.dense_units, "dropout": c.dropout}
        return {}  # lenet5: the paper's sizes

    def optimizer(self, steps_per_epoch):
        """Adam on a cosine decay, after a linear warm-up when asked: adversarial training at large
        epsilon (Wong et al. 2020's cyclic schedule) starts from a small learning rate."""
        import keras

        c = self.config
        warmup_steps = int(round(c.learning_rate_warmup_epochs * steps_per_epoch))
        decay_steps = max(1, steps_per_epoch * c.epochs - warmup_steps)
        if not warmup_steps:
            return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(c.learning_rate, decay_steps))
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps, warmup_target=c.learning_rate, warmup_steps=warmup_steps)
        return keras.optimizers.Adam(schedule)

