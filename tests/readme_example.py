"""Loads the README's "Writing your own layer" example, so the documented code is what we test."""
import functools
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def example_source():
    text = README.read_text()
    section = text.split("### Writing your own layer", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@functools.cache
def load_example_layer():
    """Execute the example (which registers `ChannelPReLU`) once per process and return its
    namespace: executing it twice would register two different classes under one name."""
    namespace = {"__name__": "readme_example_layer"}
    exec(compile(example_source(), str(README), "exec"), namespace)
    return namespace
