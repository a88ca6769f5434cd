"""Transfer learning in two phases, as Keras's transfer-learning guide does it.

A pipeline whose config has `weights` set (a backbone network's weight file) builds its model as
input -> preprocessing -> backbone (a nested keras.Model, the network without its top,
its weights from the file) -> a new head for the data's classes. Then:
1. `train_head`: the backbone frozen, the new head trains alone for `head_epochs` epochs, so its
   random start sends no large gradients into the pre-trained weights;
2. the usual `fit` trains everything at `learning_rate * fine_tune_factor`
   (`fine_tune_optimizer`).
The backbone's batch norms stay in inference mode in both phases, with their pre-trained
moving statistics, scale and shift: they are made non-trainable, which is what puts a Keras 3
BatchNormalization in inference mode. (The guide's `base_model(x, training=False)` does not
survive in Keras 3: the outer model's `training=True` in `fit` overrides it, keras #20285.)
Without `weights` nothing here changes the training.
"""
from __future__ import annotations

import pathlib


def enabled(pipeline):
    return bool(getattr(pipeline.config, "weights", ""))


def check(config, backbones):
    """Raise a ValueError naming the setting unless the transfer settings can be used;
    `backbones`: the networks the pipeline builds as a nested backbone (not its own)."""
    if not config.weights:
        return
    if config.network not in backbones:
        raise ValueError(f"--set weights={config.weights}: needs a backbone network "
                         f"(--set network=NAME, one of {', '.join(backbones)}), not {config.network}")
    path = pathlib.Path(config.weights)
    if not path.is_file():
        raise ValueError(f"--set weights={config.weights}: no such file")
    if path.suffix != ".h5":
        raise ValueError(f"--set weights={config.weights}: expected a .weights.h5 or .h5 file")


def backbone_of(model):
    """The nested backbone network inside a pipeline's model."""
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"model {model.name}: expected one backbone network inside, found {len(nested)}")
    return nested[0]


def train_head(pipeline, model, train, val, num_classes, steps_per_epoch, verbose):
    """Phase 1: the head alone for `head_epochs` epochs (backbone frozen); afterwards the
    backbone is trainable again except its batch norms (phase 2, which the caller compiles).
    No-op without weights."""
    if not enabled(pipeline):
        return
    backbone = backbone_of(model)
    if pipeline.config.head_epochs:
        backbone.trainable = False
        model.compile(optimizer=pipeline.optimizer(steps_per_epoch), loss=pipeline.loss(num_classes),
                      metrics=pipeline.metrics(num_classes))
        model.fit(train, validation_data=val, epochs=pipeline.config.head_epochs, shuffle=False,
                  verbose=verbose)
    backbone.trainable = True
    freeze_batch_norm(backbone)


def freeze_batch_norm(backbone):
    """Every BatchNormalization of `backbone` non-trainable: inference mode in Keras 3."""
    import keras

    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def fine_tune_optimizer(pipeline, optimizer):
    """Phase 2's optimizer: `optimizer` at `fine_tune_factor` of its learning rate (a schedule's
    initial rate) with weights; `optimizer` itself otherwise."""
    if not enabled(pipeline):
        return optimizer
    import keras

    config = optimizer.get_config()
    rate, factor = config.pop("learning_rate"), pipeline.config.fine_tune_factor
    if isinstance(rate, dict):  # a serialized schedule: scale its initial rate
        schedule = keras.optimizers.schedules.deserialize(rate)
        settings = schedule.get_config()
        if "initial_learning_rate" not in settings:
            raise ValueError(f"cannot scale the learning rate schedule {type(schedule).__name__}")
        rate = type(schedule).from_config(
            {**settings, "initial_learning_rate": settings["initial_learning_rate"] * factor})
    else:
        rate = float(rate) * factor
    return type(optimizer)(learning_rate=rate, **config)


def keras_fit_only(pipeline):
    if enabled(pipeline):
        return (f"--set weights={pipeline.config.weights}: transfer learning's two phases run in Keras fit, "
                "not in the multiworker loop; use --strategy default or mirrored")
    return None


# The engine's hooks (pipelines/extensions/__init__.py).
before_compile = train_head
optimizer = fine_tune_optimizer
