"""What a run may add to plain training, each one module here that the engine and the Pipeline
reach only through this list, so adding one changes no base class:

- `adversarial`: training on attacked batches (FGSM, PGD: `attacks`), its catastrophic-
  overfitting guard (`adversarial_guard`);
- `transfer`: a zoo network's weight file, the new head first, then fine-tuning;
- `ema`: an exponential moving average of the weights, evaluated and exported;
- `ensemble` (not a training step: `cnn ensemble` averages finished runs).

An extension module may define, each optional:
    Settings                     an `ExtensionSettings` dataclass nested in every config under
                                 its NAME (`adversarial.epsilon`), off by default, checking itself
    check_pipeline(pipeline)     raise a ValueError naming the setting if the pipeline cannot use it
    keras_fit_only(pipeline)     why it cannot run in the multiworker loop (None: it can)
    before_compile(pipeline, model, train, val, num_classes, steps_per_epoch, verbose)
    optimizer(pipeline, optimizer) -> the optimizer to compile with
    attach(model, pipeline, steps_per_epoch)   after compile, before fit
    callbacks(pipeline, train_examples) -> Keras callbacks, before the engine's own
"""
from __future__ import annotations

import importlib

MODULES = ("pipelines.extensions.adversarial", "pipelines.extensions.transfer", "pipelines.extensions.ema")


def modules():
    return [importlib.import_module(name) for name in MODULES]


def _hooks(name):
    return [getattr(module, name) for module in modules() if hasattr(module, name)]


def settings():
    """The extensions' nested settings classes, in MODULES order."""
    return _hooks("Settings")


def check_pipeline(pipeline):
    for hook in _hooks("check_pipeline"):
        hook(pipeline)


def keras_fit_only(pipeline):
    """The first reason an enabled extension cannot run in the multiworker loop, or None."""
    return next((reason for hook in _hooks("keras_fit_only") if (reason := hook(pipeline))), None)


def before_compile(pipeline, model, train, val, num_classes, steps_per_epoch, verbose):
    for hook in _hooks("before_compile"):
        hook(pipeline, model, train, val, num_classes, steps_per_epoch, verbose)


def optimizer(pipeline, optimizer):
    for hook in _hooks("optimizer"):
        optimizer = hook(pipeline, optimizer)
    return optimizer


def attach(model, pipeline, steps_per_epoch):
    for hook in _hooks("attach"):
        hook(model, pipeline, steps_per_epoch)


def callbacks(pipeline, train_examples):
    return [callback for hook in _hooks("callbacks") for callback in hook(pipeline, train_examples)]
