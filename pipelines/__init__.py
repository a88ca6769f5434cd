"""Pipelines by name: `pipelines.get("digits")` -> the Pipeline class; see pipelines/core/base.py.

An explicit, lazy map from name to module, in the style of Model Garden's `exp_factory`: a
lookup imports that one domain (training digits never loads the audio or serving code, and a
broken domain breaks only itself). A new built-in pipeline is one line in `MODULES`; a user's
own pipeline registers itself with `@pipelines.register` when its module is imported.
"""
import importlib

MODULES = {
    "digits": "pipelines.images.digits",
    "objects": "pipelines.images.objects",
    "audio": "pipelines.audio.pipeline",
    "text": "pipelines.text.pipeline",
    "volumes": "pipelines.volumes.classify",
    "segment": "pipelines.volumes.segment",
}

# Each pipeline's named recipes (pipelines/core/recipes.py): pure data, so `cnn recipes` and
# `--recipe` need no TensorFlow.
RECIPE_MODULES = {
    "digits": "pipelines.images.recipes",
    "objects": "pipelines.images.recipes",
    "audio": "pipelines.audio.recipes",
    "text": "pipelines.text.recipes",
    "volumes": "pipelines.volumes.recipes",
    "segment": "pipelines.volumes.recipes",
}

_REGISTRY = {}


def register(cls):
    """Class decorator: make a Pipeline subclass available by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"pipeline name '{cls.name}' is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def get(name):
    """The Pipeline class registered under `name`; ValueError lists the known names."""
    if name not in _REGISTRY and name in MODULES:
        importlib.import_module(MODULES[name])
    if name not in _REGISTRY:
        if name in MODULES:
            raise ValueError(f"unknown pipeline '{name}': importing {MODULES[name]} did not register it")
        from pipelines.core.suggest import did_you_mean

        hint = did_you_mean(name, names()) or (f" (known: {', '.join(names())}; a pipeline of your own "
                                               "registers itself when its module is imported)")
        raise ValueError(f"unknown pipeline '{name}'{hint}")
    return _REGISTRY[name]


def names():
    return sorted(set(MODULES) | set(_REGISTRY))
