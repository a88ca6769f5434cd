"""The text pipeline's model parts: UTF-8 repair and the Kim (2014) CNN, from our `layers`."""
import keras
import tensorflow as tf

import layers


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


def kim_cnn(tokens, num_classes, vocabulary_size, embedding_dim=128, kernel_sizes=(3, 4, 5),
            filters=100, embedding_dropout=0.25, dropout=0.5, embedding_weights=None,
            trainable_embeddings=True):
    """tokens [batch, length] int -> logits [batch, classes] (Kim 2014).

    CNN-rand without `embedding_weights`; with a [vocabulary_size, embedding_dim] matrix of
    pre-trained vectors, CNN-non-static (`trainable_embeddings`) or CNN-static (frozen).
    Each width k looks at k-grams; max pooling over time keeps each feature's strongest
    occurrence anywhere in the text, so the concatenation is length-independent.
    """
    if embedding_weights is not None and tuple(embedding_weights.shape) != (vocabulary_size, embedding_dim):
        raise ValueError(f"embedding_weights of shape {tuple(embedding_weights.shape)}, expected "
                         f"({vocabulary_size}, {embedding_dim})")
    # `weights` sets the initial values only (they are not part of the layer's config).
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding",
                               weights=embedding_weights, trainable=trainable_embeddings)(tokens)  # [B, L, E]
    x = keras.layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
    pooled = []
    for k in kernel_sizes:
        h = layers.Conv1D(filters, k, activation="relu", name=f"conv{k}")(x)  # [B, L-k+1, F]
        pooled.append(layers.GlobalMaxPooling1D(name=f"max{k}")(h))  # [B, F]
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="features")(pooled)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)
