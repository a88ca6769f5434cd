"""Bundled-digits runs for the attack tests in any folder: one standard and one adversarially
trained run on the same data and settings, each trained once per test process."""
import atexit
import functools
import pathlib
import shutil
import tempfile

from factories import train_bundled

SETTINGS = ["epochs=5", "batch_size=32", "filters=16,32,32", "dense_units=64"]
# fast FGSM (Wong et al. 2020) at 40 of 255: enough to move PGD robust accuracy at 25.5
ADVERSARIAL = ["adversarial=fgsm", "adversarial_epsilon=40"]


def _root(prefix):
    root = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, root, True)
    return root


@functools.cache
def standard():
    """(pipeline, Run with export, root) of standard training."""
    return train_bundled("digits", _root("attack-standard-"), SETTINGS)


@functools.cache
def adversarial():
    """(pipeline, Run with export, root) of adversarial training with the same settings."""
    return train_bundled("digits", _root("attack-adversarial-"), SETTINGS + ADVERSARIAL)


def held_out_batch(pipeline, run, count=450):
    """(x (N, H, W, 1) float32 0..255, labels (N,)) of the run's test split."""
    import numpy as np

    batches = list(pipeline.input_dataset(run.splits.test, count))
    return (np.concatenate([np.asarray(x, np.float32) for x, _ in batches]),
            np.concatenate([np.asarray(y) for _, y in batches]))
