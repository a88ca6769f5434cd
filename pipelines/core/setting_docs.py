"""Each setting of a config as `cnn pipelines NAME` shows it: its default in `--set` syntax
(which `--set` reads back as the same value), its range rule, and the field's comment."""
from __future__ import annotations

import dataclasses
import inspect
import re

from pipelines.core import settings

_RANGES = {settings.POSITIVE: "> 0", settings.FRACTION: "in [0, 1)", settings.UNIT: "in [0, 1]",
           settings.OWN: "checked by the pipeline"}
_COMMENTED_FIELD = re.compile(r"^\s+(\w+)\s*:[^=#]+=[^#]*#\s*(.+?)\s*$")  # `name: type = default  # meaning`


def as_set_value(value):
    """`value` as `--set key=VALUE` spells it: tuples as 1,2,3; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(as_set_value(item) for item in value)
    return str(value)


def range_text(config_class, name, value):
    """The range `settings.check` holds the field to ("" for text and switches)."""
    rules = settings.rules_of(config_class, name)
    if rules:
        return " and ".join(_RANGES[rule] for rule in rules)
    items = value if isinstance(value, tuple) else (value,)
    if not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return ""
    return "finite" if isinstance(value, tuple) else ">= 0"


def comments(config_class):
    """{field: its source comment}, the nearest class in the MRO first (an override's comment wins)."""
    found = {}
    for klass in config_class.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):  # no source (a class made at run time)
            continue
        for line in lines:
            match = _COMMENTED_FIELD.match(line)
            if match:
                found.setdefault(match.group(1), match.group(2))
    return found


def rows(config):
    """(option, default in --set syntax, range, meaning) of every setting of `config`, an
    extension's by its flat option name."""
    table = []
    own_comments = comments(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, settings.ExtensionSettings):
            inner_comments = comments(type(value))
            table += [(value.flat_name(inner.name), as_set_value(getattr(value, inner.name)),
                       range_text(type(value), inner.name, getattr(value, inner.name)),
                       inner_comments.get(inner.name, "")) for inner in dataclasses.fields(value)]
        else:
            table.append((field.name, as_set_value(value), range_text(type(config), field.name, value),
                          own_comments.get(field.name, "")))
    return table
