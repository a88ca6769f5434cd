"""The digit networks of the lecture: LeCun et al. 1989 and LeNet-5 (LeCun et al. 1998)."""
import keras

import layers
from networks.blocks import conv_norm_act, logits
from networks.registry import register


@register("lecun1989")
def lecun1989(x, *, num_classes, include_top=True, filters=(32, 64, 128), dense_units=128, dropout=0.3,
              momentum=0.9):
    """(N, size, size, 1) -> (N, num_classes): strided convolutions (no pooling), dense, logits;
    without the top, the last convolution's (N, size / 2^len(filters), .., filters[-1]).

    LeCun 1989 style: one strided convolution per entry of `filters` (5x5, then 3x3 from the
    third on), each with batch norm and ReLU; the 1989 sizes are filters=(12, 12),
    dense_units=30. Batch norm momentum 0.9: digit runs are short (a few hundred to a few
    thousand steps), and the moving statistics must settle in them.
    """
    for index, width in enumerate(filters):
        name = f"h{index + 1}"
        x = conv_norm_act(x, width, 5 if index < 2 else 3, strides=2, momentum=momentum,
                          name=name, names={"conv": name, "act": None})  # 16 -> 8 -> 4 -> 2
    if not include_top:
        return x
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
    return logits(x, num_classes, dropout, dropout_name=None)


@register("lenet5")
def lenet5(x, *, num_classes, include_top=True):
    """(N, size, size, 1) -> (N, num_classes), or C5's (N, 1, 1, 120) without the top: LeNet-5,
    C1 6@5x5, S2, C3 16@5x5, S4, C5 120, F6 84, tanh, pooling by averaging. C1 is padded 'same' (the paper's 32x32 is 28x28 with a 2-pixel
    border). Needs size >= 28 (C5 is a 5x5 convolution over S4), which gives the shapes below."""
    x = layers.Conv2D(6, 5, padding="same", activation="tanh", name="c1")(x)  # (N, 28, 28, 6)
    x = layers.AveragePooling2D(2, name="s2")(x)  # (N, 14, 14, 6)
    x = layers.Conv2D(16, 5, activation="tanh", name="c3")(x)  # (N, 10, 10, 16)
    x = layers.AveragePooling2D(2, name="s4")(x)  # (N, 5, 5, 16)
    x = layers.Conv2D(120, 5, activation="tanh", name="c5")(x)  # (N, 1, 1, 120)
    if not include_top:
        return x
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(84, activation="tanh", name="f6")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)
