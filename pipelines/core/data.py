"""tf.data input for training and evaluation, the same for every pipeline.

Decode in parallel (AUTOTUNE), conform to the training shape, `cache()` before augmentation,
shuffle with a seed (reshuffled each epoch), augment (training only, seeded per element), batch,
prefetch.
"""
from __future__ import annotations


def input_dataset(pipeline, examples, batch_size, training=False, seed=0):
    """Batches of (example, label) from `Examples`; shuffled and augmented when training."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    data = examples.dataset(pipeline.decode_file)
    data = data.map(lambda x, y: (pipeline.conform(x), y), num_parallel_calls=autotune)
    data = data.cache()
    if training:
        data = data.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip((data, seeds)).map(
            lambda item, pair: (pipeline.augment(item[0], pair), item[1]),
            num_parallel_calls=autotune,
        )
    return data.batch(batch_size).prefetch(autotune)


def held_batches(pipeline, examples, batch_size):
    """NumPy (inputs, labels) batches of `examples` at their own size (`Pipeline.as_held`):
    examples of one shape are batched together, each group in source order."""
    import numpy as np

    data = examples.dataset(pipeline.decode_file).map(lambda x, y: (pipeline.as_held(x), y))
    pending = {}  # shape -> [(x, y), ...]
    for x, y in data.as_numpy_iterator():
        group = pending.setdefault(x.shape, [])
        group.append((x, y))
        if len(group) == batch_size:
            yield tuple(map(np.stack, zip(*pending.pop(x.shape))))
    for group in pending.values():
        yield tuple(map(np.stack, zip(*group)))
