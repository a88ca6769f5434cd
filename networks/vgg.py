"""VGG-16 (Simonyan and Zisserman 2015), layer for layer as keras.applications.VGG16, any rank."""
import keras

import layers
from networks.blocks import rank_of
from networks.registry import register

STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (filters, convolutions) per block


@register("vgg16")
def vgg16(x, *, num_classes, include_top=True, classifier_activation=None):
    """(N, *S, C) -> (N, num_classes) logits (`classifier_activation`: keras.applications'
    softmax top), or the (N, *S / 32, 512) features without the top.

    Five blocks of 3^rank convolutions (ReLU, 'same') each ending in 2^rank max pooling, then
    Flatten, fc1 and fc2 (4096, ReLU) and `predictions`: the names and weight order of
    keras.applications, so its weight files load.
    """
    conv, pool = layers.conv_layer(rank_of(x)), layers.pooling_layer(rank_of(x))
    for block, (filters, convolutions) in enumerate(STAGES, start=1):
        for i in range(1, convolutions + 1):
            x = conv(filters, 3, activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = pool(2, strides=2, name=f"block{block}_pool")(x)  # (N, *S / 2^block, filters)
    if not include_top:
        return x
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc2")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
