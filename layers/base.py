"""The extension point: a layer written as a forward and a backward, like the built-ins.

Subclass `HandWrittenLayer`, create weights in `build`, and write

    forward(self, inputs, *weights) -> (outputs, saved)
    backward(self, grad, saved)      -> (d_inputs, *d_weights)   (or d_inputs alone)

`weights` are the layer's trainable weights as tensors, in creation order. Register the class
with `layers.register(...)` and `cnn gradcheck`, the serialization tests and the benchmark pick
it up (see README, "Writing your own layer").
"""
import keras
import tensorflow as tf


class HandWrittenLayer(keras.layers.Layer):
    """Runs `forward` with `backward` as its gradient (`tf.custom_gradient`)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        missing = [m for m in ("forward", "backward") if not callable(getattr(cls, m, None))]
        if missing:
            raise TypeError(f"{cls.__name__} must define {' and '.join(missing)} (see layers.base).")

    def call(self, inputs):
        # Tensors, not variables: tf.custom_gradient would otherwise demand `variables=`.
        weights = [tf.convert_to_tensor(w) for w in self.trainable_weights]

        @tf.custom_gradient
        def _op(x, *ws):
            outputs, saved = self.forward(x, *ws)

            def grad_fn(grad):
                grads = self.backward(grad, saved)
                if not isinstance(grads, (tuple, list)):  # a weightless layer may return dx alone
                    grads = (grads,)
                if len(grads) != 1 + len(ws):
                    raise ValueError(
                        f"{type(self).__name__}.backward returned {len(grads)} gradients; "
                        f"expected {1 + len(ws)} (inputs and {len(ws)} weights)."
                    )
                return tuple(grads) if ws else grads[0]

            return outputs, grad_fn

        return _op(inputs, *weights)

    def compute_output_shape(self, input_shape):
        return input_shape
