"""`cnn attack`: how much a bounded change of the raw input changes a model's answers.

MODEL is a run folder (its model.keras) or an export (its float `serving_default` signature:
the gradient flows through the SavedModel, our layers' custom gradients included). For every
epsilon the examples of SOURCE (its test split, else all of it) are attacked (FGSM or PGD,
pipelines/extensions/attacks.py) and scored with the pipeline's own report: accuracy, or mean Dice for
segmentation (`Pipeline.attack_metric`).

The attack acts on the input as the user holds it (`Pipeline.held_batches`): an 8x8 PNG is
perturbed at 8x8, with the model's in-graph preprocessing (resize, scaling) inside the gradient.
Each change is rounded toward zero onto the file's resolution (`Pipeline.input_step`: whole
pixel levels), and clean and attacked examples are scored as `cnn predict` reads their files
(`Pipeline.read_back`), so a written example reproduces its reported answer through the export.
Written to the output folder:

    attack.json     settings, clean and robust metric per epsilon, the written examples
    curve.png       the metric against epsilon
    examples/       a few attacked examples at the largest epsilon, in the domain's format
                    (`Pipeline.write_example`), each beside its original, labels in the names
"""
from __future__ import annotations

import datetime
import pathlib
import re

import numpy as np

from analysis import artifacts
from pipelines.core import files, scoring, sources
from pipelines.extensions.attacks import Attack, perturb

RESULT = "attack.json"
CURVE = "curve.png"


def load(model_path):
    """The model to attack (analysis/artifacts.py), refused unless its input is continuous."""
    artifact = artifacts.open(model_path)
    if artifact.pipeline.input_range() is None:
        raise ValueError(f"{model_path}: a {artifact.pipeline.name} model has no continuous input; "
                         "gradient attacks on tokens are out of scope")
    return artifact.load()  # before tf.function traces `probabilities`


def default_epsilons(pipeline):
    """0.1 and 0.3 of the input's range (MNIST's usual 25.5 and 76.5 for pixels)."""
    low, high = pipeline.input_range()
    if low is None or high is None:
        raise ValueError(f"--epsilon: a {pipeline.name} input has no fixed range; give E1,E2,... in its raw units")
    return 0.1 * (high - low), 0.3 * (high - low)


def default_out_dir(pipeline_name, method, base="attacks"):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path(base) / f"{pipeline_name}-{method}-{stamp}"


def attack(model_path, data, epsilons, *, method="pgd", norm="inf", steps=10, step_size=None,
           random_start=False, out_dir=None, json_path=None, data_dir=None, batch_size=None,
           max_examples=None, examples_to_write=4, seed=0):
    """Attack MODEL on SOURCE `data` at each epsilon; the result dict (also written as JSON)."""
    import keras
    import tensorflow as tf

    from datasets import splits

    artifact = load(model_path)
    pipeline, class_names, predict = artifact.pipeline, artifact.class_names, artifact.probabilities
    epsilons = default_epsilons(pipeline) if epsilons is None else epsilons
    attacks = [Attack(method, float(e), norm, steps, step_size, random_start) for e in epsilons]
    source = splits.align(sources.load(pipeline, data, data_dir), class_names)
    examples = source.split("test") or source.split("all") or source.split("train")
    if max_examples is not None and len(examples) > max_examples:
        examples = examples.take(np.arange(max_examples))
    low, high = pipeline.input_range()
    seed_generator = keras.random.SeedGenerator(seed)
    steps_of = [tf.function(lambda x, y, a=a: perturb(predict, x, y, a, low, high, seed_generator),
                            reduce_retracing=True) for a in attacks]
    predict_graph = tf.function(predict, reduce_retracing=True)

    labels, clean, originals = [], [], []
    attacked = [[] for _ in attacks]
    last = []  # adversarial inputs at the largest epsilon, for the example files
    for x, y in pipeline.held_batches(examples, batch_size or pipeline.config.batch_size):
        x = tf.constant(x, tf.float32)  # (B, *the files' own shape)
        labels.append(y)
        clean.append(predict_graph(_read_back(pipeline, x)).numpy())
        for index, step in enumerate(steps_of):
            adversarial = _as_written(pipeline, x, step(x, y))
            attacked[index].append(predict_graph(_read_back(pipeline, adversarial)).numpy())
            if index == len(attacks) - 1 and len(originals) < 64:
                originals += list(x.numpy())
                last += list(adversarial.numpy())
    labels = np.concatenate(labels)
    clean = np.concatenate(clean)
    metric = pipeline.attack_metric

    def score(probabilities):
        return float(pipeline.report(labels, probabilities, class_names)[metric])

    result = {
        "model": str(model_path), "pipeline": pipeline.name, "data": examples.origin,
        "examples": int(len(labels)), "method": method, "norm": norm,
        "steps": attacks[0].iterations, "random_start": bool(random_start),
        "epsilon_units": _units(pipeline), "metric": metric, "clean": score(clean),
        "robust": [{"epsilon": a.epsilon, "step_size": a.step, metric: score(np.concatenate(p))}
                   for a, p in zip(attacks, attacked)],
    }
    out_dir = pathlib.Path(out_dir or default_out_dir(pipeline.name, method))
    out_dir.mkdir(parents=True, exist_ok=True)
    if last:
        result["written_examples"] = _write_examples(
            pipeline, class_names, originals, last, labels[:len(originals)], clean[:len(originals)],
            np.concatenate(attacked[-1])[:len(originals)], out_dir / "examples", examples_to_write,
            attacks[-1].epsilon)
    _plot(result, out_dir / CURVE)
    result["curve"] = str(out_dir / CURVE)
    scoring.write_json(result, out_dir / RESULT)
    if json_path:
        scoring.write_json(result, json_path)
    return result


def _as_written(pipeline, x, adversarial):
    """The adversarial batch as its files hold it: each change rounded toward zero onto the
    file's `Pipeline.input_step` (whole pixel levels), so it stays within epsilon and in range."""
    import tensorflow as tf

    if pipeline.input_step is None:
        return adversarial
    change = (adversarial - x) / pipeline.input_step
    return x + tf.sign(change) * tf.floor(tf.abs(change)) * pipeline.input_step


def _read_back(pipeline, batch):
    """What the model gets from each example of `batch` written as a file and read as `cnn
    predict` reads it (`Pipeline.read_back`): the attack is scored on the files it writes."""
    import tensorflow as tf

    return tf.stack([pipeline.read_back(example) for example in batch.numpy()])


def _units(pipeline):
    low, high = pipeline.input_range()
    if low is None or high is None:
        return "raw input units; valid range: each example's own minimum..maximum"
    return f"raw input units; valid range {low:g}..{high:g}"


def _write_examples(pipeline, class_names, originals, adversarial, labels, clean, attacked, folder,
                    count, epsilon):
    """Up to `count` original/attacked pairs, those whose answer the attack changed first;
    classification names the true, clean and attacked labels, segmentation the share of voxels
    whose class changed."""
    folder.mkdir(parents=True, exist_ok=True)
    before, after = clean.argmax(-1), attacked.argmax(-1)  # (N,) or (N, D, H, W)
    changed = (before != after).reshape(len(before), -1).mean(axis=1)
    order = np.argsort(-changed, kind="stable")[:count]
    written = []
    for rank, index in enumerate(order):
        entry = {"epsilon": epsilon, "max_abs_change": float(np.abs(adversarial[index] - originals[index]).max())}
        if before.ndim == 1:
            names = [class_names[i] for i in (labels[index], before[index], after[index])]
            entry.update(label=names[0], clean_prediction=names[1], adversarial_prediction=names[2])
            safe = [re.sub(r"[^\w.-]", "_", name) for name in names]  # '#' and '*' keys, '/' ...
            stem = f"{rank}-label_{safe[0]}"
            entry["original"] = str(pipeline.write_example(originals[index], folder / f"{stem}-clean_{safe[1]}"))
            entry["adversarial"] = str(pipeline.write_example(adversarial[index], folder / f"{stem}-adversarial_{safe[2]}"))
        else:
            entry["changed_fraction"] = float(changed[index])
            entry["original"] = str(pipeline.write_example(originals[index], folder / f"{rank}-original"))
            entry["adversarial"] = str(pipeline.write_example(adversarial[index], folder / f"{rank}-adversarial"))
        written.append(entry)
    return written


def _plot(result, path):
    """The metric against epsilon, clean at 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result["metric"]
    points = sorted({0.0: result["clean"], **{r["epsilon"]: r[metric] for r in result["robust"]}}.items())
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.plot([e for e, _ in points], [v for _, v in points], marker="o")
    axes.set_xlabel(f"epsilon (L-{result['norm']}, raw input units)")
    axes.set_ylabel(metric)
    axes.set_ylim(0, 1.02)
    axes.set_title(f"{result['pipeline']}: {result['method'].upper()} ({result['steps']} step(s))")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    files.atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=100))
    plt.close(figure)


def summary_lines(result):
    """What `cnn attack` prints."""
    metric = result["metric"]
    lines = [f"data: {result['data']} ({result['examples']} examples)",
             f"clean {metric}: {result['clean']:.4f}"]
    lines += [f"epsilon {r['epsilon']:g}: {metric} {r[metric]:.4f}" for r in result["robust"]]
    return lines
