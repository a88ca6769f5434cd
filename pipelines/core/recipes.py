"""Recipes: the measured settings for a known data set, by name (`cnn train objects --recipe
cifar10-resnet`), in the style of Model Garden's `exp_factory`.

A recipe is `key=value` settings over its pipeline's defaults, the data layout they were
measured on, and that measurement with where it is recorded. Each domain lists its own in
`pipelines/<domain>/recipes.py` as plain data; `pipelines.RECIPE_MODULES` maps a pipeline to
that module, so looking a recipe up never imports TensorFlow.
"""
from __future__ import annotations

import dataclasses
import importlib

from pipelines.core.suggest import did_you_mean


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    pipeline: str
    settings: tuple[str, ...]  # `key=value` over the pipeline's Config defaults, as `--set` takes them
    data: str  # the SOURCE layout the settings expect
    result: str  # the measurement, one line ("" if none is recorded)
    recorded: str = ""  # where: a docs/BENCHMARKS.md section


def _module_recipes(module_name):
    return importlib.import_module(module_name).RECIPES


def for_pipeline(pipeline):
    """The recipes of one pipeline (imports only its domain's recipe module)."""
    import pipelines

    module = pipelines.RECIPE_MODULES.get(pipeline)
    return [r for r in _module_recipes(module) if r.pipeline == pipeline] if module else []


def every():
    """Every recipe, grouped by pipeline in `pipelines.RECIPE_MODULES` order."""
    import pipelines

    return [recipe for name in pipelines.RECIPE_MODULES for recipe in for_pipeline(name)]


def get(name, pipeline):
    """The recipe `name` of `pipeline`; a ValueError naming it and the pipeline's recipes if it
    is unknown or belongs to another pipeline."""
    own = for_pipeline(pipeline)
    for recipe in own:
        if recipe.name == name:
            return recipe
    known = ", ".join(r.name for r in own) or "none"
    other = next((r for r in every() if r.name == name), None)
    if other:
        raise ValueError(f"recipe '{name}' is for {other.pipeline}, not {pipeline} "
                         f"(recipes of {pipeline}: {known}; `cnn recipes` lists all)")
    raise ValueError(f"unknown recipe '{name}' (recipes of {pipeline}: {known}; `cnn recipes` lists all)"
                     + did_you_mean(name, [r.name for r in own]))
