"""Pipeline configs: one dataclass per pipeline, overridable from the command line.

A pipeline's config subclasses `BaseConfig` and adds its own fields with the defaults a
practitioner would choose. `override(config, ["key=value", ...])` applies `--set` arguments,
parsing each value with its field's type; an unknown key is a `ValueError` naming it.
"""
from __future__ import annotations

import dataclasses
import json
import typing


@dataclasses.dataclass
class BaseConfig:
    """Fields every pipeline has; the CLI options `--epochs/--batch-size/--seed` set them."""

    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    learning_rate: float = 1e-3
    network: str = ""  # which network of the pipeline to build (each pipeline names its own)
    test_fraction: float = 0.2  # held out (stratified, seeded) when a source has no test split
    validation_fraction: float = 0.0  # held out of training for validation; 0 = none
    ema_momentum: float = 0.0  # > 0: evaluate and export an exponential moving average of the weights
    # adversarial training (pipelines/extensions/adversarial.py): none, fgsm (fast, random start) or pgd
    adversarial: str = "none"
    adversarial_epsilon: float = 0.0  # the L-inf budget in raw-input units (pixels 0..255, amplitude)
    adversarial_steps: int = 10  # PGD steps per training batch
    adversarial_fraction: float = 1.0  # share of each batch replaced by its adversarial examples
    adversarial_warmup_epochs: int = 0  # epsilon rises linearly from 0 over these first epochs
    adversarial_guard: float = 0.0  # > 0: stop at this drop of a PGD check (pipelines/extensions/adversarial_guard.py)

    def __post_init__(self):
        check(self)


# The range of every number a user can give, by field name, for every pipeline's config:
# every number must be finite; a scalar not named here must be >= 0 (sizes, counts, rates,
# magnitudes); a tuple of numbers not named here only finite (a CT window's centre may be < 0).
POSITIVE = {
    "epochs", "batch_size", "learning_rate", "image_size", "sequence_length", "max_tokens",
    "embedding_dim", "width", "dense_units", "base_filters", "crops_per_volume", "bundled_count",
    "bundled_size", "bundled_per_class", "sample_rate", "n_fft", "hop_length", "n_mels",
    "clip_seconds", "filters", "kernel_sizes",
    "adversarial_steps",
    "fine_tune_factor",
}
FRACTION = {  # in [0, 1)
    "test_fraction", "validation_fraction", "dropout", "embedding_dropout", "momentum",
    "ema_momentum", "overlap",
}
UNIT = {"foreground_fraction", "adversarial_fraction", "adversarial_guard", "fine_tune_factor"}  # in [0, 1]
# Checked by their pipeline, with its own message (only finiteness here).
DOMAIN_CHECKED = {"shape", "target_spacing", "flip_axes", "max_rotation", "mask_depth", "speed_change",
                  "end_trim", "pretrained_vocabulary"}
OPTIONS = {"epochs": "--epochs", "batch_size": "--batch-size", "seed": "--seed"}


def _range_error(name, value, rule):
    option = OPTIONS.get(name, f"--set {name}")
    shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
    return ValueError(f"{option}={shown}: {rule}")


def check(config):
    """Raise a ValueError naming the option unless every number of `config` is in range."""
    import math

    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        items = value if isinstance(value, tuple) else (value,)
        numbers = [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            continue
        if not all(math.isfinite(v) for v in numbers):
            raise _range_error(name, value, "must be a finite number")
        if name in DOMAIN_CHECKED:
            continue
        if name in POSITIVE and not all(v > 0 for v in numbers):
            raise _range_error(name, value, "must be greater than 0")
        if name in FRACTION and not all(0 <= v < 1 for v in numbers):
            raise _range_error(name, value, "must be in [0, 1)")
        if name in UNIT and not all(0 <= v <= 1 for v in numbers):
            raise _range_error(name, value, "must be in [0, 1]")
        if not isinstance(value, tuple) and value < 0:
            raise _range_error(name, value, "must not be negative")
    held_out = getattr(config, "test_fraction", 0) + getattr(config, "validation_fraction", 0)
    if held_out >= 1:
        raise ValueError(f"--set test_fraction={config.test_fraction} and validation_fraction="
                         f"{config.validation_fraction}: together they must be less than 1")


def check_ema_momentum(momentum):
    """0 (off) or a moving-average momentum in (0, 1); raises a ValueError naming the value."""
    if momentum and not 0 < momentum < 1:
        raise ValueError(f"ema_momentum must be in [0, 1), got {momentum}")
    return momentum


def field_names(config) -> list:
    return [field.name for field in dataclasses.fields(config)]


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


def override(config, assignments):
    """A copy of `config` with `key=value` assignments applied."""
    hints = typing.get_type_hints(type(config))
    changes = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not separator:
            raise ValueError(f"--set {assignment}: expected key=value")
        if key not in hints or key not in field_names(config):
            known = ", ".join(field_names(config))
            raise ValueError(f"unknown --set key '{key}' for {type(config).__name__} (known: {known})")
        changes[key] = _parse(value, hints[key], key)
    return dataclasses.replace(config, **changes)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(config_class, values: dict):
    """A config from a saved dict (config.json); unknown keys are an error."""
    names = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown config key(s) for {config_class.__name__}: {', '.join(unknown)}")
    hints = typing.get_type_hints(config_class)
    converted = {
        key: tuple(value) if typing.get_origin(hints[key]) is tuple else value
        for key, value in values.items()
    }
    return config_class(**converted)


def dumps(config) -> str:
    return json.dumps(to_dict(config), indent=2)
