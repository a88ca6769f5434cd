"""zoo benchmarks: ResNet-50 and VGG-16 at 224x224 from our layers against keras.applications
with the same weights: inference and training-step images/s and peak memory.

`python -m bench zoo [--batch=N] [--steps=N] [--rounds=N] [--no-transfer | --transfer-only]`
(defaults 8, 3, 2); the transfer-learning section needs ../shared/data/cifar10. Every
measurement runs in its own process (so its peak resident memory is its own), and ours and
keras.applications alternate (ours first in odd rounds, keras first in even ones), so a
change in the machine's load falls on both.
"""
import datetime
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

from bench.arguments import option

NETWORKS = {"resnet50": "ResNet50", "vgg16": "VGG16"}


def _model(network, implementation, weights):
    import keras

    import networks

    if implementation == "keras":
        return getattr(keras.applications, NETWORKS[network])(weights=weights)
    return networks.build(network, weights=weights)


def worker(network, implementation, weights, batch, steps):
    """One measurement (printed as JSON): inference, then training steps, of one model."""
    import keras
    import numpy as np

    model = _model(network, implementation, weights)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, 224, 224, 3)).astype("float32")
    labels = rng.integers(0, 1000, batch)
    result = {"load_before": os.getloadavg()[0]}
    model.predict_on_batch(images)  # trace
    start = time.perf_counter()
    for _ in range(steps):
        model.predict_on_batch(images)
    result["inference"] = batch * steps / (time.perf_counter() - start)
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.train_on_batch(images, labels)  # trace
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    result["training"] = batch * steps / (time.perf_counter() - start)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


def _measure(network, implementation, weights, batch, steps):
    command = [sys.executable, "-m", "bench.zoo", network, implementation, str(weights), str(batch), str(steps)]
    root = pathlib.Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(argv):
    import keras

    if "--transfer-only" in argv:
        return transfer_section()
    batch, steps, rounds = option(argv, "batch", 8), option(argv, "steps", 3), option(argv, "rounds", 2)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for network, application in NETWORKS.items():
            weights = pathlib.Path(folder) / f"{network}.weights.h5"
            keras.utils.set_random_seed(0)
            getattr(keras.applications, application)(weights=None).save_weights(weights)  # the same weights for both
            for index in range(rounds):
                order = ("ours", "keras") if index % 2 == 0 else ("keras", "ours")
                for implementation in order:
                    results.setdefault((network, implementation), []).append(
                        _measure(network, implementation, weights, batch, steps))
                    print(network, implementation, json.dumps(results[(network, implementation)][-1]),
                          flush=True)  # progress: a long run's finished measurements are not lost
    lines = ["## zoo (networks/: the model zoo against keras.applications)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores, shared with "
             f"other work (1-minute load average during the runs: {_loads(results)}), `python -m bench zoo`: "
             f"224x224x3, batch {batch}, the same weights in both, {steps} timed batches after one traced, best "
             f"of {rounds} alternating rounds, each run in its own process (peak = its maximum resident memory, "
             "inference then training).\n",
             "| network | implementation | inference images/s | training images/s | peak memory MiB |",
             "|---|---|---|---|---|"]
    for network in NETWORKS:
        for implementation in ("ours", "keras"):
            runs = results[(network, implementation)]
            lines.append(f"| {network} | {'ours (layers/)' if implementation == 'ours' else 'keras.applications'} | "
                         f"{max(r['inference'] for r in runs):.2f} | {max(r['training'] for r in runs):.2f} | "
                         f"{min(r['peak_mib'] for r in runs):,.0f} |")
        ours, theirs = results[(network, "ours")], results[(network, "keras")]
        lines.append(f"| {network} | ours / keras | "
                     f"{max(r['inference'] for r in ours) / max(r['inference'] for r in theirs):.2f} | "
                     f"{max(r['training'] for r in ours) / max(r['training'] for r in theirs):.2f} | "
                     f"{min(r['peak_mib'] for r in ours) / min(r['peak_mib'] for r in theirs):.2f} |")
    section = "\n".join(lines) + "\n"
    if "--no-transfer" not in argv and CIFAR10.is_dir():
        section += "\n" + transfer_section()
    return section


CIFAR10 = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10"
TRANSFER = {"pretrain_epochs": 5, "epochs": 15, "head_epochs": 3, "per_class": 30}


def _objects_run(folder, name, data, settings):
    import cli
    import pipelines
    from pipelines.core import config as configs

    cls = pipelines.get("objects")
    pipeline = cls(configs.override(cls.Config(), ["network=lecun1989", "image_size=32", *settings]))
    start = time.perf_counter()
    run = cli.train_and_export(pipeline, data=data, run_dir=pathlib.Path(folder) / name, export_dir=None,
                               verbose=0)
    return run, time.perf_counter() - start


def transfer_section():
    """Pre-train the zoo's lecun1989 on CIFAR-10 (10,000 images), then learn the bundled shapes
    (8 classes) from few labels: fine-tuned from the CIFAR-10 backbone vs from scratch, the same
    number of epochs in all."""
    from pipelines.extensions import transfer

    t = TRANSFER
    few = [f"bundled_per_class={t['per_class']}", "batch_size=32", "learning_rate=0.01"]
    with tempfile.TemporaryDirectory() as folder:
        source, pretrain_seconds = _objects_run(folder, "cifar10", str(CIFAR10),
                                                [f"epochs={t['pretrain_epochs']}"])
        weights = pathlib.Path(folder) / "cifar10_backbone.weights.h5"
        transfer.backbone_of(source.model).save_weights(weights)
        tuned, tuned_seconds = _objects_run(folder, "tuned", "bundled", [
            *few, f"weights={weights}", f"epochs={t['epochs']}", f"head_epochs={t['head_epochs']}"])
        scratch, scratch_seconds = _objects_run(folder, "scratch", "bundled", [
            *few, f"epochs={t['epochs'] + t['head_epochs']}"])
    per_class, test = t["per_class"], max(1, t["per_class"] // 3)
    return "\n".join([
        "### Transfer learning (zoo `lecun1989` in `objects`, 32x32)\n",
        f"Pre-trained {t['pretrain_epochs']} epochs on ../shared/data/cifar10 (10,000 / 2,000): "
        f"{source.metrics['accuracy']:.2%} test accuracy, {pretrain_seconds / 60:.1f} min. Then the bundled "
        f"shapes with {per_class} labelled images per class (8 classes, {8 * per_class} train / {8 * test} test), "
        "SGD lr 0.01 cosine, batch 32, one seed:\n",
        "| start | epochs | test accuracy | time |", "|---|---|---|---|",
        f"| CIFAR-10 backbone (`--set weights=...`), head alone then all at lr x 0.1 | {t['head_epochs']} + "
        f"{t['epochs']} | {tuned.metrics['accuracy']:.2%} | {tuned_seconds:.0f} s |",
        f"| from scratch | {t['epochs'] + t['head_epochs']} | {scratch.metrics['accuracy']:.2%} | "
        f"{scratch_seconds:.0f} s |",
    ]) + "\n"


def _loads(results):
    loads = [value for runs in results.values() for r in runs for value in (r["load_before"], r["load_after"])]
    return f"{min(loads):.1f}-{max(loads):.1f}"


if __name__ == "__main__":
    network, implementation, weights, batch, steps = sys.argv[1:]
    worker(network, implementation, weights, int(batch), int(steps))
