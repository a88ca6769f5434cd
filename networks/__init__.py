"""cnn-suite networks, built from our `layers` (convolution and pooling) and Keras.

`build(name, ...)` and `preprocess_input(name, x)` give the model zoo (networks/zoo.py);
TensorFlow is imported only when a network is built.
"""


def build(name, *, input_shape=None, classes=None, include_top=True, weights=None):
    """The zoo's network `name` as a keras.Model (see networks.zoo.build)."""
    from networks import zoo

    return zoo.build(name, input_shape=input_shape, classes=classes, include_top=include_top,
                     weights=weights)


def preprocess_input(name, x):
    """Pixels 0..255 -> network `name`'s input (see networks.zoo.preprocess_input)."""
    from networks import zoo

    return zoo.preprocess_input(name, x)


def names(rank=None):
    """The zoo's network names (of a spatial rank: 2 for images, 3 for volumes)."""
    from networks import zoo

    return zoo.names(rank)
