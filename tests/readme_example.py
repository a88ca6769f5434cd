"""Loads the "Writing your own layer" example of docs/extending.md (it was the README's), so the
documented code is what we test."""
import functools
import pathlib
import re

EXTENDING = pathlib.Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def example_source():
    text = EXTENDING.read_text()
    section = re.split(r"^#+ Writing your own layer$", text, maxsplit=1, flags=re.M)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@functools.cache
def load_example_layer():
    """Execute the example (which registers `ChannelPReLU`) once per process and return its
    namespace: executing it twice would register two different classes under one name."""
    namespace = {"__name__": "readme_example_layer"}
    exec(compile(example_source(), str(EXTENDING), "exec"), namespace)
    return namespace
