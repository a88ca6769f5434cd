"""Local response normalisation as a Keras layer (Keras has none; AlexNet needs it)."""
import keras

from layers.serialization import serializable
from layers.ops.normalization import local_response_normalization


@serializable
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's LRN across channels (channels last, any rank).

    Defaults are AlexNet's (n=5 -> depth_radius=2, k=2, alpha=1e-4, beta=0.75), with
    TensorFlow's convention that alpha multiplies the plain sum of squares.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if int(depth_radius) != depth_radius or depth_radius < 0:
            raise ValueError(f"depth_radius must be a non-negative int; received {depth_radius}.")
        if bias <= 0 or alpha < 0:
            raise ValueError(f"bias must be > 0 and alpha >= 0; received bias={bias}, alpha={alpha}.")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        return local_response_normalization(inputs, self.depth_radius, self.bias, self.alpha, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
