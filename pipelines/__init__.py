"""Pipelines by name: `pipelines.get("digits")` -> the Pipeline class; see pipelines/base.py.

Every module in this package is imported on first lookup, so a new pipeline is one new module
whose class is decorated with `@pipelines.register`.
"""
import importlib
import pkgutil

_REGISTRY = {}
_loaded = False


def register(cls):
    """Class decorator: make a Pipeline subclass available by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"pipeline name '{cls.name}' is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all():
    global _loaded
    if not _loaded:
        _loaded = True
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")


def get(name):
    """The Pipeline class registered under `name`; ValueError lists the known names."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown pipeline '{name}' (known: {', '.join(names())})")
    return _REGISTRY[name]


def names():
    _load_all()
    return sorted(_REGISTRY)
