"""Pooling runs XLA-fused only in training: a saved inference function holds no XLA."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_exports import xla_functions as _xla_functions

import layers


def _pooled_model():
    inputs = keras.Input((9, 9, 2))
    x = layers.AveragePooling2D(3, strides=2, padding="same")(inputs)  # separable: the XLA path in training
    x = layers.MaxPooling3D(2)(keras.layers.Reshape((5, 5, 2, 1))(x))  # -> 2x2x1: whole windows, cells cropped
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(x)))


def test_training_fits_through_xla_and_the_inference_export_has_none(tmp_path):
    model = _pooled_model()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(4, 9, 9, 2)).astype("float32")
    model.fit(x, np.ones((4, 1)), epochs=1, verbose=0)

    module = tf.Module()
    module.model = model
    spec = tf.TensorSpec((None, 9, 9, 2), tf.float32)
    module.serve = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    module.train_mode = tf.function(lambda x: model(x, training=True), input_signature=[spec])
    tf.saved_model.save(module, tmp_path / "both", signatures={"serving_default": module.serve})
    assert _xla_functions(tmp_path / "both"), "the check must see the training path's XLA functions"

    inference = tf.Module()
    inference.model = model
    inference.serve = module.serve
    tf.saved_model.save(inference, tmp_path / "serve", signatures={"serving_default": module.serve})
    assert _xla_functions(tmp_path / "serve") == []
    restored = tf.saved_model.load(str(tmp_path / "serve")).signatures["serving_default"]
    np.testing.assert_allclose(list(restored(tf.constant(x)).values())[0], model(x, training=False), rtol=1e-5)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_fused_training_path_matches_keras_under_each_policy(rank, policy):
    """Forward and dL/dx of the XLA-fused path, in the policy's compute dtype, against keras.layers
    in float32 (TensorFlow's CPU AvgPool3D has no float16 kernel)."""
    name = f"AveragePooling{rank}D"
    shape = (2,) + (7,) * rank + (3,)
    ours = getattr(layers, name)(3, strides=2, padding="same", dtype=policy)
    reference = getattr(keras.layers, name)(3, strides=2, padding="same")
    x = tf.constant(np.random.default_rng(rank).normal(size=shape).astype("float32"))
    (z, dx), (rz, rdx) = (_training_step(layer, x) for layer in (ours, reference))
    assert z.dtype == keras.mixed_precision.Policy(policy).compute_dtype
    tolerance = {"float32": 1e-6, "mixed_float16": 2e-3, "mixed_bfloat16": 2e-2}[policy]
    np.testing.assert_allclose(tf.cast(z, tf.float32), tf.cast(rz, tf.float32), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, rdx, rtol=tolerance, atol=tolerance)


def _training_step(layer, x):
    """(output, dL/dx) of `layer` as fit calls it, under a channel-weighted sum loss."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(z, tf.float32) * tf.range(1.0, z.shape[-1] + 1.0))
    return z, tape.gradient(loss, x)


def _distinct_exact(shape, seed):
    """Distinct values k/8, k < 256: exact in float16 and bfloat16, so no policy creates ties."""
    values = np.random.default_rng(seed).permutation(256)[: int(np.prod(shape))] / 8.0 - 16.0
    return tf.constant(values.reshape(shape).astype("float32"))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("config", [dict(pool_size=2), dict(pool_size=3, strides=2, padding="same")],
                         ids=["tiling", "overlapping"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_fused_max_pooling_matches_keras_under_each_policy(rank, config, policy):
    """Forward and dL/dx of max pooling's XLA-fused training path, in the policy's compute dtype,
    against keras.layers in float32; distinct exactly representable inputs, so the routes agree."""
    name = f"MaxPooling{rank}D"
    shape = {1: (2, 9, 3), 2: (1, 7, 7, 3), 3: (1, 5, 4, 5, 2)}[rank]
    ours = getattr(layers, name)(**config, dtype=policy)
    reference = getattr(keras.layers, name)(**config)
    x = _distinct_exact(shape, rank)
    (z, dx), (rz, rdx) = (_training_step(layer, x) for layer in (ours, reference))
    assert z.dtype == keras.mixed_precision.Policy(policy).compute_dtype
    np.testing.assert_array_equal(tf.cast(z, tf.float32), rz)
    np.testing.assert_array_equal(dx, rdx)
