"""An exponential moving average of the weights (`--set ema_momentum=M`, 0 < M < 1): Keras
keeps it in the optimizer and writes it into the model when `fit` ends, so evaluation and the
export use it. Averaging the last few hundred steps removes the step-to-step noise of the final
weights."""
from __future__ import annotations

import dataclasses

from pipelines.core.settings import ExtensionSettings, fraction


@dataclasses.dataclass
class Settings(ExtensionSettings):
    NAME = "ema"
    momentum: float = fraction(0.0)  # > 0: evaluate and export the moving average of the weights

    @property
    def enabled(self):
        return self.momentum > 0


def with_weight_averaging(optimizer, momentum):
    """`optimizer` keeping an exponential moving average of the weights when momentum > 0 (in
    (0, 1): a ValueError naming the value otherwise); `optimizer` itself when it is 0."""
    if momentum and not 0 < momentum < 1:
        raise ValueError(f"ema_momentum must be in [0, 1), got {momentum}")
    if not momentum:
        return optimizer
    return type(optimizer).from_config({**optimizer.get_config(), "use_ema": True, "ema_momentum": momentum})


def optimizer(pipeline, optimizer):
    return with_weight_averaging(optimizer, pipeline.config.ema.momentum)
