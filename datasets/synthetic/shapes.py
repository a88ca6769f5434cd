"""A generated offline image set: eight shapes on textured backgrounds (32x32 RGB).

Each image is one of circle, square, triangle, pentagon, hexagon, star, cross, ring, with random
size (radius 6-13 px), position, rotation and colour, on a random smooth-noise background of a
contrasting colour, with a distractor line and pixel noise. Pentagons, hexagons and circles differ
by a few pixels at these sizes, so it is a real recognition task (not separable by colour or
size), small enough to train on a CPU in a minute. Deterministic for a given seed.
"""
from __future__ import annotations

import math

import numpy as np

from datasets.examples import ArrayExamples, SourceData

CLASSES = ("circle", "square", "triangle", "pentagon", "hexagon", "star", "cross", "ring")
SIZE = 32
_SCALE = 4  # drawn at 4x and downsampled, for antialiased edges


def _polygon(cx, cy, radius, sides, angle, inner=None):
    points = []
    count = sides * (2 if inner else 1)
    for k in range(count):
        r = radius if not inner or k % 2 == 0 else radius * inner
        theta = angle + 2 * math.pi * k / count
        points.append((cx + r * math.cos(theta), cy + r * math.sin(theta)))
    return points


def _draw(draw, kind, cx, cy, radius, angle, colour, background):
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    elif kind == "ring":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
        inner = radius * 0.55
        draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=background)
    elif kind == "cross":
        arm = radius * 0.35
        for rotation in (angle, angle + math.pi / 2):
            dx, dy = math.cos(rotation), math.sin(rotation)
            px, py = -dy * arm, dx * arm
            draw.polygon([(cx - dx * radius + px, cy - dy * radius + py),
                          (cx + dx * radius + px, cy + dy * radius + py),
                          (cx + dx * radius - px, cy + dy * radius - py),
                          (cx - dx * radius - px, cy - dy * radius - py)], fill=colour)
    else:
        sides = {"square": 4, "triangle": 3, "pentagon": 5, "hexagon": 6, "star": 5}[kind]
        draw.polygon(_polygon(cx, cy, radius, sides, angle, 0.45 if kind == "star" else None),
                     fill=colour)


def _background(rng):
    """Smooth random texture: upsampled low-resolution noise (SIZE*_SCALE square, float 0..1)."""
    from PIL import Image

    coarse = rng.random((4, 4)).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((SIZE * _SCALE,) * 2, Image.BICUBIC)
    return np.asarray(image, np.float32) / 255.0


def render(kind, rng):
    """One (SIZE, SIZE, 3) uint8 image of `kind`."""
    from PIL import Image, ImageDraw

    hue = rng.random(3)
    colour = tuple(int(c) for c in (hue * 200 + 55))
    back = 1.0 - hue  # a contrasting base colour, modulated by the texture
    texture = _background(rng)[..., None] * 0.6 + 0.2
    canvas = np.clip(texture * back[None, None, :] * 255, 0, 255).astype(np.uint8)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    big = SIZE * _SCALE
    line = tuple(int(c) for c in rng.integers(0, 256, 3))
    draw.line([tuple(rng.random(2) * big), tuple(rng.random(2) * big)], fill=line, width=_SCALE)
    radius = rng.uniform(6, 13) * _SCALE
    margin = radius * 0.8
    cx, cy = rng.uniform(margin, big - margin, size=2)
    background = tuple(int(c) for c in canvas[int(cy), int(cx)])
    _draw(draw, kind, cx, cy, radius, rng.uniform(0, 2 * math.pi), colour, background)
    small = np.asarray(image.resize((SIZE, SIZE), Image.LANCZOS), np.float32)
    noisy = small + rng.normal(0, 12, small.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def generate(count_per_class, seed):
    """(images (N, 32, 32, 3) uint8, labels (N,) int64), classes interleaved."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(CLASSES)), count_per_class).astype(np.int64)
    images = np.stack([render(CLASSES[label], rng) for label in labels])
    return images, labels


def load(train_per_class=300, test_per_class=100, seed=0):
    """SourceData with generated train and test splits (independent random draws)."""
    train_x, train_y = generate(train_per_class, seed)
    test_x, test_y = generate(test_per_class, seed + 1_000_003)
    origin = "bundled shapes"
    splits = {
        "train": ArrayExamples(labels=train_y, origin=f"{origin} (train)", inputs=train_x),
        "test": ArrayExamples(labels=test_y, origin=f"{origin} (test)", inputs=test_x),
    }
    return SourceData(splits, list(CLASSES),
                      f"bundled: generated shapes 32x32, {len(train_y)} train / {len(test_y)} test")
