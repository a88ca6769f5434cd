"""Drop-in completeness: what keras.layers of the same name does, ours does: masks,
channels_first, dtype policies, partially known shapes, serialization names, the class tables."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import layers
from layers.serialization import PACKAGE


def test_global_average_pooling_uses_only_unmasked_steps():
    tokens = np.array([[3, 5, 0, 0], [7, 0, 0, 0]])  # 0 is padding
    models = []
    for lib in (layers, keras.layers):
        inputs = keras.Input((4,), dtype="int32")
        x = keras.layers.Embedding(10, 3, mask_zero=True)(inputs)
        models.append(keras.Model(inputs, lib.GlobalAveragePooling1D()(x)))
    ours, ref = models
    ref.set_weights(ours.get_weights())
    vectors = ours.layers[1].embeddings.numpy()
    np.testing.assert_allclose(ours(tokens), [(vectors[3] + vectors[5]) / 2, vectors[7]], rtol=1e-6)
    np.testing.assert_allclose(ours(tokens), ref(tokens), rtol=1e-6)


def test_masked_average_gradient_reaches_only_unmasked_steps():
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32"))
    mask = tf.constant([[True, True, False, False], [True, False, True, False]])
    grads = []
    for layer in (layers.GlobalAveragePooling1D(), keras.layers.GlobalAveragePooling1D()):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, mask=mask) * tf.constant([1.0, 2.0, 3.0]))
        grads.append(tape.gradient(loss, x).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
    assert not grads[0][0, 2:].any()


@pytest.mark.parametrize("name", ["GlobalAveragePooling1D", "GlobalMaxPooling1D", "Conv1D", "MaxPooling1D"])
def test_supports_masking_and_compute_mask_as_keras(name):
    args = {"Conv1D": (4, 3)}.get(name, ())
    ours, ref = getattr(layers, name)(*args), getattr(keras.layers, name)(*args)
    assert ours.supports_masking == ref.supports_masking
    x, mask = tf.zeros((2, 5, 3)), tf.constant([[True] * 5, [True, False] * 2 + [False]])
    ours.build(x.shape)
    ref.build(x.shape)
    ours_mask, ref_mask = ours.compute_mask(x, mask), ref.compute_mask(x, mask)
    assert (ours_mask is None) == (ref_mask is None)


@pytest.mark.parametrize(
    "name,args,shape",
    [
        ("Conv1D", (4, 3), (2, 3, 9)),
        ("Conv3D", (4, 3), (1, 2, 5, 6, 4)),
        ("Conv2DTranspose", (4, 3), (2, 3, 5, 6)),
        ("MaxPooling3D", (2,), (1, 2, 5, 6, 4)),
        ("AveragePooling1D", (3, 2), (2, 3, 9)),
        ("GlobalMaxPooling2D", (), (2, 3, 5, 6)),
    ],
)
def test_channels_first_matches_keras(name, args, shape):
    """Keras on channels_last with transposed data: oneDNN has no channels_first CPU kernels."""
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    perm = [0] + list(range(2, len(shape))) + [1]
    ours = getattr(layers, name)(*args, data_format="channels_first")
    ref = getattr(keras.layers, name)(*args)
    ours.build(shape)
    ref.build(tuple(np.array(shape)[perm]))
    ref.set_weights(ours.get_weights())
    expected = np.asarray(ref(np.transpose(x, perm)))
    if expected.ndim == len(shape):
        expected = np.transpose(expected, [0, len(shape) - 1] + list(range(1, len(shape) - 1)))
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "bfloat16"])
def test_dtype_policy_as_keras(policy):
    for name, args in [("Conv2D", (4, 3)), ("MaxPooling2D", (2,)), ("Conv2DTranspose", (3, 2))]:
        ours, ref = getattr(layers, name)(*args, dtype=policy), getattr(keras.layers, name)(*args, dtype=policy)
        y, r = ours(tf.zeros((1, 6, 6, 2))), ref(tf.zeros((1, 6, 6, 2)))
        assert y.dtype == r.dtype and ours.compute_dtype == ref.compute_dtype
        assert [w.dtype for w in ours.weights] == [w.dtype for w in ref.weights]


@pytest.mark.parametrize(
    "name,args,shape",
    [
        ("Conv2D", (4, 3), (None, 9, 8, 3)),
        ("Conv1D", (4, 3), (None, 7, 2)),
        ("Conv3DTranspose", (2, 2), (None, 3, 4, 5, 2)),
        ("GlobalMaxPooling1D", (), (None, None, 3)),  # Keras accepts any length
        ("GlobalAveragePooling2D", (), (None, None, None, 3)),
        ("MaxPooling2D", (2,), (None, 8, 8, 3)),
    ],
)
def test_build_on_partially_known_shapes(name, args, shape):
    ours, ref = getattr(layers, name)(*args), getattr(keras.layers, name)(*args)
    ours.build(shape)
    ref.build(shape)
    assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]
    assert ours.compute_output_shape(shape) == ref.compute_output_shape(shape)
    inputs = keras.Input(shape[1:])
    assert getattr(layers, name)(*args)(inputs).shape == getattr(keras.layers, name)(*args)(inputs).shape


def test_serialized_under_package_and_keras_name():
    layer = layers.Conv2D(4, 3)
    serialized = keras.layers.serialize(layer)
    assert serialized["registered_name"] == f"{PACKAGE}>Conv2D"
    assert serialized["config"] == keras.layers.serialize(keras.layers.Conv2D(4, 3, name=layer.name))["config"]


def test_class_tables():
    assert [layers.conv_layer(r) for r in (1, 2, 3)] == [layers.Conv1D, layers.Conv2D, layers.Conv3D]
    assert layers.conv_layer(3, transpose=True) is layers.Conv3DTranspose
    assert layers.pooling_layer(2, "average") is layers.AveragePooling2D
    assert layers.pooling_layer(1, "max", global_=True) is layers.GlobalMaxPooling1D
    with pytest.raises(ValueError, match="rank must be 1, 2 or 3"):
        layers.conv_layer(4)
    with pytest.raises(ValueError, match="kind must be 'max' or 'average'"):
        layers.pooling_layer(2, "min")


@pytest.mark.parametrize("name,shape,op", [
    ("Conv1D", (2, 9, 3), "conv"), ("Conv2D", (2, 7, 7, 3), "conv"), ("Conv3D", (1, 5, 5, 5, 3), "conv"),
    ("Conv1DTranspose", (2, 9, 3), "conv_transpose"), ("Conv2DTranspose", (2, 7, 7, 3), "conv_transpose"),
    ("Conv3DTranspose", (1, 5, 5, 5, 3), "conv_transpose"),
])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_every_convolution_runs_our_op(name, shape, op, padding, monkeypatch):
    """keras.layers.Conv1D.call calls ops.conv itself, bypassing the convolution_op hook: every
    class must still reach our hand-written op, whatever Keras's call does."""
    from unittest import mock

    from layers.ops import conv as conv_ops

    spy = mock.Mock(wraps=getattr(conv_ops, op))
    monkeypatch.setattr(conv_ops, op, spy)
    getattr(layers, name)(4, 3, padding=padding)(np.zeros(shape, "float32"))
    assert spy.call_count == 1
