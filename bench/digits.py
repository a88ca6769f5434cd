"""digits benchmarks: bundled and MNIST test accuracy (the `digits-bundled` and `mnist`
recipes), and training throughput of the digits network built from our layers vs the same
network from keras.layers.

`python -m bench digits [--quick]`; --quick skips MNIST (the longest part).
"""
import datetime
import os
import pathlib
import platform
import tempfile
import time

MNIST = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"


def _train(recipe, data="bundled"):
    import pipelines
    from pipelines.core import config as configs
    from pipelines.core import recipes
    import cli

    cls = pipelines.get("digits")
    pipeline = cls(configs.override(cls.Config(), recipes.get(recipe, "digits").settings))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = cli.train_and_export(pipeline, data=data, run_dir=pathlib.Path(folder) / "run",
                                      export_dir=None, verbose=0)
    return result.metrics, time.perf_counter() - start, pipeline.config


def _throughput(module, steps=100, batch=64, size=16):
    """Training steps per second of the default lecun1989 network built from `module`."""
    import keras
    import numpy as np

    import pipelines

    config = pipelines.get("digits").Config()
    inputs = keras.Input((size, size, 1))
    x = inputs
    for index, filters in enumerate(config.filters):
        x = module.Conv2D(filters, 5 if index < 2 else 3, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dense(config.dense_units, activation="relu")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images = rng.random((batch * steps, size, size, 1), np.float32)
    labels = rng.integers(0, 10, batch * steps)
    model.fit(images, labels, batch_size=batch, verbose=0)  # trace and warm up: steady state only
    start = time.perf_counter()
    model.fit(images, labels, batch_size=batch, epochs=1, verbose=0)
    return steps / (time.perf_counter() - start)


def run(argv):
    import keras

    import layers

    lines = ["## digits (pipelines/images/digits.py)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores "
             f"(shared with other work), TensorFlow CPU build, `python -m bench digits`.\n",
             "| measurement | setting | result | target |", "|---|---|---|---|"]
    metrics, seconds, config = _train("digits-bundled")
    lines.append(f"| bundled test accuracy (450 images, 25% stratified split, seed 0) | `digits-bundled`: lecun1989, "
                 f"{config.epochs} epochs, {config.image_size}x{config.image_size} | "
                 f"{metrics['accuracy']:.2%} ({seconds:.0f} s) | >= 99.2% |")
    ours, theirs = [], []
    for _ in range(5):  # interleaved, best of 5: the machine may be shared
        ours.append(_throughput(layers))
        theirs.append(_throughput(keras.layers))
    lines.append(f"| training throughput, ours / keras.layers | lecun1989, batch 64, 16x16, 100 steps, best of 5 | "
                 f"{max(ours):.1f} / {max(theirs):.1f} steps/s = {max(ours) / max(theirs):.2f}x | >= 0.8x |")
    if "--quick" not in argv and MNIST.is_dir():
        metrics, seconds, config = _train("mnist", data=str(MNIST))
        lines.append(f"| MNIST test accuracy (10,000) | `mnist`: lecun1989, {config.image_size}x{config.image_size}, "
                     f"batch {config.batch_size}, {config.epochs} epochs | "
                     f"{metrics['accuracy']:.2%} ({seconds / 60:.1f} min) | >= 99.4% |")
    return "\n".join(lines) + "\n"
