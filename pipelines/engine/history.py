"""history.csv: Keras's CSVLogger without the `val_*` columns it fills with NA when a run has no
validation split (Keras adds them so that `validation_freq > 1` has its columns from the first
epoch; a run without validation has nothing to put there)."""
from __future__ import annotations

import keras


class History(keras.callbacks.CSVLogger):
    """CSVLogger whose columns are the first epoch's logs when `validation` is False."""

    def __init__(self, filename, validation, append=False):
        super().__init__(filename, append=append)
        self.validation = validation

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None and not self.validation:
            self.keys = sorted((logs or {}).keys())  # Keras would add val_<key> for each, all NA
        super().on_epoch_end(epoch, logs)
