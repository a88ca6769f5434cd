"""`cnn train --config FILE`: a run's settings saved as YAML or JSON, and read back.

    pipeline: digits          # optional when PIPELINE is given on the command line
    recipe: mnist             # optional
    data: bundled             # optional; --data on the command line wins
    config:                   # settings: flat --set keys (adversarial_epsilon) or nested
      learning_rate: 0.002    #   (adversarial: {epsilon: 0.1})

A run's own config.json is such a file, so a run trains again as it was: of its other keys, the
training options (test_data, data_dir, mixed_precision, jit) are used and what only records the
run (created, splits, class_names, export, plan, the strategy) is ignored. Any other key is an
error, and so is an unknown setting: one line with a did-you-mean. Settings become `--set`
assignments, so they are parsed and range-checked exactly as `--set` is.
"""
from __future__ import annotations

import json
import pathlib

from pipelines.core.suggest import did_you_mean

RUN_OPTIONS = ("recipe", "data", "test_data", "data_dir", "mixed_precision", "jit")  # runs.RunOptions.RECORDED
RECORD_ONLY = ("created", "splits", "class_names", "export", "plan", "strategy", "replicas", "workers")
KEYS = ("pipeline", "config", *RUN_OPTIONS, *RECORD_ONLY)


def read(path):
    """{pipeline, config: [KEY=VALUE, ...], and the run options the file gives}; ValueError naming
    the file for what cannot be read or is not known."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"--config {path}: cannot read it ({error.strerror})") from None
    values = _parse(path, text)
    unknown = [key for key in values if key not in KEYS]
    if unknown:
        hint = did_you_mean(unknown[0], KEYS) or f" (known: pipeline, recipe, data, config, {', '.join(KEYS[4:])})"
        raise ValueError(f"{path}: unknown key '{unknown[0]}'{hint}")
    settings = values.get("config") or {}
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: config must be a mapping of settings (learning_rate: 0.002, ...)")
    chosen = {key: values[key] for key in ("pipeline", *RUN_OPTIONS) if values.get(key) is not None}
    for key, value in chosen.items():
        kind = bool if key in ("mixed_precision", "jit") else str
        if not isinstance(value, kind):
            raise ValueError(f"{path}: {key} must be {'true or false' if kind is bool else 'text'}, not {value!r}")
    return {**chosen, "config": assignments(settings)}


def _parse(path, text):
    """The file's top-level mapping: JSON for .json, else YAML (which also reads JSON)."""
    if path.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    else:
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark is not None else ""
            raise ValueError(f"{path}: not valid YAML ({getattr(error, 'problem', None) or error}{where})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping (pipeline:, recipe:, data:, config:)")
    return values


def assignments(settings, prefix=""):
    """`--set` assignments (KEY=VALUE) of a settings mapping; a nested mapping names its keys
    `outer.inner` (adversarial.epsilon), as --set does."""
    result = []
    for key, value in settings.items():
        if isinstance(value, dict):
            result += assignments(value, f"{prefix}{key}.")
        else:
            result.append(f"{prefix}{key}={_as_text(value)}")
    return result


def _as_text(value):
    """A value as --set spells it: true/false, comma-separated lists, numbers exactly (repr)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(item) for item in value)
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)
