"""A Keras model cut in two for the explanation methods, from its functional graph.

keras-io's Grad-CAM fails on models whose preprocessing sits inside the graph or in a nested
model (keras-io #1903): it looks for the convolution inside a sub-model. Here every cut is made
in the model's own graph (`keras.Model(inputs, intermediate)` and a second model from that
intermediate tensor to the output), so preprocessing layers (resize, log-mel, vectorisation)
are simply part of the front. A stage hidden inside a nested model cannot be cut out: that is
refused by name (`--method saliency` still works, through the whole model).
"""
from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

# Layers that keep a convolution's output shape and belong to its stage (norm, activation).
_STAGE_TAIL = (keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU,
               keras.layers.LeakyReLU)


@dataclasses.dataclass
class Split:
    front: object  # callable: served input batch -> tensor at the cut
    back: object  # callable: tensor at the cut -> probabilities


def _model(inputs, outputs, name):
    return keras.Model(inputs, outputs, name=name)


def at_layer(model, layer_name):
    """Cut `model` at the output of `layer_name` (None: at the served input, nothing cut)."""
    if layer_name is None:
        return Split(lambda x: keras.ops.convert_to_tensor(x), lambda f: model(f, training=False))
    layer = _layer(model, layer_name)
    front = _model(model.input, layer.output, "explain_front")
    back = _model(layer.output, model.outputs, "explain_back")
    return Split(lambda x: front(tf.convert_to_tensor(x), training=False),  # (strings too)
                 lambda f: _single(back(f, training=False)))


# Grad-CAM's default stage is the deepest whose map has at least this many cells along every
# spatial axis. A coarser map is not faithful: the digits network's last stage is 2x2 (quarters
# of the image), and deleting the top 10% of its map lowers p(class) less than deleting a random
# 10%; at 4x4 the top 10% wins, as at every default stage measured (docs/explanations.md, "Which Grad-CAM stage by default").
MIN_STAGE_CELLS = 4


def conv_stage(model, layer_name=None):
    """For Grad-CAM: (served input -> (activations, probabilities), stage name) at `layer_name`,
    or at `default_stage`, each stage ending with its norm/activation layers."""
    return stage_model(model, layer_name or default_stage(model))


def default_stage(model):
    """The deepest convolution stage whose map has at least MIN_STAGE_CELLS cells along every
    spatial axis (a size unknown in the graph counts as enough); when none has, the finest."""
    names = convolution_stages(model)
    spatial = {name: tuple(model.get_layer(name).output.shape[1:-1]) for name in names}
    fine = [name for name in names if all(size is None or size >= MIN_STAGE_CELLS for size in spatial[name])]
    if fine:
        return fine[-1]
    return max(names, key=lambda name: math.prod(spatial[name]))  # the first of the finest


def convolution_stages(model):
    """Names of the layers ending each convolution stage of the model's own graph (the
    convolution, or the batch norm / activation layers right after it), in graph order."""
    stages = []
    for index, layer in enumerate(model.layers):
        if not _is_convolution(layer):
            continue
        shape = tuple(layer.output.shape)
        while (index + 1 < len(model.layers) and isinstance(model.layers[index + 1], _STAGE_TAIL)
               and tuple(model.layers[index + 1].output.shape) == shape):
            index += 1
        stages.append(model.layers[index].name)
    if not stages:
        nested = [layer.name for layer in model.layers
                  if any(_is_convolution(inner) for inner in all_layers(layer))]
        where = f" (its convolutions are inside {', '.join(nested)})" if nested else ""
        raise ValueError(f"model {model.name}: Grad-CAM needs a convolution layer in the model's own "
                         f"graph{where}; use --method saliency, smoothgrad or integrated-gradients")
    return stages


def stage_model(model, layer_name):
    """(callable: served input -> (activations of `layer_name`, probabilities), the layer name)."""
    layer = _layer(model, layer_name)
    joint = _model(model.input, [layer.output, _single(model.outputs)], "explain_stage")
    return (lambda x: joint(x, training=False)), layer_name


def all_layers(layer):
    """`layer` and every layer inside it (nested models, wrappers such as test-time flips)."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


def first_convolution(model):
    """The first convolution layer of `model`, nested ones included (its filters see the input)."""
    for layer in all_layers(model):
        if _is_convolution(layer):
            return layer
    raise ValueError(f"model {model.name}: no convolution layer")


def _is_convolution(layer):
    """Our convolution layers (and Keras's), not the transposed ones of a decoder's up path."""
    kernel_rank = len(getattr(layer, "kernel_size", ()) or ())
    return kernel_rank > 0 and hasattr(layer, "filters") and "Transpose" not in type(layer).__name__


def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        raise ValueError(f"model {model.name}: no layer named '{name}' in its own graph") from None


def _single(outputs):
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs
