"""The Kim (2014) CNN for sentence classification, from our `layers`."""
import keras

import layers
from networks.blocks import logits
from networks.registry import register


@register("kim")
def kim_cnn(tokens, *, num_classes, vocabulary_size, include_top=True, embedding_dim=128, kernel_sizes=(3, 4, 5),
            filters=100, embedding_dropout=0.25, dropout=0.5, embedding_weights=None,
            trainable_embeddings=True):
    """tokens (N, L) int -> (N, num_classes) logits, or the (N, len(kernel_sizes) filters) pooled
    features without the top.

    CNN-rand without `embedding_weights`; with a (vocabulary_size, embedding_dim) matrix of
    pre-trained vectors, CNN-non-static (`trainable_embeddings`) or CNN-static (frozen).
    Each width k looks at k-grams; max pooling over time keeps each feature's strongest
    occurrence anywhere in the text, so the concatenation is length-independent. No batch norm.
    """
    if embedding_weights is not None and tuple(embedding_weights.shape) != (vocabulary_size, embedding_dim):
        raise ValueError(f"embedding_weights of shape {tuple(embedding_weights.shape)}, expected "
                         f"({vocabulary_size}, {embedding_dim})")
    # `weights` sets the initial values only (they are not part of the layer's config).
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding",
                               weights=embedding_weights, trainable=trainable_embeddings)(tokens)  # (N, L, E)
    x = keras.layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
    pooled = []
    for k in kernel_sizes:
        h = layers.Conv1D(filters, k, activation="relu", name=f"conv{k}")(x)  # (N, L-k+1, F)
        pooled.append(layers.GlobalMaxPooling1D(name=f"max{k}")(h))  # (N, F)
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="features")(pooled)
    if not include_top:
        return x
    return logits(x, num_classes, dropout)
