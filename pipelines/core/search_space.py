"""What `cnn tune` searches: a pipeline's `search_space`, plain data (no KerasTuner until a search).

Each entry names one `--set` key and the values to try, so every value a trial takes is applied
and checked as the user's own `--set` would be (pipelines/core/settings.py). docs/TUNING.md is the
table of every pipeline's space; tests/pipelines/core/test_tuning.py keeps the two equal.
"""
from __future__ import annotations

import dataclasses

from pipelines.core import config as configs


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of `values` (a tuple setting as its `--set` text, e.g. "16,32,64")."""

    key: str
    values: tuple

    def declare(self, hp):
        return hp.Choice(self.key, list(self.values))

    def extremes(self):
        return self.values

    def describe(self):
        return " / ".join(str(value) for value in self.values)


@dataclasses.dataclass(frozen=True)
class Between:
    """A float from `low` to `high`: on a log scale when `log` (rates), else in steps of `step`."""

    key: str
    low: float
    high: float
    log: bool = False
    step: float | None = None

    def declare(self, hp):
        return plain(hp.Float(self.key, self.low, self.high, step=self.step, sampling="log" if self.log else "linear"))

    def extremes(self):
        return (self.low, self.high)

    def describe(self):
        scale = "log scale" if self.log else f"step {self.step:g}" if self.step else "linear"
        return f"{self.low:g} to {self.high:g} ({scale})"


def plain(value):
    """A float as a person writes it: a step's 0.30000000000000004 is 0.3 (12 significant digits)."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def searched(space, fixed_keys):
    """The entries of `space` the user did not fix with `--set` (or --epochs/--batch-size)."""
    fixed = {key.strip().replace("-", "_") for key in fixed_keys}  # as `--set` reads a key
    return [entry for entry in space if entry.key not in fixed]


def check(pipeline_class, config, space):
    """Raise a ValueError naming the setting unless every end of every entry of `space` is a valid
    `--set` of `config` (the same parsing and range rules as the user's)."""
    for entry in space:
        for value in entry.extremes():
            try:
                pipeline_class(configs.override(config, [f"{entry.key}={value}"]))
            except ValueError as error:
                raise ValueError(f"search space of {pipeline_class.name}: {error}") from None


def assignments(values):
    """`--set` texts from {key: value} of one trial."""
    return [f"{key}={value}" for key, value in values.items()]
