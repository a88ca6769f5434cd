"""cnn-suite networks, built from our `layers` (convolution and pooling) and Keras.

One registry (networks/registry.py): every network under one unique name with one signature,
`(x, *, num_classes, include_top=True, **hparams) -> logits`. `create(name, x, ...)` puts one
into a graph, `build(name, ...)` makes a stand-alone keras.Model (the model zoo, `cnn zoo`);
the table is plain data, and TensorFlow is imported only when a network is built.
"""
from networks.registry import (Choice, ChoiceNames, ChosenNetwork, create, entries, get, names,  # noqa: F401
                               register)


def build(name, *, input_shape=None, num_classes=None, include_top=True, weights=None, **hparams):
    """Network `name` as a keras.Model (see networks.zoo.build)."""
    from networks import zoo

    return zoo.build(name, input_shape=input_shape, num_classes=num_classes, include_top=include_top,
                     weights=weights, **hparams)


def preprocess_input(name, x):
    """Pixels 0..255 -> network `name`'s input (its `preprocessing` mode)."""
    from networks import preprocessing

    return preprocessing.apply(get(name).preprocessing, x)
