"""AlexNet scaled to 32x32 colour images, as TensorFlow's CIFAR-10 tutorial model."""
import keras

import layers
from networks.blocks import logits
from networks.registry import register


@register("alexnet_cifar")
def alexnet_cifar(x, *, num_classes, include_top=True, width=64, dropout=0.5):
    """(N, 32, 32, 3) -> (N, num_classes), or the (N, 4, 4, 2 width) features without the top:
    the AlexNet recipe at 32x32 (`networks/alexnet2012.py` is the paper's).

    5x5 convolutions with ReLU, overlapping 3x3/2 max pooling, local response normalisation,
    two fully connected layers (6 and 3 x width) with dropout. No batch norm (AlexNet predates
    it); `width` is the filters of the first convolutions.
    """
    x = layers.Conv2D(width, 5, padding="same", activation="relu", name="conv1")(x)  # (N, 32, 32, w)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)  # (N, 16, 16, w)
    x = layers.LocalResponseNormalization(name="norm1")(x)
    x = layers.Conv2D(width, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.LocalResponseNormalization(name="norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)  # (N, 8, 8, w)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)  # (N, 4, 4, 2w)
    if not include_top:
        return x
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6 * width, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(3 * width, activation="relu", name="fc2")(x)
    return logits(x, num_classes, dropout, dropout_name=None)
