"""Training-step time of our layers vs the Keras built-ins (`python -m bench layers`).

For every registered layer with `bench_cases` (user layers too: `python -m bench layers
--module=my_layers.py`), one training step = forward +
dL/dx + dL/dW under `tf.function`, same weights and input; the median of several steps after
warm-up. Target on the 2-core CPU (oneDNN on): median ratio <= 1.5, no case above 3.
"""
import os
import platform
import runpy
import statistics
import time
from datetime import date

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import layers  # noqa: E402,F401  (registers the built-ins)
from layers import registry  # noqa: E402

REPEATS = 7


def _train_step(layer):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x))
        return tape.gradient(loss, [x] + layer.trainable_weights)

    return step


def _timed(step, x):
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy(), step(x))
    return time.perf_counter() - start


def measure(entry, case, repeats=REPEATS):
    """Median seconds of one training step: (ours, reference or None, median per-pair ratio).

    Ours and the reference run alternately, so that a varying load on the machine weighs
    on both alike; the ratio is the median of the per-pair ratios.
    """
    ours = entry.layer_class(**case.config)
    ours.build(case.input_shape)
    x = tf.constant(np.random.default_rng(0).normal(size=case.input_shape).astype("float32"))
    steps = [_train_step(ours)]
    if entry.reference is not None:
        ref = entry.reference(dict(case.config))
        ref.build(case.input_shape)
        ref.set_weights([np.reshape(w, r.shape) for w, r in zip(ours.get_weights(), ref.get_weights())])
        steps.append(_train_step(ref))
    for step in steps:  # trace and warm up
        _timed(step, x)
        _timed(step, x)
    times = [[_timed(step, x) for step in steps] for _ in range(repeats)]
    ours_time = statistics.median(t[0] for t in times)
    if len(steps) == 1:
        return ours_time, None, None
    return ours_time, statistics.median(t[1] for t in times), statistics.median(t[0] / t[1] for t in times)


def run(argv):
    """argv: `--module=PATH` (repeatable) imports a file that registers more layers."""
    for arg in argv:
        if arg.startswith("--module="):
            runpy.run_path(arg.split("=", 1)[1], run_name="cnn_user_layers")
    rows, ratios = [], []
    for entry in registry.entries():
        for case in entry.bench_cases:
            ours, ref, ratio = measure(entry, case)
            if ratio:
                ratios.append(ratio)
            rows.append(
                f"| {entry.name} | `{case.input_shape}` {_short(case.config)} | {ours * 1e3:.1f} | "
                f"{ref * 1e3:.1f} | {ratio:.2f} |" if ref else
                f"| {entry.name} | `{case.input_shape}` {_short(case.config)} | {ours * 1e3:.1f} | - | - |"
            )
            print(rows[-1], flush=True)
    summary = (
        f"median ratio {statistics.median(ratios):.2f}, max {max(ratios):.2f} "
        f"(target: median <= 1.5, max <= 3)" if ratios else "no reference cases"
    )
    return "\n".join(
        [
            "## Layers: training-step time, ours vs keras.layers",
            "",
            f"{date.today().isoformat()}, {platform.machine()} {os.cpu_count()} cores, TensorFlow "
            f"{tf.__version__} (oneDNN {'off' if os.environ.get('TF_ENABLE_ONEDNN_OPTS') == '0' else 'on'}), "
            f"median of {REPEATS} steps (forward + dL/dx + dL/dW under tf.function).",
            "",
            "| layer | input, config | ours (ms) | Keras (ms) | ratio |",
            "|---|---|---|---|---|",
            *rows,
            "",
            summary,
            "",
        ]
    )


def _short(config):
    return ", ".join(f"{k}={v}" for k, v in config.items())
