"""The model zoo: an explicit table of networks by name, `build` and `preprocess_input`.

The table is plain data (no TensorFlow at import): each entry names its builder as
"module:function", imported when the network is built. A builder is
`(inputs, *, include_top, classes) -> outputs`: softmax `predictions` with the top, the last
feature map without it; no preprocessing inside (as keras.applications).
"""
from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    builder: str  # "module:function"
    input_shape: tuple  # the paper's (or the suite's pipelines') input, channels last
    classes: int  # the default number of classes
    preprocessing: str  # networks.preprocessing mode
    paper: str
    year: int
    min_size: int = 1  # smallest spatial size the network (without its top) accepts
    keras_application: str = ""  # the keras.applications model it matches layer for layer
    fixed_size: bool = False  # only the input size of `input_shape` (e.g. a Go board)

    @property
    def rank(self):
        return len(self.input_shape) - 1


ENTRIES = (
    Entry("lecun1989", "networks.wrapped:lecun1989", (16, 16, 1), 10, "unit",
          "LeCun et al., Backpropagation applied to handwritten zip code recognition", 1989, 5),
    Entry("lenet5", "networks.wrapped:lenet5", (28, 28, 1), 10, "unit",
          "LeCun et al., Gradient-based learning applied to document recognition", 1998, 28),
    Entry("alexnet", "networks.alexnet2012:alexnet2012", (227, 227, 3), 1000, "caffe",
          "Krizhevsky et al., ImageNet classification with deep convolutional neural networks", 2012, 67),
    Entry("alexnet_grouped", "networks.alexnet2012:alexnet_grouped", (227, 227, 3), 1000, "caffe",
          "Krizhevsky et al. (two-GPU layout: groups=2 in conv2, conv4, conv5)", 2012, 67),
    Entry("vgg16", "networks.vgg:vgg16", (224, 224, 3), 1000, "caffe",
          "Simonyan and Zisserman, Very deep convolutional networks for large-scale image recognition",
          2015, 32, "VGG16"),
    Entry("resnet50", "networks.resnet50:resnet50", (224, 224, 3), 1000, "caffe",
          "He et al., Deep residual learning for image recognition", 2016, 32, "ResNet50"),
    Entry("densenet121", "networks.densenet:densenet121", (224, 224, 3), 1000, "torch",
          "Huang et al., Densely connected convolutional networks", 2017, 32, "DenseNet121"),
    Entry("inception_v3", "networks.inception:inception_v3", (299, 299, 3), 1000, "tf",
          "Szegedy et al., Rethinking the Inception architecture for computer vision", 2016, 75,
          "InceptionV3"),
    Entry("alphago_policy", "networks.alphago:alphago_policy", (19, 19, 48), 361, "none",
          "Silver et al., Mastering the game of Go with deep neural networks and tree search", 2016,
          fixed_size=True),
    Entry("resnet3d", "networks.wrapped:resnet3d", (32, 32, 32, 1), 2, "none",
          "He et al. 2016, in 3D (the MedMNIST 3D baselines' ResNet)", 2016, 5),
    Entry("unet3d", "networks.wrapped:unet3d", (32, 32, 32, 1), 3, "none",
          "Cicek et al., 3D U-Net: learning dense volumetric segmentation from sparse annotation",
          2016, 8),
)
ZOO = {entry.name: entry for entry in ENTRIES}


def names(rank=None):
    """The zoo's network names; with `rank`, those taking inputs of that spatial rank at any
    size (2: the image networks, without the Go board's alphago_policy)."""
    if rank is None:
        return tuple(ZOO)
    return tuple(entry.name for entry in ENTRIES if entry.rank == rank and not entry.fixed_size)


def get(name):
    """The entry of network `name`; a ValueError listing the known names otherwise."""
    if name not in ZOO:
        raise ValueError(f"unknown network '{name}' (known: {', '.join(ZOO)})")
    return ZOO[name]


def builder(entry):
    module, function = entry.builder.split(":")
    return getattr(importlib.import_module(module), function)


def check_input_shape(entry, input_shape):
    """The input shape to build, checked: rank, channels > 0, spatial size >= the minimum."""
    shape = tuple(entry.input_shape if input_shape is None else input_shape)
    if len(shape) != len(entry.input_shape):
        raise ValueError(f"network {entry.name} takes inputs of shape {entry.input_shape} "
                         f"(rank {entry.rank}); input_shape={shape}")
    if any(size is None or int(size) < 1 for size in shape):
        raise ValueError(f"network {entry.name}: input_shape={shape} needs positive sizes")
    if entry.fixed_size and shape[:-1] != entry.input_shape[:-1]:
        raise ValueError(f"network {entry.name} takes {entry.input_shape[:-1]} inputs only; "
                         f"input_shape={shape}")
    if min(shape[:-1]) < entry.min_size:
        raise ValueError(f"network {entry.name} needs inputs of at least {entry.min_size} "
                         f"per side; input_shape={shape}")
    return shape


def build(name, *, input_shape=None, classes=None, include_top=True, weights=None):
    """The keras.Model of network `name`: (N, *input_shape) -> (N, classes) probabilities, or
    its last feature map with `include_top=False`.

    input_shape: default the entry's (the paper's size); classes: default the entry's (1000 for
    the ImageNet networks, 361 for alphago_policy); weights: a `.weights.h5` file saved from
    this network or its keras.applications counterpart, or a legacy `.h5` (keras.applications'
    ImageNet files); a file with the top loads into `include_top=False` too.
    """
    import keras

    entry = get(name)
    shape = check_input_shape(entry, input_shape)
    classes = entry.classes if classes is None else int(classes)
    if classes < 1:
        raise ValueError(f"network {name}: classes={classes} must be at least 1")
    inputs = keras.Input(shape, name="input_layer")
    outputs = builder(entry)(inputs, include_top=include_top, classes=classes)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from networks import weights as weight_files

        weight_files.load(model, weights)
    return model


def preprocess_input(name, x):
    """Pixels 0..255 -> the input network `name` expects (keras.applications' modes: caffe for
    vgg16/resnet50, torch for densenet121, tf for inception_v3)."""
    from networks import preprocessing

    return preprocessing.apply(get(name).preprocessing, x)
