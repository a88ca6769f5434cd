"""The network a LiteRT or ONNX file ships: ours with each of our layers replaced by its
registered keras.layers reference (layers/registry.py), the weights copied.

Why: our convolutions and poolings trace to Gather + MatMul graphs, and the runtimes have fast
kernels only for their own Conv and Pool nodes (XNNPACK in LiteRT, MLAS in ONNX Runtime): the
objects ResNet's LiteRT file ran 58x slower than the same network of keras.layers at batch 1
(docs/BENCHMARKS.md, "LiteRT and ONNX exports"). Our layers are drop-ins for keras.layers (same
config and weights), so the twin computes the same function; `shipped` checks that it does on
served examples before it goes into a file. Where a runtime has no kernel for the keras.layers
op, the twin takes a layer built from ops it has (LiteRT: 3D pooling as two 2D poolings, pool3d.py),
checked the same way. A layer of ours without a reference (a user's registered or hand-written
layer) stays ours, and the export says which.
"""
from __future__ import annotations

import collections
import dataclasses
import logging

import numpy as np

from layers import registry
from layers.base import HandWrittenLayer
from serving.formats import Refused, check_batch, pool3d

# largest difference of the twin's probabilities from ours, float32 compute (measured 0 to 6e-8 on
# the pipelines' small test networks); other compute dtypes (mixed_float16) carry float16 rounding
TOLERANCE = {"float32": 1e-4}
LOW_PRECISION_TOLERANCE = 1e-2
# where a runtime lacks a keras.layers op's kernel, the twin takes a layer made of ops it has instead:
# LiteRT's converter leaves tf.MaxPool3D and tf.AvgPool3D as Flex ops, which its runtime lacks, so
# there 3D pooling is two 2D poolings (pool3d.py); {format: {registered name: config -> layer}}
FORMAT_REFERENCES = {"litert": {"MaxPooling3D": pool3d.MaxPooling3DBy2D.from_config,
                                "AveragePooling3D": pool3d.AveragePooling3DBy2D.from_config}}
log = logging.getLogger(__name__)  # unconfigured, Python prints a warning's message alone on stderr


class Differs(Refused):
    """The twin does not compute our model's function; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Shipped:
    """What goes into the file: `model`, with `native` ({keras.layers class: count}) of our layers
    replaced, `kept` ("name (Class)") of ours left as they are, and the check's largest difference."""

    model: object
    native: dict
    kept: list
    difference: float | None = None

    def kernels(self):
        """The export metadata's record of which kernels the file uses."""
        return {"native": dict(sorted(self.native.items())), "ours": list(self.kept),
                "checked_max_difference": self.difference}


def _references(format=None):
    """{our layer class: config -> keras.layers layer} for every registered layer with a reference,
    or with one for `format` (FORMAT_REFERENCES)."""
    special = FORMAT_REFERENCES.get(format, {})
    found = {entry.layer_class: special.get(entry.name, entry.reference) for entry in registry.entries()}
    return {cls: reference for cls, reference in found.items() if reference is not None}


def _ours(layer):
    """Whether `layer` is computed by our code: a registered class (or a subclass) or a hand-written layer."""
    return isinstance(layer, (HandWrittenLayer, *(entry.layer_class for entry in registry.entries())))


def keras_layers_twin(model, format=None):
    """(`model` with each of our layers whose exact class has a registered reference replaced by
    that keras.layers layer with the same config (or by the one `format`'s runtime has kernels
    for, FORMAT_REFERENCES), the weights copied, and every other layer shared; the layers of ours kept)."""
    import keras

    references = _references(format)

    def clone(layer):  # the others are shared, with their state (a vocabulary's lookup table) and weights
        reference = references.get(type(layer))
        if reference is not None:
            return reference(layer.get_config())
        if isinstance(layer, keras.layers.Wrapper):  # a new wrapper around the wrapped network's twin
            inner = layer.layer
            inner = keras.models.clone_model(inner, clone_function=clone, recursive=True) \
                if isinstance(inner, keras.Model) else clone(inner)
            config = {key: value for key, value in layer.get_config().items() if key != "layer"}
            return type(layer)(inner, **config) if inner is not layer.layer else layer
        return layer

    twin = keras.models.clone_model(model, clone_function=clone, recursive=True)
    replaced = {layer.name: layer for layer in _flat(model) if type(layer) in references}
    for layer in _flat(twin):
        if layer.name in replaced:
            layer.set_weights(replaced[layer.name].get_weights())
    return twin, [layer for layer in _flat(twin) if _ours(layer)]


def _flat(layer):
    """Every layer inside `layer`: nested models' and wrappers' (keras.layers.Wrapper) included."""
    import keras

    inside = layer.layers if hasattr(layer, "layers") else \
        [layer.layer] if isinstance(layer, keras.layers.Wrapper) else []
    for child in inside:
        yield child
        yield from _flat(child)


def difference(model, twin, examples):
    """Largest absolute difference of the two models' outputs on `examples` (NumPy, batch first)."""
    largest = 0.0
    size = check_batch(examples)
    for start in range(0, len(examples), size):
        batch = examples[start:start + size]
        ours = np.asarray(model(batch, training=False), np.float64)
        theirs = np.asarray(twin(batch, training=False), np.float64)
        largest = max(largest, float(np.abs(ours - theirs).max()))
    return largest


def tolerance(model):
    return TOLERANCE.get(model.compute_dtype, LOW_PRECISION_TOLERANCE)


def shipped(model, pipeline_name, examples, format):
    """The model to convert to `format`: the keras.layers twin of `model`, checked on `examples`
    (served inputs, NumPy, batch first); Differs when it is further than `tolerance` from ours."""
    twin, kept = keras_layers_twin(model, format)
    native = collections.Counter(type(layer).__name__ for ours, layer in zip(_flat(model), _flat(twin))
                                 if _ours(ours) and not _ours(layer))
    gap = None
    if native:
        if examples is None or not len(examples):
            raise ValueError(f"{pipeline_name}: needs served examples to check the keras.layers twin on")
        gap = difference(model, twin, np.asarray(examples))
        if not gap <= tolerance(model):  # NaN fails too
            raise Differs(f"{pipeline_name}: the network of the runtime's own convolution and pooling (keras.layers) "
                          f"differs from model.keras by {gap:.2e} (more than {tolerance(model):.0e}) on "
                          f"{len(examples)} examples; export --format saved_model, which keeps our layers")
    if kept:
        log.warning(f"{pipeline_name}: {', '.join(label(layer) for layer in kept)} stay our layers in the file "
                    f"(no keras.layers reference registered); the other {sum(native.values())} use the runtime's "
                    "own kernels")
    return Shipped(twin if native else model, dict(native), [label(layer) for layer in kept], gap)


def label(layer):
    return f"{layer.name} ({type(layer).__name__})"
