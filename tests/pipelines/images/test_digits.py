"""digits: networks from our layers, resume after an interruption, mixed precision and XLA."""
import json

import keras
import numpy as np
import pytest

import layers
import pipelines
from pipelines.core import config as configs
from pipelines.engine import training
import cli


def _digits(*assignments):
    cls = pipelines.get("digits")
    return cls(configs.override(cls.Config(), list(assignments)))


def _conv_and_pool_classes(model):
    return {type(layer) for layer in model.layers if "Conv" in type(layer).__name__ or "Pool" in type(layer).__name__}


def test_networks_use_our_layers_only():
    lecun = _digits().build_model(10)
    assert _conv_and_pool_classes(lecun) == {layers.Conv2D}
    assert lecun.get_layer("h1").strides == (2, 2)
    lenet = _digits("network=lenet5", "image_size=28").build_model(10)
    assert _conv_and_pool_classes(lenet) == {layers.Conv2D, layers.AveragePooling2D}
    assert lenet.get_layer("c5").output.shape[1:] == (1, 1, 120)
    assert lenet.count_params() == 61706  # LeNet-5 with 'same' C1 on 28x28
    with pytest.raises(ValueError, match=r"--set image_size=16: network lenet5 needs image_size >= 28 "
                                         r"\(its input is \(28, 28, 1\)\)"):
        _digits("network=lenet5")


class Interrupt(keras.callbacks.Callback):
    """Stops the process-like run in the middle of epoch `epoch` (as a kill would)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def test_resume_continues_an_interrupted_run(tmp_path):
    pipeline = _digits("image_size=8", "epochs=3")
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        training.train(pipeline, run_dir=run_dir, verbose=0,
                       callbacks=[Interrupt(epoch=1, batch=5)])
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()
    with pytest.raises(ValueError, match="not empty"):
        training.train(pipeline, run_dir=run_dir, verbose=0)
    result = training.train(pipeline, run_dir=run_dir, resume=True, verbose=0)
    finished = {name: (run_dir / name).read_bytes() for name in ("model.keras", "metrics.json", "history.csv")}
    with pytest.raises(ValueError, match="the run has finished .model.keras is there., nothing to resume"):
        training.train(pipeline, run_dir=run_dir, resume=True, verbose=0)
    assert {name: (run_dir / name).read_bytes() for name in finished} == finished  # nothing rewritten
    epochs = [line.split(",")[0] for line in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]  # epoch 0 kept, epoch 1 redone, nothing lost or repeated
    assert result.metrics["accuracy"] > 0.5
    assert not (run_dir / "backup").exists()  # BackupAndRestore cleans up after a finished run


def test_mixed_precision_and_jit_train(tmp_path):
    pipeline = _digits("image_size=8", "epochs=1", "filters=8,8", "dense_units=16")
    result = cli.train_and_export(pipeline, run_dir=tmp_path / "run", export_dir=tmp_path / "exports",
                          mixed_precision=True, jit=True, verbose=0)
    assert keras.mixed_precision.dtype_policy().name == "float32"  # global policy restored
    model = keras.models.load_model(result.run_dir / "model.keras")
    assert model.get_layer("h1").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["loss"]) and metrics["examples"] == 450
    record = json.loads((result.run_dir / "config.json").read_text())
    assert record["mixed_precision"] and record["jit"]
    assert (result.export_path / "saved_model.pb").is_file()
