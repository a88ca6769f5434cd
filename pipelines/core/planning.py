"""The plan (`cnn train --plan`): settings derived from the training data's fingerprint.

Each domain states its rules in `Pipeline.plan_settings(fingerprint)` as (key, value, reason);
docs/PLANNING.md is the one table of them with their evidence. A plan only fills what the user
left open: `--recipe` means no plan, and `--set`, `--epochs`, `--batch-size` and `--seed` win over
it. The run's config.json records the plan (`"plan"`: the fingerprint, the settings it set and
why, and the ones the user's own settings overrode).
"""
from __future__ import annotations

from pipelines.core import config as configs
from pipelines.core import fingerprint


def user_keys(assignments, **options):
    """The config keys the user set: `--set KEY=VALUE` and the options given (not None)."""
    keys = {assignment.split("=", 1)[0].strip() for assignment in assignments}
    return keys | {key for key, value in options.items() if value is not None}


def apply(pipeline, source, data_dir=None, kept=(), test_data=None):
    """A new pipeline with the plan's settings over `pipeline`'s config, except the keys in
    `kept`, from the training split of `source` (and `test_data`) as the run will split it; its
    `plan` attribute is the record for config.json."""
    measured = fingerprint.measure(pipeline, source, data_dir, test_data)
    chosen, overridden = [], []
    for key, value, reason in pipeline.plan_settings(measured):
        if key in kept:
            overridden.append(key)
        else:
            chosen.append({"key": key, "value": str(value), "reason": reason})
    config = configs.override(pipeline.config, [f"{item['key']}={item['value']}" for item in chosen])
    planned = type(pipeline)(config)
    planned.plan = {"settings": chosen, "overridden_by_user": overridden, "fingerprint": measured}
    return planned


def render(plan):
    """The plan as lines for the terminal."""
    if not plan["settings"]:
        return "plan: the fingerprint calls for no change to the defaults"
    return "\n".join(["plan (docs/PLANNING.md):"] +
                     [f"  {item['key']}={item['value']}: {item['reason']}" for item in plan["settings"]])
