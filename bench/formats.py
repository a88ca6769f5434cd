"""Inference latency of each export format, ours against keras.layers (`python -m bench formats`).

For each pipeline's default network (seeded weights: latency does not depend on training), the
same network is rebuilt with keras.layers in place of ours (serving/formats/native.py: each
layer's registered Keras reference, the weights copied), and both are exported the same way: a
SavedModel (serving/export.py, called through its `serving_default` signature; ours keeps our
layers), LiteRT float32 and int8 (calibrated on 100 bundled training examples) and ONNX
(serving/formats, which ships the keras.layers twin of either: ours checked against it first;
read back with serving/formats/runtime.py: ai-edge-litert's interpreter, ONNX Runtime's CPU
provider). So a row's ratio is what the user gets from exporting our network against exporting
the keras.layers one: ~1 in LiteRT and ONNX by construction, ours' own kernels in the SavedModel. Each
export's raw served input comes from the pipeline's bundled data, at batch 1 and 32. Ours and the
reference are called alternately in one process (after two warm calls each); a row gives each
side's median and the median of the per-call ratios, so that the shared machine's varying load
weighs on both alike, and each side's fastest call (see `cells`).

`--runs=RUN[,RUN]` measures trained run folders instead (issue 28, item 2): each run's model.keras
exported as LiteRT float32, dynamic, float16 and int8 (calibrated on 300 examples of the run's
own training split, as `cnn export --quantize int8` does) and ONNX, with each file's size, batch 1
and 32 latency (batch 32: the calls on the test split, see `in_batches`) and largest probability
difference from model.keras on up to 1,000 served examples of the run's test split, and the
pipeline's test metric (mean Dice, ROC AUC for two classes, else accuracy) as `cnn evaluate`
gives it for the file on the whole test split, with its change against model.keras.

Flags: `--only=NAME[,NAME]` (pipelines: digits, objects, audio, volumes), `--formats=F[,F]`
(saved_model, litert, onnx; default all), `--repeats=N` (default 15).
The section names the CPU and its AVX-512/AMX flags, the oneDNN mode TensorFlow reports (it
matters for the SavedModel rows only) and the load average before and after.
"""
import os
import pathlib
import platform
import statistics
from importlib import metadata
import tempfile
import time
from datetime import datetime

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.layers import _cpu, _onednn, _timed  # noqa: E402
from serving.formats import native  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the SavedModel export's table-initializer warnings

NETWORKS = ("digits", "objects", "audio", "volumes")
BATCHES = (1, 32)
REPEATS = 15
CALIBRATION = 100  # int8: fewer than the product's 300, to keep the bench short; latency does not depend on it
FORMATS = [("SavedModel", "saved_model", "none"), ("LiteRT float32", "litert", "none"),
           ("LiteRT int8", "litert", "int8"), ("ONNX Runtime", "onnx", "none")]
KINDS = ("saved_model", "litert", "onnx")
RUNTIMES = ("ai-edge-litert", "onnxruntime", "tf2onnx")

def prepared(name):
    """(pipeline, our model, its keras.layers twin, class names, served bundled inputs)."""
    import pipelines
    from pipelines.core import sources
    from serving import warmup

    pipeline = pipelines.get(name)(pipelines.get(name).Config())
    splits = sources.load_splits(pipeline, "bundled")
    keras.utils.set_random_seed(0)
    model = pipeline.build_model(len(splits.class_names))
    twin, _ = native.keras_layers_twin(model)
    inputs = warmup.served_examples(pipeline, splits.train, CALIBRATION)
    while len(inputs) < max(BATCHES):  # a small bundled split: repeat it
        inputs = np.concatenate([inputs, inputs])
    gap = native.difference(model, twin, inputs[:8])
    if gap > native.tolerance(model):
        raise RuntimeError(f"{name}: the keras.layers twin differs from ours by {gap:.2e}")
    return pipeline, model, twin, list(splits.class_names), inputs


def predictor(model, pipeline, class_names, format, quantize, calibration, root, tag):
    """batch (NumPy) -> outputs, of `model` exported in `format` under `root`."""
    from serving import export, formats
    from serving.formats import runtime

    if format == "saved_model":
        path = export.export(model, pipeline, class_names, root, name=f"{pipeline.name}-{tag}")
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        return lambda batch: {k: v.numpy() for k, v in signature(**{pipeline.input_name: tf.constant(batch)}).items()}
    path = formats.export(model, pipeline, class_names, root, format, quantize, representative=calibration,
                          name=f"{pipeline.name}-{format}-{quantize}-{tag}")
    return runtime.Export(path)


def alternating(runs, repeats):
    """Seconds of each call of each run (ours, Keras), called alternately after two warm calls each."""
    for run in runs:
        _timed(run)
        _timed(run)
    times = [[_timed(run) for run in runs] for _ in range(repeats)]
    return [[t[i] for t in times] for i in range(len(runs))]


def cells(ours, theirs):
    """Medians, the median of the per-call ratios, and the fastest calls' ratio: on a loaded
    machine a call longer than the scheduler's slice waits for the CPU, so the medians carry
    that wait and the fastest calls show the work itself."""
    ratio = statistics.median(a / b for a, b in zip(ours, theirs))
    return (f"{statistics.median(ours) * 1e3:.2f} | {statistics.median(theirs) * 1e3:.2f} | {ratio:.2f} | "
            f"{min(ours) * 1e3:.2f} | {min(theirs) * 1e3:.2f} | {min(ours) / min(theirs):.2f}")


def measure(name, repeats, formats):
    """The rows of one pipeline: (format, batch, its cells); a format the pipeline is refused
    (audio's LiteRT int8) gets one row saying so."""
    from serving.formats import Refused

    pipeline, model, twin, class_names, inputs = prepared(name)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnn-bench-formats-") as root:
        for label, format, quantize in (f for f in FORMATS if f[1] in formats):
            # where the runtime lacks a keras.layers op's kernel (LiteRT: 3D pooling), the keras.layers
            # network cannot be converted at all; its reference takes the format's own twin there, as the export does
            reference = native.keras_layers_twin(model, format)[0] if native.FORMAT_REFERENCES.get(format) else twin
            try:
                ours, theirs = (predictor(m, pipeline, class_names, format, quantize, inputs, root, tag)
                                for m, tag in ((model, "ours"), (reference, "keras")))
            except Refused as refused:
                rows.append((label, "", f"refused: {refused}" + " |" * 5))
                continue
            for batch in BATCHES:
                x = inputs[:batch]
                rows.append((label, batch, cells(*alternating([lambda: ours(x), lambda: theirs(x)], repeats))))
                print(f"| {name} | {label} | {batch} | {rows[-1][2]} |", flush=True)
    return pipeline, inputs.shape[1:], rows


QUANTIZED = [("LiteRT float32", "litert", "none"), ("LiteRT dynamic", "litert", "dynamic"),
             ("LiteRT float16", "litert", "float16"), ("LiteRT int8", "litert", "int8"), ("ONNX", "onnx", "none")]
TEST_EXAMPLES = 1000
HEADLINE = ("mean_dice", "auc", "accuracy")


def in_batches(predict, inputs, size=max(BATCHES)):
    """(`predict`'s outputs on `inputs`, called on batches of `size`; the seconds of each full
    batch's call but the first, which warms the runtime up): the test split's own calls time the
    largest batch, so a slow file (volumes' flip-averaged 3D network: seconds a call) runs once."""
    outputs, seconds = [], []
    for start in range(0, len(inputs), size):
        began = time.perf_counter()
        outputs.append(np.asarray(predict(inputs[start:start + size])))
        if len(outputs[-1]) == size:
            seconds.append(time.perf_counter() - began)
    return np.concatenate(outputs), seconds[1:] or seconds


def latencies(predict, inputs, repeats, batch_seconds, size=max(BATCHES)):
    """"median / fastest" milliseconds of one call at batch 1 (`repeats` calls after two warm ones)
    and at batch `size` (`batch_seconds`, from in_batches; named when it is not 32)."""
    times = [alternating([lambda: predict(inputs[:1])], repeats)[0], batch_seconds]
    cells = [f"{statistics.median(t) * 1e3:.2f} / {min(t) * 1e3:.2f}" if t else "- (no full batch)" for t in times]
    return " | ".join(cells) + ("" if size == max(BATCHES) else f" (batch {size})")


def runs_on_example(predict, x):
    try:
        predict(x[None])
    except RuntimeError:
        return False
    return True


def test_metric(path):
    """(name, value) of the metric a pipeline is judged by, of a run folder or an export on the
    run's test split, as `cnn evaluate` computes it: mean Dice (segmentation), ROC AUC (two
    classes), else accuracy."""
    from analysis import evaluation

    metrics = evaluation.evaluate(path)
    name = next(key for key in HEADLINE if key in metrics)
    return name, metrics[name]


def run_rows(run_dir, repeats):
    """One trained run's table rows: model.keras, then each format and quantization."""
    from pipelines.core import runs
    from serving import formats, warmup
    from serving.formats import runtime

    record = runs.read_record(run_dir)
    pipeline = runs.pipeline_from_record(record)
    model_file = runs.finished_model(run_dir)
    model = runs.load_model(pipeline, model_file)
    inputs = warmup.served_examples(pipeline, runs.splits_of(pipeline, record).test, TEST_EXAMPLES)
    size = formats.check_batch(inputs)  # whole 3D volumes: fewer than 32 a call (LiteRT's memory)
    traced = tf.function(lambda x: model(x, training=False))
    expected, seconds = in_batches(traced, inputs, size)
    times = latencies(traced, inputs, repeats, seconds, size)
    metric, value = test_metric(run_dir)
    rows = [f"| {pipeline.name} | model.keras | {model_file.stat().st_size / 1024:.0f} | {times} | "
            f"{metric} {value:.4f} | | |"]
    with tempfile.TemporaryDirectory(prefix="cnn-bench-formats-") as root:
        for label, format, quantize in QUANTIZED:
            path = formats.export_run(run_dir, root, format, quantize)
            predict = runtime.Export(path)
            try:
                got, seconds = in_batches(predict, inputs, size)
            except RuntimeError as error:  # a kernel that refuses some inputs (LiteRT's int8 DIV by zero)
                failing = sum(not runs_on_example(predict, x) for x in inputs)
                rows.append(f"| {pipeline.name} | {label} | {predict.file.stat().st_size / 1024:.0f} | | | fails on "
                            f"{failing} of {len(inputs)} test examples: {' '.join(str(error).split())[-60:]} | | |")
                continue
            times = latencies(predict, inputs, repeats, seconds, size)
            _, got_value = test_metric(path)
            rows.append(f"| {pipeline.name} | {label} | {predict.file.stat().st_size / 1024:.0f} | {times} | "
                        f"{metric} {got_value:.4f} | {got_value - value:+.4f} | {np.abs(got - expected).max():.1e} |")
            print(rows[-1], flush=True)
    return rows, (f"{pipeline.name}: recipe {record.get('recipe') or '(defaults)'}, {pipeline.config.epochs} epochs; "
                  f"{record['splits']['data']}; latency and probabilities on {len(inputs)} served test examples, "
                  f"the metric on the whole test split")


def run_table(run_dirs, repeats):
    load, started, lines, notes = [os.getloadavg()[0]], datetime.now(), [], []
    for run_dir in run_dirs:
        rows, note = run_rows(pathlib.Path(run_dir), repeats)
        lines += rows
        notes.append(f"- {note}")
        load.append(os.getloadavg()[0])
    return "\n".join([
        "## formats: size, latency and accuracy of each export against model.keras (trained runs)", "",
        _cpu(), "", _header(started, load, "run", f"{repeats} calls at each batch size."), "", *notes, "",
        "| pipeline | export | size (KB) | batch 1 (ms, median / fastest) | batch 32 (ms, median / fastest) | "
        "test metric | change | max prob diff |", "|---|---|---|---|---|---|---|---|", *lines, ""])


def _header(started, load, unit, how):
    """When, where, which versions and the load (at start and after each `unit`), then `how`."""
    return (f"{started:%Y-%m-%d %H:%M}, {platform.machine()} {os.cpu_count()} cores, {versions()}; load average "
            f"(1 min) {' / '.join(f'{v:.1f}' for v in load)} at start / after each {unit}; {how}")


def versions():
    return (f"TensorFlow {tf.__version__} (TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}: "
            f"oneDNN {_onednn()} as TensorFlow reports it), Keras {keras.__version__}, "
            + ", ".join(f"{package} {metadata.version(package)}" for package in RUNTIMES))


def run(argv):
    repeats = int(next((a.split("=", 1)[1] for a in argv if a.startswith("--repeats=")), REPEATS))
    run_dirs = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--runs=")), None)
    if run_dirs:
        return run_table(run_dirs, repeats)
    only = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--only=")), NETWORKS)
    unknown = set(only) - set(NETWORKS)
    if unknown:
        raise SystemExit(f"--only takes {', '.join(NETWORKS)}; got {', '.join(sorted(unknown))}.")
    formats = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--formats=")), KINDS)
    if set(formats) - set(KINDS):
        raise SystemExit(f"--formats takes {', '.join(KINDS)}; got {', '.join(sorted(set(formats) - set(KINDS)))}.")
    load, started, lines = [os.getloadavg()[0]], datetime.now(), []
    for name in only:
        pipeline, shape, rows = measure(name, repeats, formats)
        lines += [f"| {name} `{tuple(shape)}` | {label} | {batch} | {text} |" for label, batch, text in rows]
        load.append(os.getloadavg()[0])
    how = (f"`python -m bench formats {' '.join(argv)}`; {repeats} calls each, ours and Keras alternating; "
           "ours: our network exported (LiteRT and ONNX ship its checked keras.layers twin), Keras: the "
           "keras.layers network exported the same way.")
    return "\n".join([
        "## formats (serving/formats): inference latency per export format, ours vs keras.layers", "",
        _cpu(), "", _header(started, load, "network", how), "",
        "| network, served input | export | batch | ours median (ms) | Keras median (ms) | ours/Keras (median) | "
        "ours fastest (ms) | Keras fastest (ms) | ours/Keras (fastest) |",
        "|---|---|---|---|---|---|---|---|---|", *lines, ""])
