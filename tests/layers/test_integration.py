"""Every registered layer in the ways users run it: config round trip, `.keras` files,
SavedModel export served without this project, XLA, mixed precision; and its error messages."""
import json
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import layers
from layers import gradcheck, registry
from isolated import run_without_project
from readme_example import load_example_layer

load_example_layer()
ENTRIES = registry.entries()
IDS = [e.name for e in ENTRIES]


def _layer_and_input(entry, dtype="float32"):
    case = entry.cases[0]
    layer = entry.layer_class(**case.config, dtype=dtype)
    layer.build(case.input_shape)
    weights = [np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer, gradcheck.distinct_inputs(case.input_shape), weights


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_config_round_trip(entry):
    layer, x, weights = _layer_and_input(entry)
    config = layer.get_config()
    json.dumps(config)  # serialisable as JSON
    clone = type(layer).from_config(config)
    clone.build(x.shape)
    clone.set_weights(weights)
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone(x), layer(x))
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is type(layer)


def _model(entry):
    case = entry.cases[0]
    inputs = keras.Input(case.input_shape[1:], batch_size=None, name="x")
    outputs = entry.layer_class(**case.config)(inputs)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_keras_file_round_trip(entry, tmp_path):
    model = _model(entry)
    x = gradcheck.distinct_inputs(entry.cases[0].input_shape)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[-1]) is entry.layer_class
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_export_runs_without_the_project(tmp_path):
    """One SavedModel holding every registered layer, loaded where `layers` is not importable,
    gives the in-process outputs, and its saved custom gradients give the values from before saving."""
    inputs, outputs, feeds = {}, {}, {}
    for entry in ENTRIES:
        case = entry.cases[0]
        name = entry.name.lower()
        inputs[name] = keras.Input(case.input_shape[1:], name=name)
        # Named layers: an auto-named one ("conv2d") could clash with an input's name.
        outputs[name] = entry.layer_class(**case.config, name=f"{name}_layer")(inputs[name])
        feeds[name] = gradcheck.distinct_inputs(case.input_shape)
    model = keras.Model(inputs, outputs)
    export_dir = tmp_path / "export"
    model.export(str(export_dir), verbose=False)
    expected = {k: np.asarray(v) for k, v in model(feeds).items()}
    # d(sum(output * probe))/d(input) per layer before saving: what the saved gradients must give
    probes = {k: np.random.default_rng(5).normal(size=v.shape).astype(np.float32) for k, v in expected.items()}
    watched = {k: tf.constant(v) for k, v in feeds.items()}
    with tf.GradientTape() as tape:
        tape.watch(list(watched.values()))
        got = model(watched)
        loss = tf.add_n([tf.reduce_sum(got[k] * probes[k]) for k in got])
    gradients = {k: g.numpy() for k, g in tape.gradient(loss, watched).items()}
    np.savez(tmp_path / "feeds.npz", **feeds)
    np.savez(tmp_path / "expected.npz", **expected)
    np.savez(tmp_path / "probes.npz", **probes)
    np.savez(tmp_path / "gradients.npz", **gradients)
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(export_dir)!r})
        feeds = dict(np.load("feeds.npz"))
        expected = dict(np.load("expected.npz"))
        got = served.serve({{k: tf.constant(v) for k, v in feeds.items()}})
        for name, value in expected.items():
            np.testing.assert_allclose(got[name].numpy(), value, rtol=1e-5, atol=1e-6)
        probes, gradients = dict(np.load("probes.npz")), dict(np.load("gradients.npz"))
        watched = {{k: tf.constant(v) for k, v in feeds.items()}}
        with tf.GradientTape() as tape:
            tape.watch(list(watched.values()))
            got = served.serve(watched)
            loss = tf.add_n([tf.reduce_sum(got[k] * probes[k]) for k in got])
        for name, gradient in tape.gradient(loss, watched).items():
            np.testing.assert_allclose(gradient.numpy(), gradients[name], rtol=1e-5, atol=1e-5, err_msg=name)
        print("served", len(expected), "outputs and their gradients")
        """
    )
    result = run_without_project(script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"served {len(ENTRIES)} outputs and their gradients" in result.stdout


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_xla_matches_graph_mode(entry):
    layer, x, _ = _layer_and_input(entry)
    probe = tf.constant(np.random.default_rng(2).normal(size=layer.compute_output_shape(x.shape)), tf.float32)

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * probe)
        return loss, tape.gradient(loss, [x] + layer.trainable_weights)

    plain = tf.function(step)(tf.constant(x))
    compiled = tf.function(step, jit_compile=True)(tf.constant(x))
    for a, b in zip(tf.nest.flatten(plain), tf.nest.flatten(compiled)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_mixed_precision(entry, policy):
    reference, x, weights = _layer_and_input(entry)
    case = entry.cases[0]
    layer = entry.layer_class(**case.config, dtype=policy)
    layer.build(case.input_shape)
    layer.set_weights(weights)
    assert all(w.dtype == "float32" for w in layer.weights)  # variables stay float32
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        y = layer(xt, training=True)  # the path mixed-precision training takes
        loss = tf.reduce_sum(tf.cast(y, tf.float32))
    assert y.dtype == policy.split("_")[1]
    grads = tape.gradient(loss, [xt] + layer.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    tolerance = 2e-2 if policy == "mixed_float16" else 1e-1
    expected = reference(x).numpy()
    scale = max(1.0, float(np.abs(expected).max()))
    assert float(np.abs(y.numpy().astype("float32") - expected).max()) / scale < tolerance


# ---- errors name what was expected and what was received -------------------------------


def test_wrong_input_rank():
    with pytest.raises(ValueError, match=r"expected min_ndim=4, found ndim=3"):
        layers.Conv2D(4, 3)(np.zeros((2, 8, 3), "float32"))
    from layers.ops.conv import conv

    with pytest.raises(ValueError, match=r"Expected a 4D input .*received shape \(2, 8, 3\)"):
        conv(tf.zeros((2, 8, 3)), tf.zeros((3, 3, 3, 4)))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"groups=2.*input has 3 channels"):
        layers.Conv2D(4, 3, groups=2)(np.zeros((1, 8, 8, 3), "float32"))
    from layers.ops.conv import conv

    with pytest.raises(ValueError, match=r"groups=2 must divide the input channels \(3\)"):
        conv(tf.zeros((1, 8, 8, 3)), tf.zeros((3, 3, 1, 4)), groups=2)


def test_kernel_larger_than_padded_input():
    from layers.ops.conv import conv

    with pytest.raises(ValueError, match=r"effective size 5 .* larger than the padded input of size 4"):
        conv(tf.zeros((1, 4, 4, 1)), tf.zeros((5, 5, 1, 1)))
    with pytest.raises(ValueError, match=r"effective size 5 \(kernel 3, dilation 2\)"):
        conv(tf.zeros((1, 4, 1)), tf.zeros((3, 1, 1)), dilation_rate=2)


def test_unknown_padding():
    from layers.ops.conv import conv
    from layers.ops.pooling import max_pool

    with pytest.raises(ValueError, match=r"Unknown padding 'full': expected one of valid, same"):
        conv(tf.zeros((1, 8, 8, 1)), tf.zeros((3, 3, 1, 1)), padding="full")
    with pytest.raises(ValueError, match=r"Unknown padding 'causal'"):
        max_pool(tf.zeros((1, 8, 1)), 2, padding="causal")
    with pytest.raises(ValueError, match=r"padding"):
        layers.Conv2D(4, 3, padding="causal")


def test_padding_is_read_in_any_case():
    """"SAME" is "same", as Keras reads it."""
    from layers.ops.pooling import max_pool

    x = tf.constant(np.arange(1.0, 6.0)[None, :, None])
    np.testing.assert_array_equal(max_pool(x, 2, padding="SAME").numpy()[0, :, 0], [2, 4, 5])


def test_unknown_spatial_size_is_a_clear_error():
    from layers.ops.conv import conv

    @tf.function(input_signature=[tf.TensorSpec([None, None, 8, 1])])
    def f(x):
        return conv(x, tf.zeros((3, 3, 1, 1)))

    with pytest.raises(ValueError, match=r"Spatial sizes of the input must be known"):
        f.get_concrete_function()


def test_user_layer_without_backward_is_refused():
    with pytest.raises(TypeError, match=r"must define backward"):

        class OnlyForward(layers.HandWrittenLayer):
            def forward(self, x):
                return x, None
