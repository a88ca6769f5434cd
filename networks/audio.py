"""Networks over log-mel features [batch, frames, n_mels] -> logits, from our `layers` only.

- `conv1d`: convolution over time with the mel bins as channels. A spoken word is a short
  sequence of spectral shapes; treating the 64 bands as channels lets the first layer see the
  whole spectrum of each frame, which is cheap (a 1D kernel over ~100 frames) and accurate.
- `conv2d`: a small VGG-like stack over the (time, mel) image, for comparison.

Both end in global max + average pooling over time (so a word can be anywhere in the clip),
dropout and a linear layer; batch normalisation after every convolution.
"""
import keras

import layers


def _conv_bn_relu(x, conv, filters, kernel, name):
    x = conv(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9: the moving statistics settle within a few hundred steps (short runs).
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def conv1d(x, num_classes, width=64, dropout=0.3):
    """x [batch, frames, mels] -> logits [batch, classes]; 3 blocks of 2 Conv1D, x2 pooling."""
    x = _conv_bn_relu(x, layers.Conv1D, width, 5, "stem")  # [B, T, w]
    for block, filters in enumerate((width, 2 * width, 4 * width)):
        x = _conv_bn_relu(x, layers.Conv1D, filters, 3, f"b{block}a")
        x = _conv_bn_relu(x, layers.Conv1D, filters, 3, f"b{block}b")
        if block < 2:
            x = layers.MaxPooling1D(2, name=f"b{block}_pool")(x)  # T -> T // 2
    pooled = keras.layers.Concatenate(name="pool")(
        [layers.GlobalMaxPooling1D(name="gmax")(x), layers.GlobalAveragePooling1D(name="gavg")(x)]
    )  # [B, 8w]
    pooled = keras.layers.Dropout(dropout, name="dropout")(pooled)
    return keras.layers.Dense(num_classes, name="logits")(pooled)


def conv2d(x, num_classes, width=32, dropout=0.3):
    """x [batch, frames, mels] -> logits; Conv2D over (time, mel) as a one-channel image."""
    x = keras.layers.Reshape((x.shape[1], x.shape[2], 1), name="as_image")(x)  # [B, T, M, 1]
    for block, filters in enumerate((width, 2 * width, 4 * width)):
        x = _conv_bn_relu(x, layers.Conv2D, filters, 3, f"b{block}a")
        x = _conv_bn_relu(x, layers.Conv2D, filters, 3, f"b{block}b")
        x = layers.MaxPooling2D(2, name=f"b{block}_pool")(x)  # [B, T/2, M/2, f]
    x = layers.GlobalMaxPooling2D(name="gmax")(x)  # [B, 4w]
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)


NETWORKS = {"conv1d": conv1d, "conv2d": conv2d}
