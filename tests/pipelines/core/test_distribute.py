"""tf.distribute in one process: MirroredStrategy over two logical CPU devices (in a subprocess,
so this process's TensorFlow keeps its one device), the strategy choice, TF_CONFIG checks, the
per-worker shards and the loop's history file."""
import json
import subprocess
import sys

import numpy as np
import pytest

from pipelines.engine import distribute, loop
from tests.cli_errors import one_line_error
from tests.project import ROOT

# One SGD step of digits' lecun1989 (our strided convolutions with their hand-written backward,
# batch norm, dense) on one global batch of 8: on one device with Keras fit, and over two replicas
# (4 examples each) with Keras fit and with our loop; with and without synchronized batch norm.
MIRRORED_STEP = r"""
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from networks import blocks
from pipelines.engine import distribute, loop
from tests.factories import make_pipeline

pipeline = make_pipeline("digits", "filters=8,8,8", "dense_units=16", "dropout=0")
rng = np.random.default_rng(0)
x = rng.uniform(0, 255, (8, 8, 8, 1)).astype("float32")
y = rng.integers(0, 10, 8).astype("int64")
keras.utils.set_random_seed(0)
initial = pipeline.build_model(10).get_weights()
out = {}

def model_under(setup, synchronized):
    with setup.scope(), blocks.synchronized_batch_norm(synchronized):
        model = pipeline.build_model(10)
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model

def fit_step(setup, synchronized):
    model = model_under(setup, synchronized)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()

def loop_step(setup):
    model = model_under(setup, True)
    metrics = [keras.metrics.Mean(name="loss")]
    with setup.scope():
        metrics.append(keras.metrics.SparseCategoricalAccuracy())
    step = loop._train_step(setup.strategy, model, "sparse_categorical_crossentropy", 8, metrics)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    step(iter(setup.strategy.experimental_distribute_dataset(data)))
    return model.get_weights()

def gap(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))

single = fit_step(distribute.choose("default"), False)
mirrored = distribute.choose("mirrored")
out["replicas"] = mirrored.replicas
out["moved"] = gap(single, initial)
out["fit_synchronized"] = gap(single, fit_step(mirrored, True))
out["fit_per_replica_norm"] = gap(single, fit_step(mirrored, False))
out["loop"] = gap(single, loop_step(mirrored))
try:
    distribute.choose("mirrored", jit=True)
except ValueError as error:
    out["jit"] = str(error)
try:
    distribute.check_batch(mirrored, 7)
except ValueError as error:
    out["batch"] = str(error)
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def mirrored():
    process = subprocess.Popen([sys.executable, "-c", MIRRORED_STEP], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env={**__import__("os").environ,
                                                                          "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_mirrored_step_equals_the_single_device_step(mirrored):
    assert mirrored["replicas"] == 2
    assert mirrored["moved"] > 1e-2  # the step did change the weights
    assert mirrored["fit_synchronized"] < 1e-5  # Keras fit under MirroredStrategy
    assert mirrored["loop"] < 1e-5  # our loop (the multiworker path) under MirroredStrategy


def test_per_replica_batch_norm_would_differ(mirrored):
    """Why BatchNorm is synchronized with several replicas: per-replica statistics change the step."""
    assert mirrored["fit_per_replica_norm"] > 1e-3


def test_jit_and_uneven_batch_are_refused_with_several_replicas(mirrored):
    assert mirrored["jit"].startswith("--jit: XLA cannot compile") and "mirrored, 2 replicas" in mirrored["jit"]
    assert mirrored["batch"] == ("--batch-size 7 is the global batch: it must be a multiple of the 2 replicas "
                                 "of --strategy mirrored")


# ------------------------------------------------------------------ TF_CONFIG and roles
def _tf_config(cluster, task_type="worker", index=0):
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_roles_from_tf_config():
    workers = {"worker": ["a:1", "b:2", "c:3"]}
    assert distribute.role(distribute.read_tf_config(_tf_config(workers, index=0))) == (3, 0, True)
    assert distribute.role(distribute.read_tf_config(_tf_config(workers, index=2))) == (3, 2, False)
    chief = {"chief": ["a:1"], "worker": ["b:2"]}
    assert distribute.role(distribute.read_tf_config(_tf_config(chief, "chief"))) == (2, 0, True)
    assert distribute.role(distribute.read_tf_config(_tf_config(chief, "worker", 0))) == (2, 1, False)


@pytest.mark.parametrize("environ, message", [
    ({}, "--strategy multiworker: TF_CONFIG is not set"),
    ({"TF_CONFIG": "{cluster"}, "TF_CONFIG: not valid JSON"),
    (_tf_config({"worker": ["a:1"]}, index=1), "TF_CONFIG: task.index 1 is out of range for 1 worker"),
    (_tf_config({"worker": ["a"]}), "TF_CONFIG: cluster.worker must be a list of host:port addresses"),
    (_tf_config({"ps": ["a:1"]}, "ps"), "TF_CONFIG: cluster job 'ps' is not supported"),
    (_tf_config({"worker": ["a:1", "a:1"]}), "TF_CONFIG: two tasks share one address"),
])
def test_bad_tf_config_is_named(environ, message):
    with pytest.raises(ValueError) as error:
        distribute.read_tf_config(environ)
    assert str(error.value).startswith(message)


def test_cli_errors_are_one_line(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}')
    line = one_line_error(["train", "digits", "--strategy", "multiworker", "--epochs", "1"])
    assert line == "Error: TF_CONFIG: task.index 3 is out of range for 1 worker address(es)"
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}')
    line = one_line_error(["train", "digits", "--strategy", "multiworker", "--jit"])
    assert line.startswith("Error: --jit: XLA cannot compile a training step that spans replicas")


# ------------------------------------------------------------------ data and records
def test_shards_cover_every_example_once_and_are_deterministic():
    from datasets.examples import ArrayExamples, FileExamples

    arrays = ArrayExamples(labels=np.arange(11) % 3, origin="a", inputs=np.arange(11)[:, None])
    shards = [distribute.shard(arrays, 3, i) for i in range(3)]
    assert sorted(np.concatenate([s.inputs[:, 0] for s in shards]).tolist()) == list(range(11))
    assert [len(s) for s in shards] == [4, 4, 3]
    assert np.array_equal(distribute.shard(arrays, 3, 1).inputs, shards[1].inputs)
    paths = FileExamples(labels=np.zeros(5, np.int64), origin="f", paths=[f"{i}.png" for i in range(5)])
    assert distribute.shard(paths, 2, 1).paths == ["1.png", "3.png"]
    assert distribute.shard(arrays, 1, 0) is arrays


def test_history_keeps_each_epoch_once_after_a_resume(tmp_path):
    path = tmp_path / "history.csv"
    history = loop.History(path, 0)
    for epoch in range(3):  # epoch 2's row was written, its backup was not: resume at 2
        history.add(epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.5})
    resumed = loop.History(path, 2)
    for epoch in (2, 3):
        resumed.add(epoch, {"loss": 0.1, "accuracy": 0.9})
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2", "3"]
    assert lines[3] == "2,0.9,0.1"


def test_per_example_loss_of_names_and_loss_objects():
    import keras

    labels, probabilities = np.array([0, 1]), np.array([[0.8, 0.2], [0.4, 0.6]], np.float32)
    expected = -np.log([0.8, 0.6])
    for loss in ("sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy()):
        np.testing.assert_allclose(loop.per_example_loss(loss)(labels, probabilities), expected, rtol=1e-6)
