"""`Checkpoint(path, monitor)`: written at every epoch's end without a monitor; with one, only
when the monitored value improves on the best so far (strictly lower), never when it is missing."""
import keras

from pipelines.engine.checkpoints import Checkpoint


def _written(callback, epoch, logs):
    """Whether this epoch's end wrote the file (it is removed first)."""
    callback.path.unlink(missing_ok=True)
    callback.on_epoch_end(epoch, logs)
    return callback.path.is_file()


def _callback(path, monitor=None):
    callback = Checkpoint(path, monitor)
    callback.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    return callback


def test_a_monitored_checkpoint_is_written_only_when_the_value_improves(tmp_path):
    callback = _callback(tmp_path / "best" / "model.keras", "val_loss")
    history = [{"val_loss": 1.0}, {"val_loss": 2.0}, {"val_loss": 1.0}, {"val_loss": 0.5}, {"loss": 0.1}, None]
    assert [_written(callback, epoch, logs) for epoch, logs in enumerate(history)] == [
        True, False, False, True, False, False]  # first; worse; equal; better; not logged; no logs
    assert callback.best == 0.5


def test_without_a_monitor_every_epoch_is_written(tmp_path):
    callback = _callback(tmp_path / "last.keras")
    assert [_written(callback, epoch, {"val_loss": 1.0}) for epoch in range(3)] == [True, True, True]
    assert keras.models.load_model(callback.path).count_params() == 3


def test_the_checkpoints_folders_are_made_when_missing(tmp_path):
    """`--run-dir` may name folders that do not exist yet: the first write makes them."""
    callback = _callback(tmp_path / "runs" / "new" / "best" / "model.keras", "val_loss")
    assert _written(callback, 0, {"val_loss": 1.0})
    assert keras.models.load_model(callback.path).count_params() == 3
