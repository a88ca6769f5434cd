"""Kill-and-resume with Adam ends where the uninterrupted run ends: the backup restores the
weights AND the optimizer's state (first and second moments, iteration count), so the steps
after the resume are the steps the uninterrupted run took.

Losing the moments is silent otherwise: the run finishes, the epochs are right, and only the
weights differ (Adam's first steps from zero moments are full learning-rate steps)."""
import keras
import numpy as np
import pytest

from pipelines.engine import checkpoints

EPOCHS, KILLED_AFTER, BATCH = 4, 2, 4
_rng = np.random.default_rng(0)
DATA = (_rng.normal(size=(16, 3)).astype("float32"), np.arange(16) % 2)  # 4 steps per epoch


def _model():
    """A fixed, well-conditioned start (no random init): Dense(2) softmax on 3 inputs, Adam."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax", name="dense")],
                             name="toy")  # fixed names: Adam's variables are named after them
    model.layers[0].set_weights([np.array([[0.3, -0.2], [-0.1, 0.4], [0.2, 0.1]], np.float32),
                                 np.zeros(2, np.float32)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy")
    return model


class Kill(keras.callbacks.Callback):
    """A kill at the end of epoch `after` (1-based), after Backup wrote that epoch's backup."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt


def _fit(model, callbacks=()):
    model.fit(*DATA, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=list(callbacks))
    return model


def _state(model):
    """The weights, and Adam's variables by name (iteration, learning rate, moments)."""
    return [v.numpy() for v in model.weights], {v.name: v.numpy() for v in model.optimizer.variables}


def test_resumed_adam_run_ends_with_the_uninterrupted_runs_weights_and_moments(tmp_path):
    straight_weights, straight_optimizer = _state(_fit(_model()))
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [checkpoints.Backup(tmp_path / "backup"), Kill(KILLED_AFTER)])
    epochs = []
    resumed = _fit(_model(), [checkpoints.Backup(tmp_path / "backup", say=pytest.fail),
                              keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))])
    assert epochs == list(range(KILLED_AFTER, EPOCHS))  # it went on from the backup
    resumed_weights, resumed_optimizer = _state(resumed)
    assert int(resumed.optimizer.iterations.numpy()) == EPOCHS * len(DATA[0]) // BATCH  # 16: the count went on
    assert sorted(resumed_optimizer) == sorted(straight_optimizer)
    for name, value in straight_optimizer.items():  # the same steps in the same order: to float32 rounding
        np.testing.assert_allclose(resumed_optimizer[name], value, rtol=1e-5, atol=1e-7, err_msg=name)
    for resumed_value, value in zip(resumed_weights, straight_weights):
        np.testing.assert_allclose(resumed_value, value, rtol=1e-5, atol=1e-7)
    moved = np.abs(straight_weights[0] - _model().layers[0].get_weights()[0]).max()
    assert moved > 0.1  # the run learned: equal end weights are not just an unmoved start
