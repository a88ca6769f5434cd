"""Hippocampus (MSD Task04) with the `segment` pipeline and its `hippocampus` recipe: hold out
20% of the cases, report the whole-volume Dice of labels 1 (anterior) and 2 (posterior).

Target (issue 5): mean Dice of labels 1 and 2 >= 0.88 within about 30 minutes of training on 2
CPU cores and < 24 GB (a plain Keras 3D U-Net: 0.855 / 0.828 in 9 minutes; nnU-Net ~0.89-0.90).
Training stops at the epoch budget or after `--minutes` (default 30) of training, whichever
comes first; the section says which. Needs ../shared/data/hippocampus.

Options: `--epochs=N` (default: the recipe's 10; the cosine learning-rate schedule reaches zero
at the last epoch, so the epoch count, not the clock, should end training), `--minutes=M` (default 30, a
safety stop), `--quick` (1 epoch). The section reports wall time and the process CPU time
(user + system, all threads): on a shared machine the wall time depends on the other jobs.
"""
from __future__ import annotations

import pathlib
import resource
import tempfile
import time

from bench.arguments import option
from bench.volumes import machine

DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hippocampus"


def time_limit(minutes):
    """A Keras callback that stops training after `minutes` (checked at the end of each epoch)."""
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start, self.epochs, self.stopped = time.time(), 0, False

        def on_epoch_end(self, epoch, logs=None):
            self.epochs = epoch + 1
            if time.time() - self.start > minutes * 60:
                self.model.stop_training, self.stopped = True, True

    return TimeLimit()


def run(argv):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not (DATA / "imagesTr").is_dir():
        return f"## segment: Hippocampus\n\nNot run: {DATA} is absent.\n"
    import pipelines
    import cli
    from pipelines.core import recipes
    from pipelines.core.config import override

    cls = pipelines.get("segment")
    recipe = recipes.get("hippocampus", "segment")
    epochs = 1 if "--quick" in argv else option(argv, "epochs", override(cls.Config(), recipe.settings).epochs)
    minutes = option(argv, "minutes", 30.0)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-segment-"))
    config = override(cls.Config(), [*recipe.settings, f"epochs={epochs}"])
    limit = time_limit(minutes)
    start = time.time()
    result = cli.train_and_export(cls(config), str(DATA), run_dir=work / "run", export_dir=str(work / "saved_models"),
                                  callbacks=[limit], verbose=2)
    total = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_minutes = (usage.ru_utime + usage.ru_stime) / 60
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    m = result.metrics
    verdict = "meets" if m["mean_dice"] >= 0.88 else "misses"
    stop = f"stopped by the {minutes:g}-minute limit after {limit.epochs} epochs" if limit.stopped \
        else f"all {limit.epochs} epochs"
    return (
        "## segment: Hippocampus (MSD Task04, 130 cases, 20% of cases held out)\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; `cnn train segment --recipe {recipe.name}` "
        f"(`{' '.join(recipe.settings)}`) with `epochs={epochs}` (3D U-Net from our Conv3D/Conv3DTranspose/MaxPooling3D; "
        "Dice + cross-entropy; whole-volume sliding-window evaluation, overlap 0.5).\n\n"
        "| test cases | Dice anterior (1) | Dice posterior (2) | mean Dice | training | total wall (train+eval+export) | process CPU time | peak RSS |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {m['examples']} | {m['dice_anterior']:.4f} | {m['dice_posterior']:.4f} | {m['mean_dice']:.4f} | "
        f"{stop} | {total / 60:.1f} min | {cpu_minutes:.1f} min | {peak:.1f} GiB |\n\n"
        f"Target mean Dice >= 0.88: {verdict} it. References: plain Keras 3D U-Net 0.855 / 0.828 in 9 "
        "minutes on this machine; nnU-Net ~0.89-0.90.\n"
    )
