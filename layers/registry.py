"""The layer registry: what `cnn gradcheck`, the serialization tests and the benchmark iterate.

A registered layer names its class, a grid of cases (constructor config + input shape) and,
optionally, how to build its reference counterpart (a Keras/TensorFlow layer taking the same
config and the same weights) that forward and gradients are compared against.
"""
from dataclasses import dataclass, field
from typing import Callable

_REGISTRY = {}


@dataclass(frozen=True)
class Case:
    """One configuration to check: constructor arguments and a (small) input shape."""

    config: dict
    input_shape: tuple

    @property
    def label(self):
        parts = [f"{k}={v}" for k, v in self.config.items()]
        return f"in={self.input_shape} " + " ".join(parts)


@dataclass
class LayerEntry:
    name: str
    layer_class: type
    cases: list = field(default_factory=list)
    reference: Callable | None = None  # config -> keras layer with the same weights layout
    bench_cases: list = field(default_factory=list)  # larger cases for `make bench`


def register(layer_class=None, *, cases, reference=None, bench_cases=(), name=None):
    """Register a layer class (usable as a decorator). Re-registering a name replaces it."""

    def _register(cls):
        if not cases:
            raise ValueError(f"Register {cls.__name__} with at least one Case to check.")
        key = name or cls.__name__
        _REGISTRY[key] = LayerEntry(key, cls, list(cases), reference, list(bench_cases))
        return cls

    return _register(layer_class) if layer_class is not None else _register


def get(name):
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"No registered layer named {name!r}. Registered: {known}.")
    return _REGISTRY[name]


def names():
    return sorted(_REGISTRY)


def entries():
    return [_REGISTRY[n] for n in names()]
