"""README promises (issue 19): `--mixed-precision` works on every pipeline, not only digits
(tests/pipelines/images/test_digits.py): the model built for it computes in float16, a training
step gives a finite loss, the outputs are float32, and the export answers as the saved
model.keras does (to float16's precision). `--jit` on text is turned off with Keras's warning
(TextVectorization has no XLA kernel) while config.json still records `jit: true`.

One `--jit` (XLA) training step on every other pipeline: 14-31 s of compilation each on 2 idle
cores; digits' --jit training runs in tests/pipelines/images/test_digits.py."""
import json

import numpy as np
import pytest

from factories import make_pipeline
from serving_exports import TINY

# digits: tests/pipelines/images/test_digits.py; text: test_jit_on_text_... below.
PIPELINES = ["volumes", "audio", "objects", "segment"]


@pytest.fixture(autouse=True)
def generated_data_here(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_SUITE_DATA", str(tmp_path / "cache"))  # bundled phantoms go here


def a_batch(name, size=4):
    """(pipeline, class names, one training batch (x, y)) from the bundled data, TINY settings."""
    import tensorflow as tf

    from datasets import splits
    from pipelines.core import sources

    pipeline = make_pipeline(name, "epochs=1", *TINY[name])
    data = sources.load(pipeline, "bundled")
    train = splits.make_splits(data, None, pipeline.config).train
    batches = pipeline.input_dataset(train.take(np.arange(size)), size, training=True)
    pipeline.adapt(batches.unbatch())  # text: the vocabulary
    x, y = next(iter(batches))
    return pipeline, data.class_names, tf.cast(x, pipeline.input_spec().dtype), y  # as served


def compiled(pipeline, classes, mixed_precision, jit):
    """The model as `cnn train` builds and compiles it (pipelines/engine/training.py)."""
    from pipelines.engine import training

    model = training.build(pipeline, len(classes), mixed_precision)
    model.compile(optimizer=pipeline.optimizer(1), loss=pipeline.loss(len(classes)), jit_compile=jit)
    return model


@pytest.mark.parametrize("name", PIPELINES)
def test_mixed_precision_trains_and_exports_what_model_keras_answers(name, tmp_path):
    import keras
    import tensorflow as tf

    from pipelines.core import runs
    from pipelines.engine import checkpoints
    from serving import export

    pipeline, classes, x, y = a_batch(name)
    model = compiled(pipeline, classes, mixed_precision=True, jit=False)
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy restored
    assert "float16" in {layer.compute_dtype for layer in model.layers}
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss), loss

    checkpoints.save_model(model, tmp_path / "model.keras")
    saved = runs.load_model(pipeline, tmp_path / "model.keras")
    expected = np.asarray(saved(x, training=False))
    assert expected.dtype == np.float32 and np.all(np.isfinite(expected))
    np.testing.assert_allclose(expected, np.asarray(model(x, training=False)), atol=1e-6)
    served = tf.saved_model.load(str(export.export(saved, pipeline, classes, tmp_path / "exports")))
    outputs = served.signatures["serving_default"](**{pipeline.input_name: tf.constant(x)})
    probabilities = outputs["probabilities"]
    assert probabilities.dtype == tf.float32
    np.testing.assert_allclose(probabilities.numpy(), expected, atol=2e-3)  # float16 rounding


def test_jit_on_text_is_turned_off_with_a_warning_and_recorded(tmp_path):
    """`cnn train text --jit --mixed-precision`: trained without XLA, the flag kept in the record,
    a finite loss, and an export that answers as model.keras."""
    import tensorflow as tf

    import cli
    from pipelines.core import runs

    pipeline = make_pipeline("text", "epochs=1", *TINY["text"])
    with pytest.warns(UserWarning, match="support `jit_compile=True`. Proceeding with `jit_compile=False`"):
        run = cli.train_and_export(pipeline, run_dir=tmp_path / "run", export_dir=tmp_path / "exports", jit=True,
                                   mixed_precision=True, verbose=0)
    assert run.model.jit_compile is False
    record = json.loads((run.run_dir / "config.json").read_text())
    assert record["jit"] is True and record["mixed_precision"] is True
    assert np.isfinite(json.loads((run.run_dir / "metrics.json").read_text())["loss"])
    model = runs.load_model(pipeline, run.run_dir / "model.keras")
    assert "float16" in {layer.compute_dtype for layer in model.layers}
    texts = np.array(["a great film, i loved it", "dull and far too long", ""], dtype=object)
    expected = np.asarray(model(tf.constant(texts), training=False))
    served = tf.saved_model.load(str(run.export_path)).signatures["serving_default"](text=tf.constant(texts))
    assert expected.dtype == np.float32 and served["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=2e-3)  # float16 rounding


@pytest.mark.parametrize("name", ["audio", "volumes", "objects", "segment"])
def test_jit_step_on_every_pipeline(name):
    pipeline, classes, x, y = a_batch(name)
    model = compiled(pipeline, classes, mixed_precision=True, jit=True)
    assert model.jit_compile is True
    assert np.isfinite(model.train_on_batch(x, y))
    assert np.asarray(model.predict_on_batch(x)).dtype == np.float32
