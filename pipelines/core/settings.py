"""Config fields that carry their own range rule, and the check that enforces them.

A pipeline's config states each number's range on the field itself, and a subclass that only
changes a default keeps the rule of the field it overrides:

    epochs: int = positive(10)                 # > 0
    dropout: float = fraction(0.3)             # in [0, 1)
    foreground_fraction: float = unit(0.5)     # in [0, 1]
    fine_tune_factor: float = ranged(0.1, POSITIVE, UNIT, when="weights")
    shape: tuple[int, ...] = own_check((32, 32, 32))  # the pipeline checks it, with its own message

Every number must be finite; a number with no rule must not be negative (sizes, counts, rates,
magnitudes), a tuple of numbers with no rule need only be finite (a CT window's centre may be
< 0). `ExtensionSettings` is the base of what an extension nests in every config
(`adversarial.epsilon`): it checks itself, and names its settings by their flat options
(`--set adversarial_epsilon=...`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

RULE, WHEN = "range", "when"
POSITIVE, FRACTION, UNIT, OWN = "must be greater than 0", "must be in [0, 1)", "must be in [0, 1]", "own"
_HOLDS = {POSITIVE: lambda v: v > 0, FRACTION: lambda v: 0 <= v < 1, UNIT: lambda v: 0 <= v <= 1}
OPTIONS = {"epochs": "--epochs", "batch_size": "--batch-size", "seed": "--seed"}  # CLI options of their own


def ranged(default, *rules, when=None):
    """A dataclass field whose numbers must pass `rules` (POSITIVE, FRACTION, UNIT; OWN: only
    finite here, the pipeline checks the range); `when` names the field that switches it on
    (reports show it only then, e.g. transfer's settings with `weights`)."""
    return dataclasses.field(default=default, metadata={RULE: rules, WHEN: when})


def positive(default):
    return ranged(default, POSITIVE)


def fraction(default):
    return ranged(default, FRACTION)


def unit(default):
    return ranged(default, UNIT)


def own_check(default):
    return ranged(default, OWN)


def _stated(config_class, name, key, default):
    """Field `name`'s metadata `key`, from the nearest class in the MRO that states it (a
    subclass that only changes a default keeps the rule)."""
    for klass in config_class.__mro__:
        field = vars(klass).get("__dataclass_fields__", {}).get(name)
        if field is not None and key in field.metadata:
            return field.metadata[key]
    return default


def rules_of(config_class, name):
    return _stated(config_class, name, RULE, ())


def flat(config, applicable_only=False):
    """{option name: value} of every setting, an extension's by their flat names
    (`adversarial_epsilon`). `applicable_only` (reports, listings): an extension's only when it is
    on, a field with `when` only when that field is set."""
    shown = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, ExtensionSettings):
            if value.enabled or not applicable_only:
                shown.update({value.flat_name(inner.name): getattr(value, inner.name)
                              for inner in dataclasses.fields(value)})
            continue
        switch = _stated(type(config), field.name, WHEN, None)
        if not applicable_only or switch is None or getattr(config, switch):
            shown[field.name] = value
    return shown


def range_error(option, value, rule):
    shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
    return ValueError(f"{option}={shown}: {rule}")


def check(config, option=None):
    """Raise a ValueError naming the option unless every number of `config` is in range;
    `option(name)` gives a field's option (default `--set name`, or --epochs ...)."""
    option = option or (lambda name: OPTIONS.get(name, f"--set {name}"))
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        items = value if isinstance(value, tuple) else (value,)
        numbers = [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            continue
        if not all(math.isfinite(v) for v in numbers):
            raise range_error(option(name), value, "must be a finite number")
        rules = rules_of(type(config), name)
        if OWN in rules:
            continue
        for rule in rules:
            if not all(_HOLDS[rule](v) for v in numbers):
                raise range_error(option(name), value, rule)
        if not rules and not isinstance(value, tuple) and value < 0:
            raise range_error(option(name), value, "must not be negative")


@dataclasses.dataclass
class ExtensionSettings:
    """What one extension adds to every config, nested under its `NAME`: the defaults leave the
    extension off (`enabled` False). Subclasses add fields and `validate` (checks across them)."""

    NAME: ClassVar[str] = ""
    # Flat option names other than `<NAME>_<field>` (e.g. the method is `--set adversarial=pgd`).
    FLAT: ClassVar[dict] = {}

    def __post_init__(self):
        check(self, lambda name: f"--set {self.flat_name(name)}")
        self.validate()

    @classmethod
    def flat_name(cls, field):
        """The field's flat option name, as --set and old config.json records spell it."""
        return cls.FLAT.get(field, f"{cls.NAME}_{field}")

    @property
    def enabled(self):
        raise NotImplementedError

    def validate(self):
        """Raise a ValueError naming the option unless the settings go together."""
