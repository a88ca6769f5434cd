"""The digits optimizer's learning-rate warm-up (`learning_rate_warmup_epochs`): a linear rise
from 0 to `learning_rate`, then the cosine decay to 0 over the remaining steps."""
import math

import keras
import pytest

from factories import make_pipeline


def _schedule(pipeline, steps_per_epoch):
    """The learning-rate schedule of the pipeline's optimizer, as Keras saves it."""
    config = pipeline.optimizer(steps_per_epoch).get_config()["learning_rate"]
    return keras.optimizers.schedules.deserialize(config)


def test_the_rate_rises_over_the_warmup_then_decays_as_a_cosine():
    pipeline = make_pipeline("digits", "epochs=4", "learning_rate=0.004", "learning_rate_warmup_epochs=2")
    schedule = _schedule(pipeline, steps_per_epoch=10)  # warm-up 20 steps, decay 20
    assert [float(schedule(step)) for step in (0, 10, 20)] == pytest.approx([0.0, 0.002, 0.004])
    assert float(schedule(30)) == pytest.approx(0.004 * 0.5 * (1 + math.cos(math.pi * 10 / 20)))
    assert float(schedule(40)) == pytest.approx(0.0, abs=1e-9)


def test_without_warmup_the_cosine_starts_at_the_rate():
    schedule = _schedule(make_pipeline("digits", "epochs=4", "learning_rate=0.004"), steps_per_epoch=10)
    assert [float(schedule(step)) for step in (0, 20)] == pytest.approx([0.004, 0.002])


def test_a_warmup_as_long_as_training_is_refused():
    with pytest.raises(ValueError, match=r"--set learning_rate_warmup_epochs=4.0: must be less than the 4 "
                                         r"epochs \(the cosine decay follows it\)"):
        make_pipeline("digits", "epochs=4", "learning_rate_warmup_epochs=4")
