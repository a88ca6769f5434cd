"""pytest plugin for mutation runs (loaded by mutation/run.py through PYTEST_PLUGINS): each
mutant's tests run fastest first, by the durations mutmut recorded for the group.

Why: mutmut runs a mutant's tests with `-x` in the order they come, and a group whose tests
include one that trains (checkpoints: a `cnn train --resume` of about 40 s) paid for it on most
mutants a 4 s unit test kills. The same tests run, so verdicts do not change; a survivor still
runs every one of them. Outside a mutant run (no recorded durations) the order is pytest's."""
from __future__ import annotations

import json
import pathlib

STATS = "mutmut-stats.json"  # in the mutants folder, pytest's working directory during a run


def recorded_durations(folder="."):
    """{test id: seconds} from mutmut's stats in `folder`; {} before it recorded them."""
    path = pathlib.Path(folder) / STATS
    try:
        return dict(json.loads(path.read_text()).get("duration_by_test", {}))
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(session, config, items):
    durations = recorded_durations()
    if durations:  # a stable sort: tests of equal (or unknown) duration keep pytest's order
        items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
