"""Pipeline configs: one dataclass per pipeline, overridable from the command line.

A pipeline's config subclasses `BaseConfig` and adds its own fields with the defaults a
practitioner would choose, each number with its range rule (pipelines/core/settings.py). What
a run may add is nested under the extension's name (`adversarial.epsilon`, `ema.momentum`:
pipelines/extensions), each part checking itself; adding an extension changes no class here.

`override(config, ["key=value", ...])` applies `--set` arguments, parsing each value with its
field's type; a nested setting is named `adversarial.epsilon` or, as it always was,
`adversarial_epsilon`. An unknown key is a `ValueError` naming it. `from_dict` reads a
config.json record back, the flat spellings of older records included.
"""
from __future__ import annotations

import dataclasses
import json
import typing

from pipelines import extensions
from pipelines.core import settings
from pipelines.core.settings import fraction, positive
from pipelines.core.suggest import did_you_mean


def _with_extensions(cls):
    """Nest each extension's settings in `cls` under its name, defaults (off) included."""
    for nested in extensions.settings():
        cls.__annotations__[nested.NAME] = nested
        setattr(cls, nested.NAME, dataclasses.field(default_factory=nested))
    return cls


@dataclasses.dataclass
@_with_extensions
class BaseConfig:
    """Fields every pipeline has; the CLI options `--epochs/--batch-size/--seed` set them."""

    epochs: int = positive(10)
    batch_size: int = positive(64)
    seed: int = 0
    learning_rate: float = positive(1e-3)
    network: str = ""  # which network of the pipeline to build (each pipeline names its own)
    test_fraction: float = fraction(0.2)  # held out (stratified, seeded) when a source has no test split
    validation_fraction: float = fraction(0.0)  # held out of training for validation; 0 = none

    def __post_init__(self):
        settings.check(self)
        held_out = self.test_fraction + self.validation_fraction
        if held_out >= 1:
            raise ValueError(f"--set test_fraction={self.test_fraction} and validation_fraction="
                             f"{self.validation_fraction}: together they must be less than 1")


def _nested(config_class):
    """{field name: settings class} of the extension settings nested in `config_class`."""
    hints = typing.get_type_hints(config_class)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)
            if dataclasses.is_dataclass(hints[field.name])}


def _keys(config_class):
    """Every name --set and records know -> (field, nested field or None): plain fields, and
    each nested setting as `adversarial.epsilon` and by its flat name `adversarial_epsilon`."""
    nested = _nested(config_class)
    keys = {}
    for field in dataclasses.fields(config_class):
        if field.name not in nested:
            keys[field.name] = (field.name, None)
            continue
        for inner in dataclasses.fields(nested[field.name]):
            place = (field.name, inner.name)
            keys[f"{field.name}.{inner.name}"] = keys[nested[field.name].flat_name(inner.name)] = place
    return keys


def option_names(config_class) -> list:
    """The --set keys of `config_class`, nested settings by their flat names."""
    return [name for name in _keys(config_class) if "." not in name]


def _parse(text, kind, key):
    """A --set value as the field's type (int, float, bool, str, tuple of int/float)."""
    origin = typing.get_origin(kind)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={text}: expected true or false")
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_parse(part, item, key) for part in text.split(",") if part.strip())
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise ValueError(f"--set {key}={text}: expected {kind.__name__}") from None


def _replace(config, changes):
    """`config` with {(field, nested field or None): value} applied; nested settings rebuilt
    (and so checked) with their changes."""
    plain = {field: value for (field, inner), value in changes.items() if inner is None}
    for field in {field for field, inner in changes if inner is not None}:
        inner_changes = {inner: value for (name, inner), value in changes.items() if name == field and inner}
        plain[field] = dataclasses.replace(getattr(config, field), **inner_changes)
    return dataclasses.replace(config, **plain)


def override(config, assignments):
    """A copy of `config` with `key=value` assignments applied."""
    keys = _keys(type(config))
    hints = typing.get_type_hints(type(config))
    nested = _nested(type(config))
    changes = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not separator:
            raise ValueError(f"--set {assignment}: expected key=value")
        if key not in keys:
            known = option_names(type(config))
            hint = did_you_mean(key, known) or f" (known: {', '.join(known)})"
            raise ValueError(f"unknown --set key '{key}' for {type(config).__name__}{hint}")
        field, inner = keys[key]
        kind = typing.get_type_hints(nested[field])[inner] if inner else hints[field]
        changes[(field, inner)] = _parse(value, kind, key)
    return _replace(config, changes)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(config_class, values: dict):
    """A config from a saved dict (config.json): nested settings as dicts or, as older records
    have them, by their flat names; unknown keys are an error."""
    keys = _keys(config_class)
    nested = _nested(config_class)
    unknown = sorted(key for key, value in values.items()
                     if key not in keys and not (key in nested and isinstance(value, dict)))
    if unknown:
        raise ValueError(f"unknown config key(s) for {config_class.__name__}: {', '.join(unknown)}")
    changes = {}
    for key, value in values.items():
        if key in nested and isinstance(value, dict):
            changes.update({keys[f"{key}.{inner}"]: item for inner, item in value.items()})
        else:
            changes[keys[key]] = value
    hints = typing.get_type_hints(config_class)
    plain = {}
    for (field, inner), value in changes.items():
        kind = typing.get_type_hints(nested[field])[inner] if inner else hints[field]
        plain[(field, inner)] = tuple(value) if typing.get_origin(kind) is tuple else value
    inner_values = {}
    for (field, inner), value in plain.items():
        if inner is not None:
            inner_values.setdefault(field, {})[inner] = value
    flat = {field: value for (field, inner), value in plain.items() if inner is None}
    flat.update({field: nested[field](**values) for field, values in inner_values.items()})
    return config_class(**flat)


def dumps(config) -> str:
    return json.dumps(to_dict(config), indent=2)
