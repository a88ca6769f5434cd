"""The AlphaGo supervised-learning policy network (Silver et al. 2016, Methods)."""
import keras

import layers
from networks.registry import register


@keras.saving.register_keras_serializable(package="networks")
class PositionBias(keras.layers.Layer):
    """Adds one learned bias per board point: (N, H, W, 1) + (H, W, 1). The paper's final 1x1
    convolution has "a different bias for each position"."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", name="bias")

    def call(self, inputs):
        return inputs + self.bias

    def compute_output_shape(self, input_shape):
        return input_shape


@register("alphago_policy")
def alphago_policy(x, *, num_classes, include_top=True, classifier_activation=None, filters=192, hidden=11):
    """(N, 19, 19, 48) feature planes -> (N, 361) move logits over the board points
    (`classifier_activation="softmax"`: probabilities, the `predictions` layer).

    A 5x5 convolution with `filters` filters, `hidden` 3x3 convolutions, ReLU and zero padding
    throughout (the board size is kept), then a 1x1 convolution to one plane whose bias is one
    per point, flattened (into a softmax). `num_classes` must be the number of points.
    Without the top: the (N, 19, 19, filters) features.
    """
    points = x.shape[1] * x.shape[2]
    if include_top and num_classes != points:
        raise ValueError(f"alphago_policy predicts one of the {points} board points; num_classes={num_classes}")
    x = layers.Conv2D(filters, 5, padding="same", activation="relu", name="conv1")(x)
    for i in range(2, hidden + 2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    if not include_top:
        return x
    x = layers.Conv2D(1, 1, use_bias=False, name="policy_conv")(x)  # (N, 19, 19, 1)
    x = PositionBias(name="position_bias")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # (N, 361)
    return keras.layers.Activation(classifier_activation, name="predictions")(x) if classifier_activation else x
