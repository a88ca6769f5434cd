"""`cnn visualize RUN`: what the network learned and how training went, as PNGs.

- `filters.png`: the first convolution's kernels as a grid: 2D kernels as images (RGB when the
  input has 3 channels, else averaged over input channels), 1D kernels as curves (one per input
  channel, the strongest 8), 3D kernels as their middle slice;
- `features_<k>_<stage>.png`: the activations of one input at every convolution stage of the
  model's own graph (up to 16 channels each: 2D as images, 1D as a channels x time image, 3D as
  the middle slice);
- `curves.png`: loss and each metric per epoch from history.csv, training and validation together.
"""
from __future__ import annotations

import csv
import math
import pathlib

import numpy as np

from analysis import artifacts
from analysis.explanations import stages
from pipelines.core import render, runs

MAX_PANELS = 16


def _grid(count, size=1.3):
    plt = render.pyplot()
    columns = min(count, 8)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return figure, axes.ravel()


def filters_png(path, kernel, title):
    """A grid of the filters of a kernel (*k, in, out)."""
    kernel = np.asarray(kernel, np.float32)
    rank, count = kernel.ndim - 2, min(kernel.shape[-1], 64)
    figure, axes = _grid(count)
    for index, ax in enumerate(axes[:count]):
        weights = kernel[..., index]  # (*k, in)
        if rank == 1:
            strongest = np.argsort(-np.abs(weights).sum(axis=0))[:8]
            ax.axis("on")
            ax.plot(weights[:, strongest], linewidth=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if rank == 3:
            weights = weights[weights.shape[0] // 2]  # middle slice (kh, kw, in)
        picture = render.unit(weights) if weights.shape[-1] == 3 else render.unit(weights.mean(axis=-1))
        ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", interpolation="nearest")
    figure.suptitle(f"{title}: {kernel.shape[-1]} filters {'x'.join(map(str, kernel.shape[:-2]))}"
                    f" over {kernel.shape[-2]} channel(s)", fontsize=8)
    return render.save_figure(figure, path)


def feature_maps_png(path, activations, title):
    """Up to 16 channels of one example's activations (*spatial, C)."""
    activations = np.asarray(activations, np.float32)
    rank = activations.ndim - 1
    if rank == 1:  # (T, C): one image, channels by time
        plt = render.pyplot()
        figure, ax = plt.subplots(figsize=(7, 2.5))
        ax.imshow(activations.T, aspect="auto", origin="lower", cmap="viridis")
        ax.set_xlabel("position")
        ax.set_ylabel("channel")
        ax.set_title(title, fontsize=8)
        return render.save_figure(figure, path)
    count = min(activations.shape[-1], MAX_PANELS)
    figure, axes = _grid(count)
    for index, ax in enumerate(axes[:count]):
        channel = activations[..., index]
        if rank == 3:
            channel = channel[:, :, channel.shape[2] // 2].T  # middle axial slice
        ax.imshow(channel, cmap="viridis", interpolation="nearest")
    figure.suptitle(f"{title}: {activations.shape[-1]} channels {'x'.join(map(str, activations.shape[:-1]))}",
                    fontsize=8)
    return render.save_figure(figure, path)


def read_history(path):
    """{column: [values per epoch]} of a Keras CSVLogger file; columns Keras wrote as NA (no
    validation split) are left out."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    columns = {key: [float(row[key]) for row in rows if row.get(key) not in (None, "", "NA")]
               for key in (rows[0] if rows else {})}
    return {key: values for key, values in columns.items() if values}


def curves(path, history, title):
    """Loss and each metric per epoch, training and validation on the same axes, epochs as
    integer ticks; (the PNG's path, the epoch tick labels drawn)."""
    from matplotlib.ticker import MaxNLocator

    names = [key for key in history if key not in ("epoch", "learning_rate") and not key.startswith("val_")]
    plt = render.pyplot()
    figure, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3), squeeze=False)
    epochs = np.arange(1, len(history.get("epoch", history[names[0]])) + 1)
    for ax, name in zip(axes[0], names):
        ax.plot(epochs[:len(history[name])], history[name], marker="o", label="train")
        if history.get(f"val_{name}"):
            ax.plot(epochs[:len(history[f"val_{name}"])], history[f"val_{name}"], marker="o", label="validation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, len(epochs) + 0.5)  # epochs count from 1: no tick at 0
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.canvas.draw()  # the tick labels exist once drawn
    ax = axes[0][0]
    low, high = ax.get_xlim()
    ticks = [label.get_text() for tick, label in zip(ax.get_xticks(), ax.get_xticklabels()) if low <= tick <= high]
    return render.save_figure(figure, path), ticks


def curves_png(path, history, title):
    """`curves` as a PNG alone (`cnn visualize`)."""
    return curves(path, history, title)[0]


def stage_activations(model, batch):
    """[(stage name, activations of the first example)] at every convolution stage."""
    import keras

    names = stages.convolution_stages(model)
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    outputs = probe(batch, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(name, np.asarray(output)[0]) for name, output in zip(names, outputs)]


def first_example(pipeline, record):
    """The run's first test example as the model takes it, re-read from its sources."""
    test = runs.splits_of(pipeline, record).test
    inputs, _ = next(iter(pipeline.input_dataset(test.take(np.arange(1)), 1)))
    return np.asarray(inputs)[0], f"{test.origin}, example 0"


def visualize(run_dir, input_file=None, out_dir=None):
    """Write the filters, feature maps and curves of a finished run; the files written."""
    run_dir = pathlib.Path(run_dir)
    run = artifacts.open(run_dir, artifacts.RUN)
    if input_file is not None and not pathlib.Path(input_file).is_file():
        raise FileNotFoundError(f"{input_file}: no such file")
    pipeline, model, record = run.pipeline, run.model, run.record
    out_dir = pathlib.Path(out_dir or run_dir / "visualize")
    out_dir.mkdir(parents=True, exist_ok=True)
    conv = stages.first_convolution(model)
    written = [filters_png(out_dir / "filters.png", conv.kernel.numpy(), f"{conv.name}")]
    if input_file is not None:
        example, name = pipeline.explain_input(str(input_file))[0], str(input_file)
    else:
        example, name = first_example(pipeline, record)
    for index, (stage, values) in enumerate(stage_activations(model, np.asarray(example)[None])):
        written.append(feature_maps_png(out_dir / f"features_{index:02d}_{render.safe_name(stage)}.png",
                                        values, f"{name}: {stage}"))
    history = run_dir / "history.csv"
    if history.is_file() and read_history(history):
        written.append(curves_png(out_dir / "curves.png", read_history(history), f"{record['pipeline']}: {run_dir.name}"))
    return written
