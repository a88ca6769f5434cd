"""Networks over log-mel features (N, frames, n_mels) -> logits, from our `layers` only.

- `conv1d`: convolution over time with the mel bins as channels. A spoken word is a short
  sequence of spectral shapes; treating the 64 bands as channels lets the first layer see the
  whole spectrum of each frame, which is cheap (a 1D kernel over ~100 frames) and accurate.
- `conv2d`: a small VGG-like stack over the (time, mel) image, for comparison.

Both end in global max (+ average) pooling over time (so a word can be anywhere in the clip),
dropout and a linear layer; batch norm after every convolution, momentum 0.9: audio runs are
short (a few hundred to a few thousand steps), and the moving statistics must settle in them.
"""
import keras

import layers
from networks.blocks import classifier_head, conv_norm_act
from networks.registry import register


@register("conv1d")
def conv1d(x, *, num_classes, include_top=True, width=64, dropout=0.3, momentum=0.9):
    """(N, T, mels) -> (N, num_classes), or the (N, T / 4, 4 width) features without the top;
    a stem and 3 blocks of 2 Conv1D, x2 pooling."""
    x = conv_norm_act(x, width, 5, momentum=momentum, name="stem")  # (N, T, w)
    for block, filters in enumerate((width, 2 * width, 4 * width)):
        x = conv_norm_act(x, filters, 3, momentum=momentum, name=f"b{block}a")
        x = conv_norm_act(x, filters, 3, momentum=momentum, name=f"b{block}b")
        if block < 2:
            x = layers.MaxPooling1D(2, name=f"b{block}_pool")(x)  # T -> T // 2
    if not include_top:
        return x
    # (N, T / 4, 4w) -> max and average over time, (N, 8w)
    return classifier_head(x, num_classes, dropout, ("max", "avg"),
                           names={"max": "gmax", "avg": "gavg", "concat": "pool"})


@register("conv2d")
def conv2d(x, *, num_classes, include_top=True, width=32, dropout=0.3, momentum=0.9):
    """(N, T, mels) -> (N, num_classes), or the (N, T / 8, M / 8, 4 width) features without the
    top; Conv2D over (time, mel) as a one-channel image."""
    x = keras.layers.Reshape((x.shape[1], x.shape[2], 1), name="as_image")(x)  # (N, T, M, 1)
    for block, filters in enumerate((width, 2 * width, 4 * width)):
        x = conv_norm_act(x, filters, 3, momentum=momentum, name=f"b{block}a")
        x = conv_norm_act(x, filters, 3, momentum=momentum, name=f"b{block}b")
        x = layers.MaxPooling2D(2, name=f"b{block}_pool")(x)  # (N, T/2, M/2, filters)
    if not include_top:
        return x
    # (N, T / 8, M / 8, 4w) -> max over time and mel, (N, 4w)
    return classifier_head(x, num_classes, dropout, ("max",), names={"max": "gmax"})

