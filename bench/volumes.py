"""AdrenalMNIST3D with the `volumes` pipeline and its `adrenalmnist3d` recipe: train on the
official train split, report on val.

Target (issue 5): ROC AUC >= 0.90 on val (MedMNIST v2 ResNet-18 3D: test AUC 0.827, ACC 0.721;
a keras-io-style 3D CNN with Keras layers: test AUC 0.87 on this machine). Needs
../shared/data/adrenalmnist3d; the section says so and measures nothing when it is absent.

Options: `--epochs=N` (default: the recipe's), `--seed=N` (default 0), `--set=KEY=VALUE`
(repeatable: a config field on top of the recipe, for a recorded try), `--quick` (2 epochs, to
check the wiring). The run folder (model, metrics, export) is kept under the temp directory for later
analysis; its path is in the section. The model averages its logits over the 8 flips in
inference (`tta_flips`); the section also gives the AUC of the same weights without that
averaging.
"""
from __future__ import annotations

import os
import pathlib
import platform
import resource
import tempfile
import time

import numpy as np

from bench.arguments import option

DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adrenalmnist3d"
NPZ = DATA / "adrenalmnist3d_trainval.npz"


def machine():
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"


def _single_pass_auc(run_dir, test_npz):
    """ROC AUC of the trained weights without test-time flip averaging (one pass per volume)."""
    import keras
    from sklearn.metrics import roc_auc_score

    model = keras.saving.load_model(run_dir / "model.keras")
    averaged = model.get_layer("flip_averaged")
    preprocess = keras.Model(model.inputs, averaged.input)  # normalisation (+ mask depth)
    with np.load(test_npz) as archive:
        images, labels = archive["test_images"].astype(np.float32), archive["test_labels"].ravel()
    x = preprocess.predict(images[..., None], batch_size=32, verbose=0)  # (N, 28, 28, 28, C)
    network = averaged.network
    probabilities = keras.ops.softmax(network.predict(x, batch_size=32, verbose=0))
    return float(roc_auc_score(labels, np.asarray(probabilities)[:, 1]))


def run(argv):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not NPZ.is_file():
        return f"## volumes: AdrenalMNIST3D\n\nNot run: {NPZ} is absent.\n"
    import pipelines
    import cli
    from pipelines.core import recipes
    from pipelines.core.config import override

    cls = pipelines.get("volumes")
    recipe = recipes.get("adrenalmnist3d", "volumes")
    epochs = 2 if "--quick" in argv else option(argv, "epochs", override(cls.Config(), recipe.settings).epochs)
    seed = option(argv, "seed", 0)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-volumes-"))
    with np.load(NPZ) as archive:
        # train on train; the official val split becomes the test split that is reported
        np.savez(work / "adrenalmnist3d_train.npz", train_images=archive["train_images"],
                 train_labels=archive["train_labels"])
        np.savez(work / "adrenalmnist3d_val.npz", test_images=archive["val_images"],
                 test_labels=archive["val_labels"])
    extra = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--set=")] + [f"epochs={epochs}", f"seed={seed}"]
    config = override(cls.Config(), [*recipe.settings, *extra])
    start = time.time()
    result = cli.train_and_export(cls(config), str(work / "adrenalmnist3d_train.npz"),
                                  test_data=str(work / "adrenalmnist3d_val.npz"), run_dir=work / "run",
                                  export_dir=str(work / "saved_models"), verbose=2)
    seconds = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak, cpu_minutes = usage.ru_maxrss / 1024 ** 2, (usage.ru_utime + usage.ru_stime) / 60
    m = result.metrics
    single = _single_pass_auc(result.run_dir, work / "adrenalmnist3d_val.npz")
    verdict = "meets" if m.get("auc", 0) >= 0.90 else "misses"
    return (
        "## volumes: AdrenalMNIST3D (train -> val)\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; `cnn train volumes --recipe {recipe.name}` "
        f"(`{' '.join(recipe.settings)}`) with `{' '.join(extra)}` ({config.network} from our "
        f"Conv3D/MaxPooling3D/global pooling; the run and its export are kept in {work}).\n\n"
        "| split | examples | accuracy | ROC AUC | AUC without flip averaging | wall time (train+eval+export) | process CPU time | peak RSS |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| val | {m['examples']} | {m['accuracy']:.4f} | {m.get('auc', float('nan')):.4f} | {single:.4f} | "
        f"{seconds / 60:.1f} min | {cpu_minutes:.1f} min | {peak:.1f} GiB |\n\n"
        f"Target AUC >= 0.90: {verdict} it. References: MedMNIST v2 ResNet-18 3D test AUC 0.827 / "
        "ACC 0.721; keras-io-style 3D CNN (Keras layers) test AUC 0.87 / ACC 0.81.\n"
    )
