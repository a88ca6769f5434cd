"""The units every network is built from, written once for 1D, 2D and 3D.

The rank comes from the input, (N, *spatial, C), and picks our convolution and pooling classes
through `layers.conv_layer(rank)` / `layers.pooling_layer(rank)`, as MONAI's factories do.
Batch normalisation momentum is an explicit argument: each network states the value it trains
with (0.9 for short 1D/2D runs, Keras's 0.99 for the 3D networks).

Layer names: each block names its layers after `name`. `names` overrides some of them (None:
Keras's automatic name) for networks whose saved runs predate the blocks, so that a rebuilt
model has the layer names those runs were trained with.
"""
import contextlib
import contextvars

import keras

import layers

# Whether BatchNormalization layers built now compute batch statistics over all replicas of a
# tf.distribute strategy (see `synchronized_batch_norm`).
_SYNCHRONIZED = contextvars.ContextVar("synchronized_batch_norm", default=False)


@contextlib.contextmanager
def synchronized_batch_norm(enabled=True):
    """Networks built inside this get `BatchNormalization(synchronized=True)`: under a strategy
    with several replicas, each replica's batch statistics are those of the whole global batch,
    as on one device. Weights, names and momentum are unchanged; without a strategy it computes
    what plain batch norm computes."""
    token = _SYNCHRONIZED.set(bool(enabled))
    try:
        yield
    finally:
        _SYNCHRONIZED.reset(token)


def relu(name=None):
    """The ReLU of the 1D and 2D networks, an `Activation("relu")` layer."""
    return keras.layers.Activation("relu", name=name)


def rank_of(x):
    """Spatial rank of a channels-last tensor (N, *spatial, C)."""
    return len(x.shape) - 2


def conv_norm(x, filters, kernel, strides=1, *, momentum, conv_name, norm_name, padding="same", use_bias=False,
              epsilon=1e-3, scale=True):
    """(N, *S, C) -> (N, *S / strides, filters): convolution (by default without bias: batch norm
    adds the shift), then batch normalisation (Keras's epsilon; `scale=False` when a ReLU follows
    and the next layer scales)."""
    conv = layers.conv_layer(rank_of(x))
    x = conv(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, name=conv_name)(x)
    return keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, scale=scale,
                                           synchronized=_SYNCHRONIZED.get(), name=norm_name)(x)


def conv_norm_act(x, filters, kernel, strides=1, *, momentum, name, names=None, activation=relu, **conv_norm_options):
    """(N, *S, C) -> (N, *S / strides, filters): convolution ('same', no bias), batch norm, ReLU.

    Layers `{name}_conv`, `{name}_bn`, `{name}_relu` (`name=None`: Keras's automatic names);
    `names` overrides "conv", "norm", "act". `activation(name=...)` makes the activation layer
    (the 3D networks use `keras.layers.ReLU`; None: no activation). `conv_norm_options`
    (padding, use_bias, epsilon, scale) go to `conv_norm`, e.g. keras.applications' ResNet50
    convolutions with bias and its epsilon 1.001e-5.
    """
    defaults = {"conv": f"{name}_conv", "norm": f"{name}_bn", "act": f"{name}_relu"} if name else {}
    names = {"conv": None, "norm": None, "act": None, **defaults, **(names or {})}
    x = conv_norm(x, filters, kernel, strides, momentum=momentum, conv_name=names["conv"],
                  norm_name=names["norm"], **conv_norm_options)
    return activation(name=names["act"])(x) if activation else x


def conv_block(x, filters, convolutions=2, *, momentum, name, activation=relu):
    """(N, *S, C) -> (N, *S, filters): `convolutions` x [3^rank conv_norm_act], layers
    `{name}_conv{i}`, `{name}_bn{i}`, `{name}_relu{i}` (a VGG block, a U-Net level)."""
    for i in range(convolutions):
        x = conv_norm_act(x, filters, 3, momentum=momentum, name=name, activation=activation,
                          names={"conv": f"{name}_conv{i}", "norm": f"{name}_bn{i}",
                                 "act": f"{name}_relu{i}"})
    return x


def residual_block(x, filters, stride=1, *, momentum, name, names=None, activation=relu):
    """(N, *S, C) -> (N, *S / stride, filters): the "basic" block of He et al. 2016, any rank.

    Two 3^rank convolutions with batch norm (the first strided), added to the input, then ReLU.
    The shortcut is the identity when the shape is unchanged, otherwise a strided 1^rank
    convolution with batch norm (the projection). Layers `{name}_conv0`, `_bn0`, `_relu0`,
    `_conv1`, `_bn1`, `_proj`, `_proj_bn`, `_add`, `_out`; `names` overrides any of these roles.
    """
    roles = ("conv0", "bn0", "relu0", "conv1", "bn1", "proj", "proj_bn", "add", "out")
    names = {**{role: f"{name}_{role}" for role in roles}, **(names or {})}
    y = conv_norm_act(x, filters, 3, stride, momentum=momentum, name=name, activation=activation,
                      names={"conv": names["conv0"], "norm": names["bn0"], "act": names["relu0"]})
    y = conv_norm(y, filters, 3, momentum=momentum, conv_name=names["conv1"], norm_name=names["bn1"])
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_norm(x, filters, 1, stride, momentum=momentum, padding="valid",
                             conv_name=names["proj"], norm_name=names["proj_bn"])
    y = keras.layers.Add(name=names["add"])([y, shortcut])
    return activation(name=names["out"])(y)


def check_downsampling(x, levels, level):
    """Raise when x (N, *S, C) is too small to be halved again at `level` of `levels`."""
    if min(x.shape[1:-1]) < 2:
        raise ValueError(f"input too small for {levels} levels: {x.shape[1:-1]} at level {level}")


def pooling_kinds(pooling):
    """A config's global pooling, 'avg', 'max' or 'avg+max', -> ("avg",), ("max",), ("avg", "max")."""
    kinds = tuple(kind for kind in ("avg", "max") if kind in pooling)
    if not kinds:
        raise ValueError(f"pooling '{pooling}': expected avg, max or avg+max")
    return kinds


def global_pool(x, kinds=("avg",), names=None):
    """(N, *S, C) -> (N, len(kinds) * C): global average and/or max pooling, concatenated in
    the order of `kinds`. Layers `global_avg`, `global_max`, `global_pool` (the concatenation);
    `names` overrides "avg", "max", "concat"."""
    names = {"avg": "global_avg", "max": "global_max", "concat": "global_pool", **(names or {})}
    pooled = [layers.pooling_layer(rank_of(x), "average" if kind == "avg" else "max", global_=True)(
        name=names[kind])(x) for kind in kinds]
    return keras.layers.Concatenate(name=names["concat"])(pooled) if len(pooled) > 1 else pooled[0]


def logits(x, num_classes, dropout, dropout_name="dropout"):
    """(N, F) -> (N, num_classes): dropout, then a dense layer `logits` (no activation: the
    losses take logits)."""
    x = keras.layers.Dropout(dropout, name=dropout_name)(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


def classifier_head(x, num_classes, dropout, pooling=("avg",), names=None):
    """(N, *S, C) -> (N, num_classes): global pooling (`global_pool`), dropout, dense logits.
    `names` overrides "avg", "max", "concat" and "dropout"."""
    names = names or {}
    pooled = global_pool(x, pooling, names)
    return logits(pooled, num_classes, dropout, names.get("dropout", "dropout"))
