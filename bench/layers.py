"""Training-step time of our layers vs the Keras built-ins (`python -m bench layers`).

Two tables, each ours / Keras with the same weights, the two run alternately step by step so
that a varying load on the shared machine weighs on both alike (the ratio is the median of
the per-step ratios):
- the grid: single layers in the shapes real networks use (first layers on 1-3 channels,
  AlexNet's 11x11/4, ResNet's 7x7/2 and 1x1 bottlenecks, Inception's 1x7/7x1, depthwise,
  dilation, transposed, 1D audio/text, 3D volumes, pooling 2x2/2 and 3x3/2, batch 1-128).
  One step = forward + dL/dx + dL/dW under `tf.function`;
- the networks: layer stacks of each pipeline's default network, one `train_on_batch`.
Targets: grid median <= 1.3 and no case above 2.0; every network <= 1.25.

Flags: `--only=TEXT` keeps the rows whose label contains TEXT; `--grid` / `--networks` runs one
table; `--module=PATH` (repeatable) imports a file that registers more layers, whose
`bench_cases` join the grid; `--policy=NAME` measures both sides under that Keras dtype policy
(`mixed_bfloat16`: oneDNN sends bfloat16 matmuls and convolutions to AMX or AVX512_BF16 where
the CPU has them; without them both sides run bfloat16 on slower paths, and the ratio says
nothing about those CPUs). The header says whether TensorFlow's BFC CPU allocator is on
(`layers` turns it on unless `TF_CPU_ALLOCATOR_USE_BFC` says otherwise; `layers/allocator.py`):
it changes what fresh buffers cost, hence the ratios (docs/BENCHMARKS.md).

Both of TensorFlow's CPU modes are measured, each in its own process (the mode is fixed when
TensorFlow starts): `TF_ENABLE_ONEDNN_OPTS=0` (Eigen kernels; TensorFlow's default on CPUs
without AVX512_VNNI/AVX512_BF16/AVX_VNNI/AMX) and `=1` (oneDNN's kernels for Keras's
convolutions and pooling; the default on current Xeons and Zen 4/5). `--modes=0` or `--modes=1`
runs one. Each mode's header says the mode TensorFlow reported, and the section's first line
the CPU's model and its AVX-512/AMX flags.
"""
import os
import platform
import runpy
import statistics
import subprocess
import sys
import time
from datetime import datetime

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import layers  # noqa: E402
from bench.arguments import option  # noqa: E402
from layers import allocator, registry  # noqa: E402
from layers.catalog import TFLocalResponseNormalization  # noqa: E402

REPEATS = 7
MODES = ("0", "1")  # TF_ENABLE_ONEDNN_OPTS of each measured process
SECTION_MARK = "== section of one mode"  # a child prints its section after this line
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
TARGETS = {"median": 1.3, "worst": 2.0, "network": 1.25}


def _c(name, shape, **config):
    return name, registry.Case(config, shape)


GRID = [
    # 2D first layers: 1 and 3 input channels
    _c("Conv2D", (128, 28, 28, 1), filters=32, kernel_size=3, activation="relu"),  # MNIST
    _c("Conv2D", (128, 28, 28, 1), filters=6, kernel_size=5, padding="same"),  # LeNet-5 C1
    _c("Conv2D", (64, 16, 16, 1), filters=32, kernel_size=5, strides=2, padding="same"),  # LeCun 1989
    _c("Conv2D", (128, 32, 32, 3), filters=64, kernel_size=5, padding="same"),  # CIFAR AlexNet
    _c("Conv2D", (128, 32, 32, 3), filters=32, kernel_size=3, padding="same"),  # CIFAR ResNet stem
    _c("Conv2D", (8, 227, 227, 3), filters=96, kernel_size=11, strides=4),  # AlexNet conv1
    _c("Conv2D", (8, 224, 224, 3), filters=64, kernel_size=7, strides=2, padding="same"),  # ResNet stem
    _c("Conv2D", (1, 224, 224, 3), filters=64, kernel_size=7, strides=2, padding="same"),  # batch 1
    _c("Conv2D", (16, 64, 64, 3), filters=48, kernel_size=4, strides=4),  # patchify stem
    # 2D, 16-64 channels (grouped cases are small: TensorFlow's CPU grouped convolution is slow)
    _c("Conv2D", (128, 28, 28, 32), filters=64, kernel_size=3, padding="same"),
    _c("Conv2D", (128, 32, 32, 64), filters=64, kernel_size=3, strides=2, padding="same"),
    _c("Conv2D", (32, 32, 32, 32), filters=32, kernel_size=3, padding="same", dilation_rate=2),
    _c("Conv2D", (16, 19, 19, 48), filters=192, kernel_size=5, padding="same"),  # AlphaGo
    _c("Conv2D", (32, 32, 32, 16), filters=16, kernel_size=9, padding="same"),  # large kernel
    _c("Conv2D", (2, 27, 27, 96), filters=128, kernel_size=5, padding="same", groups=2),  # AlexNet conv2
    _c("Conv2D", (4, 56, 56, 64), filters=64, kernel_size=3, padding="same", groups=64),  # depthwise
    _c("Conv2D", (4, 28, 28, 128), filters=128, kernel_size=3, padding="same", groups=128),
    _c("Conv2D", (16, 17, 17, 128), filters=128, kernel_size=(1, 7), padding="same"),  # Inception
    _c("Conv2D", (16, 17, 17, 128), filters=128, kernel_size=(7, 1), padding="same"),
    _c("Conv2D", (32, 14, 14, 64), filters=256, kernel_size=1),  # ResNet-50 expansion
    _c("Conv2D", (32, 28, 28, 64), filters=64, kernel_size=1, use_bias=False),
    # 2D, 256+ channels
    _c("Conv2D", (32, 14, 14, 256), filters=64, kernel_size=1),  # bottleneck reduce
    _c("Conv2D", (32, 28, 28, 256), filters=512, kernel_size=1, strides=2),  # projection shortcut
    _c("Conv2D", (16, 14, 14, 256), filters=256, kernel_size=3, padding="same"),
    _c("Conv2D", (16, 7, 7, 512), filters=512, kernel_size=3, padding="same"),  # VGG/ResNet last stage
    _c("Conv2D", (2, 16, 16, 256), filters=256, kernel_size=3, padding="same", groups=256),  # ConvMixer-ish
    # 1D: audio, text, raw waveform
    _c("Conv1D", (32, 101, 40), filters=64, kernel_size=9, padding="same"),  # 40 mel channels
    _c("Conv1D", (32, 101, 64), filters=64, kernel_size=5, padding="same"),  # audio stem
    _c("Conv1D", (64, 400, 64), filters=128, kernel_size=5, padding="same"),
    _c("Conv1D", (64, 64, 128), filters=100, kernel_size=5),  # Kim CNN
    _c("Conv1D", (32, 8000, 1), filters=32, kernel_size=11, strides=4),  # raw waveform
    _c("Conv1D", (32, 1000, 32), filters=32, kernel_size=2, padding="causal", dilation_rate=4),  # WaveNet
    _c("Conv1D", (64, 400, 256), filters=128, kernel_size=1),
    _c("Conv1D", (8, 200, 64), filters=64, kernel_size=7, padding="same", groups=64),
    # 3D volumes
    _c("Conv3D", (16, 28, 28, 28, 1), filters=16, kernel_size=3, padding="same"),
    _c("Conv3D", (16, 28, 28, 28, 16), filters=32, kernel_size=3, padding="same"),
    _c("Conv3D", (8, 32, 32, 32, 8), filters=16, kernel_size=3, padding="same"),
    _c("Conv3D", (8, 32, 32, 32, 16), filters=32, kernel_size=3, strides=2, padding="same"),
    _c("Conv3D", (8, 16, 16, 16, 64), filters=64, kernel_size=1),
    _c("Conv3D", (8, 16, 16, 16, 32), filters=32, kernel_size=3, padding="same", dilation_rate=2),
    _c("Conv3D", (2, 8, 8, 8, 256), filters=256, kernel_size=3, padding="same"),
    _c("Conv3D", (4, 16, 16, 16, 32), filters=32, kernel_size=5, padding="same"),
    # transposed
    _c("Conv1DTranspose", (32, 100, 64), filters=32, kernel_size=4, strides=2, padding="same"),
    _c("Conv2DTranspose", (64, 16, 16, 64), filters=32, kernel_size=3, strides=2, padding="same"),
    _c("Conv2DTranspose", (32, 16, 16, 128), filters=64, kernel_size=4, strides=2, padding="same"),  # DCGAN
    _c("Conv3DTranspose", (16, 14, 14, 14, 32), filters=16, kernel_size=2, strides=2),  # U-Net
    _c("Conv3DTranspose", (8, 16, 16, 16, 32), filters=16, kernel_size=3, strides=2, padding="same"),
    # pooling: 2x2/2 and the overlapping 3x3/2
    _c("MaxPooling2D", (128, 28, 28, 32), pool_size=2),
    _c("MaxPooling2D", (32, 55, 55, 96), pool_size=3, strides=2),  # AlexNet
    _c("MaxPooling2D", (1, 112, 112, 64), pool_size=3, strides=2, padding="same"),  # ResNet, batch 1
    _c("MaxPooling1D", (64, 400, 64), pool_size=2),
    _c("MaxPooling3D", (16, 28, 28, 28, 16), pool_size=2),
    _c("MaxPooling3D", (8, 32, 32, 32, 16), pool_size=3, strides=2, padding="same"),
    _c("AveragePooling2D", (128, 28, 28, 32), pool_size=2),
    _c("AveragePooling2D", (32, 35, 35, 64), pool_size=3, strides=2, padding="same"),
    _c("AveragePooling1D", (64, 400, 64), pool_size=3, strides=2),
    _c("AveragePooling3D", (16, 28, 28, 28, 16), pool_size=2),
    _c("GlobalAveragePooling2D", (128, 7, 7, 512)),
    _c("GlobalMaxPooling1D", (64, 400, 128)),
    # issue 26's "shapes you have not seen" (its (32, 32^2, 32) dilated k3 and (8, 32^3, 8) k3 are above)
    _c("Conv1D", (32, 1000, 40), filters=64, kernel_size=9, padding="same"),
    _c("Conv2D", (64, 32, 32, 3), filters=32, kernel_size=5, padding="same"),
    _c("Conv2D", (64, 16, 16, 64), filters=128, kernel_size=3, strides=2, padding="same"),
    _c("Conv3DTranspose", (4, 16, 16, 16, 16), filters=8, kernel_size=2, strides=2),
    _c("MaxPooling2D", (64, 32, 32, 32), pool_size=2),
    _c("MaxPooling3D", (8, 32, 32, 32, 8), pool_size=2),
]


def _train_step(layer):
    """Loss and gradients of 0.5 * sum(z^2): dL/dz = z, so neither side's forward is pruned.
    Called with training=True, as `fit` calls layers."""

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = 0.5 * tf.reduce_sum(tf.square(layer(x, training=True)))
        return loss, tape.gradient(loss, [x] + layer.trainable_weights)

    return step


def _timed(run):
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: np.asarray(t), run())
    return time.perf_counter() - start


def interleaved(runs, repeats=REPEATS):
    """Median seconds of each run, and the median per-step ratio of the first over the second.

    The runs alternate step by step, after two warm-up steps each (the first one traces).
    """
    for run in runs:
        _timed(run)
        _timed(run)
    times = [[_timed(run) for run in runs] for _ in range(repeats)]
    medians = [statistics.median(t[i] for t in times) for i in range(len(runs))]
    if len(runs) == 1:
        return medians[0], None, None
    return medians[0], medians[1], statistics.median(t[0] / t[1] for t in times)


def measure(layer_class, reference, case):
    """(ours s, reference s or None, ratio or None) for one training step of one layer."""
    ours = layer_class(**case.config)
    ours.build(case.input_shape)
    x = tf.constant(np.random.default_rng(0).normal(size=case.input_shape).astype("float32"))
    runs = [lambda step=_train_step(ours): step(x)]
    if reference is not None:
        ref = reference(dict(case.config))
        ref.build(case.input_shape)
        ref.set_weights([np.reshape(w, r.shape) for w, r in zip(ours.get_weights(), ref.get_weights())])
        runs.append(lambda step=_train_step(ref): step(x))
    return interleaved(runs)


# ---- each pipeline's default network, as a stack of layers --------------------------------


def _conv_bn_relu(lib, x, rank, filters, kernel, **kwargs):
    conv = getattr(lib, f"Conv{rank}D")
    x = conv(filters, kernel, padding="same", use_bias=False, **kwargs)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    return keras.layers.Activation("relu")(x)


def digits(lib):
    """LeCun 1989 widened (the digits default): strided 5x5/5x5/3x3 convolutions on 16x16."""
    x = inputs = keras.Input((16, 16, 1))
    for index, filters in enumerate((32, 64, 128)):
        x = _conv_bn_relu(lib, x, 2, filters, 5 if index < 2 else 3, strides=2)
    x = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(10)(x)), 64


def objects(lib):
    """The objects default: AlexNet recipe at 32x32 (5x5 convs, overlapping 3x3/2 max pooling, LRN)."""
    lrn = layers.LocalResponseNormalization if lib is layers else TFLocalResponseNormalization
    x = inputs = keras.Input((32, 32, 3))
    x = lib.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = lrn()(lib.MaxPooling2D(3, strides=2, padding="same")(x))
    x = lrn()(lib.Conv2D(64, 5, padding="same", activation="relu")(x))
    x = lib.MaxPooling2D(3, strides=2, padding="same")(x)
    x = lib.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = lib.MaxPooling2D(3, strides=2, padding="same")(x)
    x = keras.layers.Dense(384, activation="relu")(keras.layers.Flatten()(x))
    x = keras.layers.Dense(192, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x)), 128


def audio(lib):
    """The audio default: Conv1D over ~101 frames x 64 mel channels, 3 blocks, global pooling."""
    x = inputs = keras.Input((101, 64))
    x = _conv_bn_relu(lib, x, 1, 64, 5)
    for block, filters in enumerate((64, 128, 256)):
        x = _conv_bn_relu(lib, x, 1, filters, 3)
        x = _conv_bn_relu(lib, x, 1, filters, 3)
        if block < 2:
            x = lib.MaxPooling1D(2)(x)
    x = keras.layers.Concatenate()([lib.GlobalMaxPooling1D()(x), lib.GlobalAveragePooling1D()(x)])
    return keras.Model(inputs, keras.layers.Dense(12)(x)), 32


def text(lib):
    """The text default (Kim 2014): embeddings, Conv1D widths 3/4/5 x 100, global max over time."""
    tokens = keras.Input((64,), dtype="int32")
    x = keras.layers.Embedding(20000, 128)(tokens)
    branches = [lib.GlobalMaxPooling1D()(lib.Conv1D(100, k, activation="relu")(x)) for k in (3, 4, 5)]
    return keras.Model(tokens, keras.layers.Dense(2)(keras.layers.Concatenate()(branches))), 64


def volumes(lib):
    """The volumes default (cnn3d): 32^3, levels of 16/32/64 filters, two 3^3 convs each, pooling."""
    x = inputs = keras.Input((32, 32, 32, 1))
    for level, width in enumerate((16, 32, 64)):
        if level:
            x = lib.MaxPooling3D(2)(x)
        x = _conv_bn_relu(lib, _conv_bn_relu(lib, x, 3, width, 3), 3, width, 3)
    x = keras.layers.Concatenate()([lib.GlobalAveragePooling3D()(x), lib.GlobalMaxPooling3D()(x)])
    return keras.Model(inputs, keras.layers.Dense(2)(x)), 16


def segment(lib):
    """The segment default: 3D U-Net on 32^3 crops, base 16 filters, depth 3."""
    x = inputs = keras.Input((32, 32, 32, 1))
    skips = []
    for level in range(3):
        x = _conv_bn_relu(lib, _conv_bn_relu(lib, x, 3, 16 * 2**level, 3), 3, 16 * 2**level, 3)
        skips.append(x)
        x = lib.MaxPooling3D(2)(x)
    x = _conv_bn_relu(lib, _conv_bn_relu(lib, x, 3, 128, 3), 3, 128, 3)
    for level in reversed(range(3)):
        x = lib.Conv3DTranspose(16 * 2**level, 2, strides=2)(x)
        x = keras.layers.Concatenate()([x, skips[level]])
        x = _conv_bn_relu(lib, _conv_bn_relu(lib, x, 3, 16 * 2**level, 3), 3, 16 * 2**level, 3)
    return keras.Model(inputs, lib.Conv3D(2, 1)(x)), 2


NETWORKS = {f.__name__: f for f in (digits, objects, audio, text, volumes, segment)}


def measure_network(build):
    """(ours s, Keras s, ratio) of one train_on_batch of the network built both ways."""
    models = []
    for lib in (layers, keras.layers):
        keras.utils.set_random_seed(0)
        model, batch = build(lib)
        model.compile(keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    rng = np.random.default_rng(0)
    shape = (batch,) + tuple(models[0].input_shape[1:])
    if models[0].inputs[0].dtype == "int32":
        x = rng.integers(1, 20000, size=shape).astype("int32")
    else:
        x = rng.normal(size=shape).astype("float32")
    y = rng.integers(0, models[0].output_shape[-1], size=(batch,) + tuple(models[0].output_shape[1:-1]))
    return interleaved([lambda m=m: m.train_on_batch(x, y) for m in models])


# ---- the report ----------------------------------------------------------------------------


def _grid_cases(argv):
    for arg in argv:
        if arg.startswith("--module="):
            runpy.run_path(arg.split("=", 1)[1], run_name="cnn_user_layers")
    for name, case in GRID:
        entry = registry.get(name)
        yield name, case, entry.layer_class, entry.reference
    for entry in registry.entries():
        for case in entry.bench_cases:
            yield entry.name, case, entry.layer_class, entry.reference


def _short(config):
    return ", ".join(f"{k}={v}" for k, v in config.items())


def _row(label, ours, ref, ratio):
    ref_cells = f"{ref * 1e3:.1f} | {ratio:.2f}" if ref else "- | -"
    line = f"| {label} | {ours * 1e3:.1f} | {ref_cells} |"
    print(line, flush=True)
    return line


def _summary(ratios, limit_median, limit_worst):
    if not ratios:
        return "no reference cases"
    median, worst = statistics.median(ratios), max(ratios)
    met = median <= limit_median and worst <= limit_worst
    return (f"**median {median:.2f}, worst {worst:.2f}** over {len(ratios)} cases (target: median <= "
            f"{limit_median}, worst <= {limit_worst}: {'met' if met else 'NOT met'})")


def _onednn():
    """Whether TensorFlow runs its oneDNN kernels, as TensorFlow itself decided: its default
    depends on the CPU (off on this AVX2 EPYC without AVX-512), TF_ENABLE_ONEDNN_OPTS overrides
    it. Without that (private) answer, only what the variable requests."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        requested = {"1": "requested on", "0": "requested off"}
        return requested.get(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "unknown")
    return "on" if _pywrap_util_port.IsMklEnabled() else "off"


def _cpu():
    """'MODEL; flags: ...' from /proc/cpuinfo: the flags that decide TensorFlow's oneDNN default."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        return f"{model}; CPU flags unknown"
    found = [f for f in CPU_FLAGS if f in flags]
    wide = [f for f in found if f != "avx2"]
    return f"{model}; CPU flags: {' '.join(found) or 'none of ' + ' '.join(CPU_FLAGS)}" + (
        "" if wide else " (no AVX-512, AVX-VNNI or AMX)")


def _run_mode(mode, argv):
    """One mode's section, measured in a child process with TF_ENABLE_ONEDNN_OPTS=mode; its
    rows are echoed as they come."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=mode)
    child = [sys.executable, "-c", "import sys; from bench import layers; layers.child(sys.argv[1:])", *argv]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with subprocess.Popen(child, env=env, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        lines = iter(process.stdout.readline, "")
        for line in lines:
            if line.rstrip("\n") == SECTION_MARK:
                break
            print(line, end="", flush=True)
        section = "".join(lines)
    if process.returncode:
        sys.exit(f"The TF_ENABLE_ONEDNN_OPTS={mode} run failed (exit status {process.returncode}).")
    return section.strip("\n")


def child(argv):
    """A child process's part: measure in this process's mode, print the section after SECTION_MARK."""
    section = measure_here(argv)
    print(SECTION_MARK, section, sep="\n", flush=True)


def run(argv):
    """Both modes (or `--modes=`), each in its own process, one section."""
    modes = option(argv, "modes", ",".join(MODES)).split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        sys.exit(f"--modes takes {' or '.join(MODES)} or both, comma-separated (TF_ENABLE_ONEDNN_OPTS values); "
                 f"got {','.join(sorted(unknown))}.")
    _policy(argv)  # before any child starts
    rest = [a for a in argv if not a.startswith("--modes=")]
    parts = []
    for mode in modes:
        print(f"== TF_ENABLE_ONEDNN_OPTS={mode}", flush=True)
        parts += [_run_mode(mode, rest), ""]
    return "\n".join(["## layers (layers/): training-step time, ours vs keras.layers", "", _cpu(), "", *parts])


def _policy(argv):
    """`--policy=NAME`, checked: a Keras dtype policy."""
    policy = option(argv, "policy", "float32")
    try:
        keras.DTypePolicy(policy)
    except ValueError:
        sys.exit(f"--policy={policy} is not a Keras dtype policy; use float32, mixed_bfloat16 or mixed_float16.")
    return policy


def measure_here(argv):
    only = option(argv, "only", "")
    policy = _policy(argv)
    keras.mixed_precision.set_global_policy(policy)
    tables = {"--grid", "--networks"} & set(argv) or {"--grid", "--networks"}
    load = [os.getloadavg()[0]]
    started = datetime.now()
    lines = []
    if "--grid" in tables:
        rows, ratios = [], []
        for name, case, layer_class, reference in _grid_cases(argv):
            label = f"{name} | `{case.input_shape}` {_short(case.config)}"
            if only in label:
                ours, ref, ratio = measure(layer_class, reference, case)
                ratios += [ratio] if ratio else []
                rows.append(_row(label, ours, ref, ratio))
        load.append(os.getloadavg()[0])
        lines += ["| layer | input, config | ours (ms) | Keras (ms) | ours/Keras |", "|---|---|---|---|---|",
                  *rows, "", _summary(ratios, TARGETS["median"], TARGETS["worst"]), ""]
    if "--networks" in tables:
        rows, ratios = [], []
        for name, build in NETWORKS.items():
            if only in name:
                ours, ref, ratio = measure_network(build)
                ratios.append(ratio)
                rows.append(_row(f"{name} | {build.__doc__.splitlines()[0]}", ours, ref, ratio))
        load.append(os.getloadavg()[0])
        lines += ["| network | layers | ours (ms) | Keras (ms) | ours/Keras |", "|---|---|---|---|---|",
                  *rows, "", _summary(ratios, TARGETS["network"], TARGETS["network"]), ""]
    requested = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    header = (
        f"{started:%Y-%m-%d %H:%M}, {platform.machine()} {os.cpu_count()} cores, TensorFlow {tf.__version__} "
        f"(TF_ENABLE_ONEDNN_OPTS={requested}: oneDNN {_onednn()} as TensorFlow reports it"
        f"{', BFC CPU allocator' if allocator.caching_allocator_active() else ''}), Keras "
        f"{keras.__version__}, dtype policy {policy}; load average (1 min) "
        f"{' / '.join(f'{v:.1f}' for v in load)} at start / after each table; "
        f"`{' '.join([f'TF_ENABLE_ONEDNN_OPTS={requested} python -m bench layers', *argv])}`; "
        f"median of {REPEATS} steps, ours and Keras alternating."
    )
    return "\n".join([f"### oneDNN {_onednn()}", "", header, "", *lines])
