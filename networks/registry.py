"""The one registry of networks: a plain-data table of entries by unique name, and the builders
that `@register(name)` binds to them when their module is imported (timm's `register_model`).

Every builder has one signature, `(x, *, num_classes, include_top=True, **hparams) -> logits`:
without the top, the features its head reads. Softmax and heads are the caller's business
(`build` adds keras.applications' softmax `predictions` for a stand-alone model).
The table needs no TensorFlow: listing names, tags and sizes imports no network module.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    module: str  # where `@register(name)` binds the builder
    input_shape: tuple  # a stand-alone build's input (the paper's size), channels last
    num_classes: int  # a stand-alone build's classes
    tags: tuple  # what the network is for: image, board, audio, text, volume, segmentation
    preprocessing: str = "none"  # networks.preprocessing mode its weights were trained with
    paper: str = ""
    year: int = 0
    min_size: int = 1  # smallest spatial size it accepts (without its top)
    keras_application: str = ""  # the keras.applications model it matches layer for layer (its weight files load)
    fixed_size: bool = False  # only the spatial size of `input_shape` (e.g. a Go board)
    zoo: bool = False  # listed by `cnn zoo`
    dtype: str = "float32"  # of the input (token ids: int32)
    defaults: tuple = ()  # (hparam, value) pairs a stand-alone build needs (e.g. a vocabulary size)

    @property
    def rank(self):
        """Spatial axes of the input (0 for a sequence of token ids)."""
        return len(self.input_shape) - 1


_IMAGE_ZOO = dict(tags=("image",), zoo=True)
ENTRIES = (
    Entry("lecun1989", "networks.lenet", (16, 16, 1), 10, preprocessing="unit", min_size=5, **_IMAGE_ZOO,
          paper="LeCun et al., Backpropagation applied to handwritten zip code recognition", year=1989),
    Entry("lenet5", "networks.lenet", (28, 28, 1), 10, preprocessing="unit", min_size=28, **_IMAGE_ZOO,
          paper="LeCun et al., Gradient-based learning applied to document recognition", year=1998),
    Entry("alexnet", "networks.alexnet2012", (227, 227, 3), 1000, preprocessing="caffe", min_size=67,
          **_IMAGE_ZOO, year=2012,
          paper="Krizhevsky et al., ImageNet classification with deep convolutional neural networks"),
    Entry("alexnet_grouped", "networks.alexnet2012", (227, 227, 3), 1000, preprocessing="caffe", min_size=67,
          **_IMAGE_ZOO, paper="Krizhevsky et al. (two-GPU layout: groups=2 in conv2, conv4, conv5)", year=2012),
    Entry("vgg16", "networks.vgg", (224, 224, 3), 1000, preprocessing="caffe", min_size=32, **_IMAGE_ZOO,
          paper="Simonyan and Zisserman, Very deep convolutional networks for large-scale image recognition",
          year=2015, keras_application="VGG16"),
    Entry("resnet50", "networks.resnet50", (224, 224, 3), 1000, preprocessing="caffe", min_size=32, **_IMAGE_ZOO,
          paper="He et al., Deep residual learning for image recognition", year=2016, keras_application="ResNet50"),
    Entry("densenet121", "networks.densenet", (224, 224, 3), 1000, preprocessing="torch", min_size=32,
          **_IMAGE_ZOO, paper="Huang et al., Densely connected convolutional networks", year=2017,
          keras_application="DenseNet121"),
    Entry("inception_v3", "networks.inception", (299, 299, 3), 1000, preprocessing="tf", min_size=75,
          **_IMAGE_ZOO, paper="Szegedy et al., Rethinking the Inception architecture for computer vision",
          year=2016, keras_application="InceptionV3"),
    Entry("alphago_policy", "networks.alphago", (19, 19, 48), 361, ("board",), fixed_size=True, zoo=True,
          paper="Silver et al., Mastering the game of Go with deep neural networks and tree search", year=2016),
    Entry("alexnet_cifar", "networks.alexnet", (32, 32, 3), 10, ("image",), preprocessing="unit",
          paper="Krizhevsky et al. 2012, scaled to 32x32 (TensorFlow's CIFAR-10 tutorial model)", year=2012),
    Entry("resnet_cifar", "networks.resnet", (32, 32, 3), 10, ("image",), preprocessing="unit",
          paper="He et al. 2016, a small ResNet for 32x32 images (CIFAR-10)", year=2016),
    Entry("conv1d", "networks.audio", (101, 64), 12, ("audio",), min_size=4,
          paper="convolution over time, the mel bins as channels"),
    Entry("conv2d", "networks.audio", (101, 64), 12, ("audio",), min_size=8,
          paper="a small VGG-like stack over the (time, mel) image"),
    Entry("kim", "networks.kim", (100,), 2, ("text",), dtype="int32", defaults=(("vocabulary_size", 20000),),
          paper="Kim, Convolutional neural networks for sentence classification", year=2014),
    Entry("cnn3d", "networks.cnn3d", (32, 32, 32, 1), 2, ("volume",), min_size=8,
          paper="a VGG-style 3D classifier"),
    Entry("resnet3d", "networks.resnet", (32, 32, 32, 1), 2, ("volume",), min_size=5, zoo=True,
          paper="He et al. 2016, in 3D (the MedMNIST 3D baselines' ResNet)", year=2016),
    Entry("unet3d", "networks.unet", (32, 32, 32, 1), 3, ("segmentation",), min_size=8, zoo=True,
          paper="Cicek et al., 3D U-Net: learning dense volumetric segmentation from sparse annotation",
          year=2016),
)
_TABLE = {entry.name: entry for entry in ENTRIES}
_BUILDERS = {}  # name -> builder, filled by @register as modules are imported


def register(name, **entry):
    """Decorator: `builder` is network `name`. A name of the table needs nothing more; a network
    of your own gives its entry's fields (input_shape, num_classes, tags, ...) here."""
    def decorate(builder):
        if name not in _TABLE:
            if not entry:
                raise ValueError(f"network '{name}' is not in networks/registry.py: give its entry's fields "
                                 "(input_shape, num_classes, tags) to register")
            _TABLE[name] = Entry(name, builder.__module__, **entry)
        if _BUILDERS.get(name, builder) is not builder:
            raise ValueError(f"network name '{name}' is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorate


def entries():
    return tuple(_TABLE.values())


def unknown(name, known, where=""):
    """The ValueError for an unknown network name: the known ones and the closest, if one is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ValueError(f"unknown network '{name}'{where} (known: {', '.join(known)}){hint}")


def get(name):
    """The entry of network `name`; a ValueError listing the known names otherwise."""
    if name not in _TABLE:
        raise unknown(name, list(_TABLE))
    return _TABLE[name]


def names(*, rank=None, tag=None, zoo=None):
    """Registered names in table order; `rank`: those taking that spatial rank at any size;
    `tag`: those tagged so; `zoo`: those `cnn zoo` lists (or does not)."""
    return tuple(entry.name for entry in _TABLE.values()
                 if (rank is None or (entry.rank == rank and not entry.fixed_size))
                 and (tag is None or tag in entry.tags) and (zoo is None or entry.zoo == zoo))


def builder(name):
    """The builder of network `name`, its module imported on first use."""
    entry = get(name)
    if name not in _BUILDERS:
        importlib.import_module(entry.module)
    if name not in _BUILDERS:
        raise ValueError(f"network '{name}': importing {entry.module} did not register it")
    return _BUILDERS[name]


def create(name, x, *, num_classes, include_top=True, **hparams):
    """Network `name` on tensor `x`: (N, *S, C) -> (N, num_classes) logits, or its features
    without the top. The layers join the caller's graph (no nested model)."""
    return builder(name)(x, num_classes=num_classes, include_top=include_top, **hparams)


@dataclasses.dataclass(frozen=True)
class Choice:
    """The networks a pipeline takes: its `own` (built inline with its settings), then every
    other network with one of `tags`; `aliases` maps the names its recorded runs and recipes
    used before a name meant one network everywhere to today's names."""

    pipeline: str
    tags: tuple
    own: tuple = ()
    aliases: dict = dataclasses.field(default_factory=dict)

    def names(self):
        tagged = (entry.name for entry in _TABLE.values() if set(entry.tags) & set(self.tags))
        return self.own + tuple(name for name in tagged if name not in self.own and name not in self.aliases)

    def resolve(self, name):
        """Today's name of `name` in this pipeline; a ValueError naming the valid ones."""
        name = self.aliases.get(name, name)
        if name not in self.names():
            raise unknown(name, self.names(), f" for {self.pipeline}")
        return name


class ChoiceNames:
    """A Pipeline's `networks`: the names its config's NETWORKS choice takes when asked (a
    network registered after the pipeline's module was imported included)."""

    def __get__(self, instance, owner):
        return owner.Config.NETWORKS.names()


class ChosenNetwork:
    """Config mixin: the config's `network` goes through its class's `NETWORKS` choice whenever
    the config is made (defaults, --set, a recipe, a recorded run's config.json), so an old name
    is recorded and built as today's."""

    def __post_init__(self):
        self.network = type(self).NETWORKS.resolve(self.network)
        super().__post_init__()
