"""The text pipeline's in-model string handling: UTF-8 repair before vectorisation."""
import keras
import tensorflow as tf


def repair_utf8(text):
    """tf ops: replace bytes that are not UTF-8 by U+FFFD, so standardisation never fails."""
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")


@keras.saving.register_keras_serializable(package="cnn_suite")
class RepairUtf8(keras.layers.Layer):
    """string [batch] -> string [batch] with invalid UTF-8 replaced (U+FFFD)."""

    def call(self, text):
        return repair_utf8(text)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, text):
        return keras.KerasTensor(text.shape, dtype="string")

