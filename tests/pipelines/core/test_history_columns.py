"""history.csv has val_* columns only when the run validates: Keras's CSVLogger adds them as NA
to a run without validation, which pipelines/engine/history.py does not."""
import csv

import keras
import numpy as np


def _fit(path, validation, epochs=2):
    from pipelines.engine.history import History

    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(16, 2)
    y = (x.sum(axis=1) > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, validation_data=(x, y) if validation else None,
              callbacks=[History(str(path), validation)])
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_no_validation_no_val_columns(tmp_path):
    rows = _fit(tmp_path / "history.csv", validation=False)
    assert list(rows[0]) == ["epoch", "accuracy", "loss"] and [row["epoch"] for row in rows] == ["0", "1"]


def test_validation_columns_hold_numbers(tmp_path):
    rows = _fit(tmp_path / "history.csv", validation=True)
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    for row in rows:
        assert 0 <= float(row["val_accuracy"]) <= 1 and float(row["val_loss"]) > 0

