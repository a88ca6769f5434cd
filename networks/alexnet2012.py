"""AlexNet as in the paper (Krizhevsky et al. 2012) at 227x227x3, the lecture's 62.37 M weights;
`networks/alexnet.py` is its recipe scaled to 32x32 images."""
import keras

import layers
from networks.registry import register


@register("alexnet")
def alexnet2012(x, *, num_classes, include_top=True, classifier_activation=None, groups=1, dropout=0.5):
    """(N, 227, 227, 3) -> (N, num_classes) logits (`classifier_activation`: a softmax top), or
    the (N, 6, 6, 256) features without the top.

    Single tower 96-256-384-384-256 (`groups=2`: the paper's two-GPU split, conv2, conv4 and
    conv5 each see half of their input channels), ReLU, local response normalisation after
    conv1 and conv2, overlapping 3x3 stride-2 max pooling, fc6 and fc7 of 4096 with dropout 0.5.
    """
    x = layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(x)  # (N, 55, 55, 96)
    x = layers.LocalResponseNormalization(name="norm1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)  # (N, 27, 27, 96)
    x = layers.Conv2D(256, 5, padding="same", groups=groups, activation="relu", name="conv2")(x)
    x = layers.LocalResponseNormalization(name="norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)  # (N, 13, 13, 256)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(384, 3, padding="same", groups=groups, activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", groups=groups, activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)  # (N, 6, 6, 256)
    if not include_top:
        return x
    x = keras.layers.Flatten(name="flatten")(x)  # (N, 9216)
    x = keras.layers.Dense(4096, activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)


@register("alexnet_grouped")
def alexnet_grouped(x, *, num_classes, include_top=True, classifier_activation=None, dropout=0.5):
    """AlexNet with the paper's two-GPU connectivity (groups=2): 60,965,224 parameters."""
    return alexnet2012(x, num_classes=num_classes, include_top=include_top,
                       classifier_activation=classifier_activation, groups=2, dropout=dropout)
