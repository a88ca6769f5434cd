"""Keras models with hand-set weights, exported like trained ones: what they predict is known
without running any of the project's code (a NumPy formula gives the expected numbers)."""
import numpy as np


def halves_classifier(shape=(16, 16, 16), scale=0.01):
    """Two classes from a (*shape, 1) volume: logits [0, scale * (sum of the upper half of axis 0
    - sum of the lower half)]. Softmax probabilities, as the pipelines' heads give."""
    import keras

    inputs = keras.Input((*shape, 1), name="volume")
    conv = keras.layers.Conv3D(2, shape, padding="valid", name="halves")
    logits = keras.layers.Flatten()(conv(inputs))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    kernel = np.zeros((*shape, 1, 2), np.float32)
    half = shape[0] // 2
    kernel[:half, ..., 0, 1] = -scale
    kernel[half:, ..., 0, 1] = scale
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    return model


def halves_probabilities(volumes, scale=0.01):
    """NumPy: what `halves_classifier` gives for (N, D, H, W) volumes."""
    half = volumes.shape[1] // 2
    logit = scale * (volumes[:, half:].sum((1, 2, 3)) - volumes[:, :half].sum((1, 2, 3)))
    p1 = 1 / (1 + np.exp(-logit))
    return np.stack([1 - p1, p1], -1)


def threshold_segmenter(shape=(16, 16, 16), low=50.0, high=100.0, sharpness=10.0):
    """Three classes per voxel: 0 below `low`, 1 between, 2 above `high` (a 1x1x1 convolution with
    logits [0, s(x - low), s(2x - low - high)], then a softmax)."""
    import keras

    inputs = keras.Input((*shape, 1), name="volume")
    conv = keras.layers.Conv3D(3, 1, name="thresholds")
    model = keras.Model(inputs, keras.layers.Softmax()(conv(inputs)))
    kernel = np.array([0.0, sharpness, 2 * sharpness], np.float32).reshape(1, 1, 1, 1, 3)
    bias = np.array([0.0, -sharpness * low, -sharpness * (low + high)], np.float32)
    conv.set_weights([kernel, bias])
    return model


def thresholds(volume, low=50.0, high=100.0):
    """NumPy: the classes `threshold_segmenter` gives, voxel by voxel."""
    return (volume > low).astype(np.uint8) + (volume > high).astype(np.uint8)


def mean_pixel_classifier(classes=10, channels=1):
    """image (N, H, W, channels) float -> softmax of fixed weights on the mean pixel: small and
    fast to export, for tests of the `image_bytes` signature's decoding."""
    import keras

    inputs = keras.Input((None, None, channels), name="image")
    dense = keras.layers.Dense(classes)
    model = keras.Model(inputs, keras.layers.Softmax()(dense(keras.layers.GlobalAveragePooling2D()(inputs))))
    dense.set_weights([np.linspace(-1, 1, channels * classes, dtype=np.float32).reshape(channels, classes),
                       np.zeros(classes, np.float32)])
    return model


def dense_waveform_model(num_samples, classes, seed=0):
    """waveform (N, num_samples) -> softmax of a Dense layer with fixed random weights."""
    import keras

    inputs = keras.Input((num_samples,), name="waveform")
    dense = keras.layers.Dense(classes)
    model = keras.Model(inputs, keras.layers.Softmax()(dense(inputs)))
    rng = np.random.default_rng(seed)
    dense.set_weights([rng.normal(size=(num_samples, classes)).astype(np.float32), np.zeros(classes, np.float32)])
    return model


def resized_dense_classifier(size=8, channels=1, classes=10, seed=0, scale=1.0):
    """image (N, H, W, channels) float 0..255 of any size -> Keras bilinear resize to size x size
    (as the image pipelines' models do) -> a Dense layer with fixed random weights -> softmax:
    sensitive to where each pixel lands, unlike a mean."""
    import keras

    inputs = keras.Input((None, None, channels), name="image")
    dense = keras.layers.Dense(classes)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(keras.layers.Resizing(size, size)(inputs)))
    model = keras.Model(inputs, keras.layers.Softmax()(dense(x)))
    rng = np.random.default_rng(seed)
    dense.set_weights([scale * rng.normal(size=(size * size * channels, classes)).astype(np.float32),
                       np.zeros(classes, np.float32)])
    return model
