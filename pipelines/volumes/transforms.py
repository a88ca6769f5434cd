"""In-graph volume preprocessing and tf.data augmentation shared by `volumes` and `segment`.

Why normalisation is a layer: the exported model receives raw intensities ([batch, D, H, W, 1]
float32, as read from the file) and must normalise them exactly as training did, so the
normalisation is part of the model, never a NumPy step a client could forget or redo
differently.

- `IntensityNormalization("zscore")`: per volume (per example of the batch, over all its voxels)
  (x - mean) / std; the usual choice for MRI, whose intensities have no absolute scale.
- `IntensityNormalization("window", window=(center, width))`: a CT window in Hounsfield units,
  clipped to [center - width/2, center + width/2] and scaled to [0, 1].
- `IntensityNormalization("dataset", intensity=(mean, std))`: (x - mean) / std with the training
  voxels' own mean and std, the same for every volume (nnU-Net's CT normalisation, without its
  clipping): where intensities mean something across volumes (CT, binary masks), it keeps them
  comparable, at the unit scale a z-score gives.
- `IntensityJitter`: random scale/offset/noise after normalisation, in training only (identity
  in inference and export). It sits after normalisation because a z-score would cancel any
  affine jitter applied to the raw intensities.
- `MaskDepth`: for inputs that are binary masks (MedMNIST 3D's AdrenalMNIST3D are 0/255 shape
  masks), how deep inside the mask each voxel lies: the number of 3^3 erosions it survives (the
  chessboard distance to the background, capped). Limb thickness is the radiological sign of
  adrenal hyperplasia, and a few convolutions cannot easily count erosions; as an extra channel
  it is computed in the graph, so the export still takes the raw mask.
- `FlipAveraged`: test-time augmentation. In inference (evaluation and the export alike) the
  wrapped network sees every combination of flips along the training flip axes and its logits
  are averaged; in training it is the network itself. Flips the model was trained to ignore cost
  nothing in accuracy and average out the network's own left/right quirks.

The augmentation functions are tf ops for `tf.data` (stateless, seeded): flips, small shifts,
small rotations and random crops. Segmentation augments image and label together so they stay
aligned.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

PACKAGE = "cnn_suite"
MODES = ("zscore", "window", "dataset", "none")


@keras.saving.register_keras_serializable(package=PACKAGE)
class IntensityNormalization(keras.layers.Layer):
    """(N, D, H, W, C) raw intensities -> normalised float32, per example."""

    def __init__(self, mode="zscore", window=(40.0, 400.0), epsilon=1e-6, intensity=(0.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"intensity normalisation '{mode}': expected one of {', '.join(MODES)}")
        if mode == "window" and not float(window[1]) > 0:
            raise ValueError(f"CT window width must be > 0, got {window[1]}")
        if mode == "dataset" and not (len(intensity) == 2 and float(intensity[1]) > 0):
            raise ValueError(f"intensity must be the training voxels' mean,std with std > 0, got {tuple(intensity)}")
        self.mode, self.window, self.epsilon = mode, tuple(float(w) for w in window), float(epsilon)
        self.intensity = tuple(float(value) for value in intensity)

    def call(self, x):
        x = tf.cast(x, tf.float32)
        if self.mode == "zscore":
            axes = list(range(1, x.shape.rank))
            mean = tf.reduce_mean(x, axis=axes, keepdims=True)
            std = tf.math.reduce_std(x, axis=axes, keepdims=True)
            return (x - mean) / tf.maximum(std, self.epsilon)
        if self.mode == "window":
            center, width = self.window
            low = center - width / 2
            return (tf.clip_by_value(x, low, low + width) - low) / width
        if self.mode == "dataset":
            mean, std = self.intensity
            return (x - mean) / std
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "window": list(self.window), "epsilon": self.epsilon,
                "intensity": list(self.intensity)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class IntensityJitter(keras.layers.Layer):
    """x * (1 + U(-scale, scale)) + U(-shift, shift) + N(0, noise) per example; training only."""

    def __init__(self, scale=0.1, shift=0.1, noise=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.shift, self.noise = float(scale), float(shift), float(noise)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        batch = tf.shape(x)[0]
        ones = tf.stack([batch] + [1] * (x.shape.rank - 1))
        # In x's dtype: float16 under the mixed_float16 policy (--mixed-precision).
        factor = 1.0 + keras.random.uniform(ones, -self.scale, self.scale, dtype=x.dtype, seed=self.generator)
        offset = keras.random.uniform(ones, -self.shift, self.shift, dtype=x.dtype, seed=self.generator)
        x = x * factor + offset
        if self.noise > 0:
            x = x + keras.random.normal(tf.shape(x), stddev=self.noise, dtype=x.dtype, seed=self.generator)
        return x

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "shift": self.shift, "noise": self.noise, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskDepth(keras.layers.Layer):
    """(N, D, H, W, 1) normalised mask -> (N, D, H, W, 1): for voxels above `threshold`, the
    number of successive 3^3 erosions (min pooling, stride 1) they survive, up to `steps`,
    divided by `steps`; 0 outside the mask. Voxels beyond the border count as background."""

    def __init__(self, steps=4, threshold=0.5, **kwargs):
        super().__init__(**kwargs)
        if int(steps) < 1:
            raise ValueError(f"mask depth needs at least one erosion step, got {steps}")
        self.steps, self.threshold = int(steps), float(threshold)

    def call(self, x):
        mask = tf.cast(x > self.threshold, tf.float32)
        depth = mask
        for _ in range(self.steps - 1):
            mask = erode(mask)
            depth = depth + mask
        return depth / float(self.steps)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "threshold": self.threshold}


def erode(mask):
    """(N, D, H, W, C) 0/1 mask -> its erosion by a 3^3 cube, voxels beyond the border counted as
    background. A cube's minimum factors per axis, so three minima of three shifted slices give
    it: elementwise ops every runtime has (LiteRT has no 3D pooling builtin, ONNX no min pooling)."""
    for axis in (1, 2, 3):
        padding = [[0, 0]] * 5
        padding[axis] = [1, 1]
        padded = tf.pad(mask, padding)  # background beyond the border
        before, centre, after = (padded[(slice(None),) * axis + (slice(start, end),)]
                                 for start, end in ((0, -2), (1, -1), (2, None)))
        mask = tf.minimum(tf.minimum(before, centre), after)
    return mask


@keras.saving.register_keras_serializable(package=PACKAGE)
class FlipAveraged(keras.layers.Wrapper):
    """(N, D, H, W, C) -> the mean of the wrapped network's outputs over all 2^k flips of `axes`
    (spatial axes 0-2) in inference; `network(x)` in training. A keras.layers.Wrapper, so that
    code walking a model (the export's keras.layers twin) finds the network inside."""

    def __init__(self, layer, axes=(0, 1, 2), **kwargs):
        super().__init__(layer, **kwargs)
        if any(axis not in (0, 1, 2) for axis in axes):
            raise ValueError(f"FlipAveraged axes must be among 0, 1, 2, got {tuple(axes)}")
        self.axes = tuple(int(axis) for axis in axes)

    def call(self, x, training=None):
        if training:
            return self.layer(x, training=True)
        outputs = []
        for mask in range(2 ** len(self.axes)):  # every subset of the axes, the identity first
            flipped = x
            for bit, axis in enumerate(self.axes):
                if mask >> bit & 1:  # one axis at a time: LiteRT's REVERSE_V2 refuses non-adjacent axes
                    flipped = tf.reverse(flipped, [axis + 1])
            outputs.append(self.layer(flipped, training=False))
        return tf.add_n(outputs) / float(len(outputs))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "network" in config:  # saved before it was a Wrapper (runs of 2026-12-07 and earlier)
            config["layer"] = config.pop("network")
        return super().from_config(config, custom_objects)


# ------------------------------------------------------------------ tf.data ops (one example)
def pad_to_at_least(x, shape, value):
    """Pad the 3 leading axes of x (D, H, W[, C]) evenly to at least `shape` with `value`."""
    have = tf.shape(x)[:3]
    total = tf.maximum(tf.constant(shape, tf.int32) - have, 0)
    before = total // 2
    paddings = tf.stack([before, total - before], axis=1)  # (3, 2)
    extra = tf.zeros([tf.rank(x) - 3, 2], tf.int32)
    return tf.pad(x, tf.concat([paddings, extra], 0), constant_values=value)


def center_fit(x, shape, value):
    """Centre pad/crop the 3 leading axes to exactly `shape` (the network's input shape)."""
    x = pad_to_at_least(x, shape, value)
    start = (tf.shape(x)[:3] - tf.constant(shape, tf.int32)) // 2
    x = tf.slice(x, tf.concat([start, tf.zeros([tf.rank(x) - 3], tf.int32)], 0),
                 tf.concat([tf.constant(shape, tf.int32), tf.fill([tf.rank(x) - 3], -1)], 0))
    return tf.ensure_shape(x, list(shape) + x.shape[3:].as_list())


def random_flip(x, seed, axes):
    """Flip each of `axes` with probability 1/2 (x: (D, H, W[, C]))."""
    for i, axis in enumerate(axes):
        coin = tf.random.stateless_uniform([], seed=seed + i) < 0.5
        x = tf.cond(coin, lambda x=x, axis=axis: tf.reverse(x, [axis]), lambda x=x: x)
    return x


def random_crop_at(x, shape, start):
    return tf.slice(x, tf.concat([start, tf.zeros([tf.rank(x) - 3], tf.int32)], 0),
                    tf.concat([tf.constant(shape, tf.int32), tf.fill([tf.rank(x) - 3], -1)], 0))


def random_shift(x, seed, max_shift, value):
    """Shift by up to `max_shift` voxels per axis (the uncovered border filled with `value`)."""
    if max_shift <= 0:
        return x
    shape = x.shape[:3]
    padded = tf.pad(x, [[max_shift, max_shift]] * 3 + [[0, 0]] * (x.shape.rank - 3), constant_values=value)
    start = tf.random.stateless_uniform([3], seed=seed, minval=0, maxval=2 * max_shift + 1, dtype=tf.int32)
    return tf.ensure_shape(random_crop_at(padded, list(shape), start), x.shape)


# (axis the slices are stacked along, the two axes of the rotated plane) for each plane
ROTATION_PLANES = ((0, 1, 2), (1, 0, 2), (2, 0, 1))


def _rotate_slices(images, angle, value):
    """Rotate (N, H, W, C) images by `angle` radians about their centres (bilinear, the
    uncovered corners filled with `value`), with TensorFlow's projective transform op."""
    height, width = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    cos, sin = tf.cos(angle), tf.sin(angle)
    # output pixel (x, y) reads input (cos x - sin y + a2, sin x + cos y + b2): a rotation about the centre
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transform[None], output_shape=tf.shape(images)[1:3],
        fill_value=tf.cast(value, tf.float32), interpolation="BILINEAR", fill_mode="CONSTANT")


def random_rotate(x, seed, max_degrees, value):
    """Rotate x (D, H, W, C) float32 by an angle drawn from U(-max_degrees, max_degrees) in each of
    its three axis planes in turn (bilinear; voxels rotated in from outside get `value`)."""
    if max_degrees <= 0:
        return x
    limit = math.radians(max_degrees)
    angles = tf.random.stateless_uniform([3], seed=seed, minval=-limit, maxval=limit)
    for plane, order in enumerate(ROTATION_PLANES):
        inverse = [order.index(axis) for axis in range(3)] + [3]
        slices = tf.transpose(x, list(order) + [3])  # (slices, plane axis 1, plane axis 2, C)
        x = tf.transpose(_rotate_slices(slices, angles[plane], value), inverse)
    return x


def foreground_crop_start(label, shape, seed, foreground_fraction):
    """Start (3,) of a `shape` crop of `label` (already >= shape): centred on a random
    foreground voxel with probability `foreground_fraction`, uniformly placed otherwise."""
    have = tf.shape(label)[:3]
    room = have - tf.constant(shape, tf.int32)  # (3,) >= 0
    uniform = tf.cast(
        tf.random.stateless_uniform([3], seed=seed) * tf.cast(room + 1, tf.float32), tf.int32
    )
    uniform = tf.minimum(uniform, room)
    foreground = tf.cast(tf.where(label > 0), tf.int32)  # (K, 3)
    count = tf.shape(foreground)[0]
    pick = tf.random.stateless_uniform([], seed=seed + 1, minval=0, maxval=tf.maximum(count, 1), dtype=tf.int32)
    centre = tf.gather(tf.concat([foreground, tf.zeros([1, 3], tf.int32)], 0), pick)
    around = tf.clip_by_value(centre - tf.constant(shape, tf.int32) // 2, 0, room)
    use_foreground = tf.logical_and(
        count > 0, tf.random.stateless_uniform([], seed=seed + 2) < foreground_fraction
    )
    return tf.where(use_foreground, around, uniform)
