"""Stand-alone models of registered networks, as keras.applications makes them: `build` checks
the input shape against the network's entry, adds the softmax `predictions` and loads weight files.
"""
from __future__ import annotations

import inspect

from networks import registry


def check_input_shape(entry, input_shape):
    """The input shape to build, checked: rank, channels > 0, spatial size >= the minimum."""
    shape = tuple(entry.input_shape if input_shape is None else input_shape)
    if len(shape) != len(entry.input_shape):
        raise ValueError(f"network {entry.name} takes inputs of shape {entry.input_shape} "
                         f"(rank {entry.rank}); input_shape={shape}")
    if any(size is None or int(size) < 1 for size in shape):
        raise ValueError(f"network {entry.name}: input_shape={shape} needs positive sizes")
    if entry.fixed_size and shape[:-1] != entry.input_shape[:-1]:
        raise ValueError(f"network {entry.name} takes {entry.input_shape[:-1]} inputs only; "
                         f"input_shape={shape}")
    if entry.rank and min(shape[:-1]) < entry.min_size:
        raise ValueError(f"network {entry.name} needs inputs of at least {entry.min_size} "
                         f"per side; input_shape={shape}")
    return shape


def with_softmax(name, x, include_top, hparams):
    """The builder's output with keras.applications' top: a builder that takes
    `classifier_activation` puts the softmax in its `predictions` Dense (layer for layer as
    keras.applications); for the others a softmax `predictions` layer follows the logits."""
    builder = registry.builder(name)
    if "classifier_activation" in inspect.signature(builder).parameters:
        return registry.create(name, x, include_top=include_top, classifier_activation="softmax", **hparams)
    outputs = registry.create(name, x, include_top=include_top, **hparams)
    if not include_top:
        return outputs
    import keras

    return keras.layers.Activation("softmax", name="predictions")(outputs)


def build(name, *, input_shape=None, num_classes=None, include_top=True, weights=None, **hparams):
    """The keras.Model of network `name`: (N, *input_shape) -> (N, num_classes) probabilities,
    or the features its head reads with `include_top=False`.

    input_shape: default the entry's (the paper's size); num_classes: default the entry's (1000
    for the ImageNet networks, 361 for alphago_policy); hparams: the builder's settings (the
    entry's `defaults` fill the ones a stand-alone build needs); weights: a `.weights.h5` file
    saved from this network or its keras.applications counterpart, or a legacy `.h5`
    (keras.applications' ImageNet files); a file with the top loads into `include_top=False` too.
    """
    import keras

    entry = registry.get(name)
    shape = check_input_shape(entry, input_shape)
    num_classes = entry.num_classes if num_classes is None else int(num_classes)
    if num_classes < 1:
        raise ValueError(f"network {name}: num_classes={num_classes} must be at least 1")
    inputs = keras.Input(shape, dtype=entry.dtype, name="input_layer")
    outputs = with_softmax(name, inputs, include_top, {"num_classes": num_classes, **dict(entry.defaults),
                                                       **hparams})
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from networks import weights as weight_files

        weight_files.load(model, weights)
    return model
