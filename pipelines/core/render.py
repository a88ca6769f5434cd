"""Drawing helpers for the domains' `render_explanation` hooks: every picture and array is
written atomically (pipelines/core/files.py). A map is drawn in its own values with a colour bar
beside it, next to the input it explains (not over it alone, which hides the input); the .npy
files keep the raw values."""
from __future__ import annotations

import dataclasses
import html
import pathlib

import numpy as np

from pipelines.core import files


@dataclasses.dataclass
class Rendering:
    """What one explanation left: files written, and lines for the terminal (coloured tokens)."""

    files: list = dataclasses.field(default_factory=list)
    lines: list = dataclasses.field(default_factory=list)

    def extend(self, other):
        self.files += other.files
        self.lines += other.lines
        return self


def safe_name(text):
    """A class name as a file-name part."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text)) or "_"


def unit(map_):
    """A map scaled to [0, 1] (all zeros stay zeros)."""
    map_ = np.asarray(map_, np.float32)
    low, high = float(map_.min()), float(map_.max())
    return (map_ - low) / (high - low) if high > low else np.zeros_like(map_)


def save_npy(path, array):
    def write(temporary):
        with open(temporary, "wb") as stream:
            np.save(stream, np.asarray(array, np.float32))

    return files.atomic_write(path, write)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path, dpi=100):
    plt = pyplot()
    try:
        return files.atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"))
    finally:
        plt.close(figure)


MAP_COLOURS = "inferno"  # dark (low) to bright (high): reads on a screen and in grey print


def colour_bar(figure, picture, ax, label="map value"):
    """A colour bar beside `ax` giving the scale of `picture` (an imshow of a map's raw values)."""
    bar = figure.colorbar(picture, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return bar


def _range(map_):
    """(low, high) of a map for its colour scale (a flat map gets a scale of width 1)."""
    low, high = float(np.min(map_)), float(np.max(map_))
    return (low, high) if high > low else (low, low + 1.0)


def overlay_figure(image, map_, title):
    """Three panels: the input (H, W) or (H, W, C) 0..255 as it is; the map (H, W) in its own
    values with a colour bar; the map over the input in grey, opaque where the map is high and
    clear where it is low, so that the input stays visible."""
    plt = pyplot()
    image, map_ = np.asarray(image, np.float32), np.asarray(map_, np.float32)
    shown = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    pixels = np.clip(shown, 0, 255).astype(np.uint8)
    figure, axes = plt.subplots(1, 3, figsize=(9.0, 3.0))
    for ax in axes:
        ax.axis("off")
    axes[0].imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=255)
    axes[0].set_title("input", fontsize=8)
    low, high = _range(map_)
    picture = axes[1].imshow(map_, cmap=MAP_COLOURS, vmin=low, vmax=high)
    axes[1].set_title("map", fontsize=8)
    colour_bar(figure, picture, axes[1])
    grey = pixels if pixels.ndim == 2 else pixels.mean(axis=-1)
    axes[2].imshow(grey, cmap="gray", vmin=0, vmax=255)
    weights = unit(map_)
    layer = pyplot().get_cmap(MAP_COLOURS)(weights)
    layer[..., 3] = 0.6 * weights  # alpha: clear where the map is low
    axes[2].imshow(layer)
    axes[2].set_title("map over input", fontsize=8)
    figure.suptitle(title, fontsize=8)
    return figure


def overlay_png(path, image, map_, title):
    """`overlay_figure` as a PNG."""
    return save_figure(overlay_figure(image, map_, title), path)


def spectrogram_png(path, log_mel, map_, title):
    """log-mel (T, M) as it is, the map (T, M) under it with a colour bar, and the per-frame
    importance under both (one time axis for all three)."""
    plt = pyplot()
    map_ = np.asarray(map_, np.float32)
    figure, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 3, 1]})
    spectrum = axes[0].imshow(np.asarray(log_mel).T, origin="lower", aspect="auto", cmap="magma")
    colour_bar(figure, spectrum, axes[0], "log-mel (dB)")
    axes[0].set_ylabel("mel band")
    axes[0].set_title(f"{title}: input", fontsize=8)
    low, high = _range(map_)
    picture = axes[1].imshow(map_.T, origin="lower", aspect="auto", cmap=MAP_COLOURS, vmin=low, vmax=high)
    colour_bar(figure, picture, axes[1])
    axes[1].set_ylabel("mel band")
    axes[1].set_title("map", fontsize=8)
    axes[2].plot(map_.sum(axis=1))
    axes[2].set_xlabel("frame")
    axes[2].set_ylabel("per frame", fontsize=7)
    return save_figure(figure, path)


def montage_png(path, volume, map_, title, count=8):
    """`count` axial slices (last axis) of a volume (D, H, W) and, under each, the map in its own
    values (one colour bar), evenly spaced through the slices where the map is largest."""
    plt = pyplot()
    volume, map_ = np.asarray(volume, np.float32), np.asarray(map_, np.float32)
    weights = unit(map_)
    mass = weights.sum(axis=(0, 1))
    inside = np.flatnonzero(mass > 0.05 * mass.max()) if mass.max() > 0 else np.arange(map_.shape[2])
    picks = np.unique(np.linspace(inside.min(), inside.max(), count).round().astype(int))
    figure, axes = plt.subplots(2, len(picks), figsize=(1.6 * len(picks) + 0.8, 3.6), squeeze=False)
    low, high = _range(map_)
    for column, index in enumerate(picks):
        axes[0][column].imshow(volume[:, :, index].T, origin="lower", cmap="gray")
        axes[0][column].set_title(f"z={index}", fontsize=7)
        picture = axes[1][column].imshow(map_[:, :, index].T, origin="lower", cmap=MAP_COLOURS, vmin=low, vmax=high)
    for ax in axes.ravel():
        ax.axis("off")
    colour_bar(figure, picture, list(axes.ravel()))
    figure.suptitle(f"{title}: input (top), map (bottom)", fontsize=8)
    return save_figure(figure, path)


def curve_png(path, map_, title):
    """A 1D map as a curve (fallback for inputs with no picture of their own)."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(7, 2.5))
    ax.plot(np.asarray(map_).ravel())
    ax.set_title(title, fontsize=8)
    return save_figure(figure, path)


def heatmap_png(path, map_, title):
    """A 2D map (or the middle slice of a 3D one) as a heat map (fallback)."""
    plt = pyplot()
    map_ = np.asarray(map_)
    while map_.ndim > 2:
        map_ = map_[map_.shape[0] // 2]
    figure, ax = plt.subplots(figsize=(3.6, 3.2))
    low, high = _range(map_)
    colour_bar(figure, ax.imshow(map_, cmap=MAP_COLOURS, vmin=low, vmax=high), ax)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    return save_figure(figure, path)


def token_weights(map_):
    """Per-token importance scaled so the most important token is 1."""
    map_ = np.asarray(map_, np.float32)
    return map_ / map_.max() if map_.max() > 0 else map_


def tokens_html(tokens, weights, title):
    """A self-contained HTML page: each token on a red background as strong as its weight."""
    spans = " ".join(
        f'<span title="{w:.3f}" style="background: rgba(220, 30, 30, {w:.3f}); padding: 1px 2px">'
        f"{html.escape(t)}</span>" for t, w in zip(tokens, weights))
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h3>{html.escape(title)}</h3><p style=\"line-height: 2\">{spans}</p></body></html>")


def tokens_terminal(tokens, weights):
    """Tokens coloured by weight with ANSI 256-colour backgrounds (white -> red)."""
    ramp = (231, 224, 217, 210, 203, 196)  # light to strong red
    return " ".join(f"\x1b[48;5;{ramp[min(int(w * len(ramp)), len(ramp) - 1)]}m\x1b[30m{t}\x1b[0m"
                    for t, w in zip(tokens, weights))


def write_text(path, text):
    return files.write_text(pathlib.Path(path), text)


def default(prefix, maps, title):
    """.npy of every map and a picture by its rank: a curve (1D), a heat map (2D, 3D)."""
    rendering = Rendering()
    for label, map_ in maps.items():
        stem = f"{prefix}_{safe_name(label)}"
        rendering.files.append(save_npy(f"{stem}.npy", map_))
        draw = curve_png if np.asarray(map_).ndim == 1 else heatmap_png
        rendering.files.append(draw(f"{stem}.png", map_, f"{title}: {label}"))
    return rendering


def atomic_nifti(path, array, geometry):
    """A float32 NIfTI with the scan's affine and header (datasets.formats.nifti.save_like)."""
    from datasets.formats import nifti

    path = pathlib.Path(path)
    return files.atomic_write(path, lambda temporary: nifti.save_like(array, geometry, temporary, np.float32))
