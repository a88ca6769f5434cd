"""Zoo networks in the image pipelines: `--set network=<zoo name>`, transfer learning in two
phases from `--set weights=FILE`, the usual SavedModel export (2D, and a 3D zoo network)
predicting in a fresh process without the project, and `cnn zoo --run`."""
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import cli
import networks
from cli_errors import one_line_error
from factories import make_pipeline
from isolated import run_without_project
from pipelines.engine import training
from pipelines.extensions import transfer

SETTINGS = ["network=lecun1989", "image_size=16", "bundled_per_class=6", "batch_size=16",
            "learning_rate=0.01", "epochs=1", "head_epochs=1"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A pre-trained backbone's weights: lecun1989 for colour 16x16 images, without its top,
    batch norm statistics moved away from 0/1 (as after pre-training)."""
    folder = tmp_path_factory.mktemp("zoo-transfer")
    keras.utils.set_random_seed(3)
    backbone = networks.build("lecun1989", input_shape=(16, 16, 3), include_top=False)
    rng = np.random.default_rng(3)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape).astype("float32"))
    backbone.save_weights(folder / "backbone.weights.h5")
    return folder, backbone


@pytest.fixture(scope="module")
def run(source):
    folder, _ = source
    pipeline = make_pipeline("objects", *SETTINGS, f"weights={folder / 'backbone.weights.h5'}")
    return pipeline, cli.train_and_export(pipeline, "bundled", run_dir=folder / "run",
                                          export_dir=folder / "exports", verbose=0)


def weights_by_path(model):
    return {w.path: w.numpy().copy() for w in model.weights}


def test_phase_one_trains_the_head_alone(source):
    folder, pretrained = source
    pipeline = make_pipeline("objects", *SETTINGS, f"weights={folder / 'backbone.weights.h5'}")
    splits = training.sources.load_splits(pipeline, "bundled", None, None)
    train = pipeline.input_dataset(splits.train, 16, True, 0)
    model = training.build(pipeline, len(splits.class_names))
    backbone = transfer.backbone_of(model)
    for loaded, saved in zip(backbone.weights, pretrained.weights):  # the file went into the backbone
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    head_before = model.get_layer("logits").kernel.numpy().copy()
    transfer.train_head(pipeline, model, train, None, len(splits.class_names), 3, verbose=0)
    for trained, saved in zip(backbone.weights, pretrained.weights):
        np.testing.assert_array_equal(trained.numpy(), saved.numpy())
    assert not np.allclose(model.get_layer("logits").kernel.numpy(), head_before)
    # Phase 2 trains the backbone again, except its batch norms (inference mode).
    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert backbone.trainable and norms and not any(layer.trainable for layer in norms)


def test_phase_two_fine_tunes_the_backbone_with_batch_norm_in_inference_mode(run, source):
    _, pretrained = source
    _, result = run
    before, after = weights_by_path(pretrained), weights_by_path(transfer.backbone_of(result.model))
    assert before.keys() == after.keys()
    for path, value in before.items():
        if "_bn/" in path:  # moving statistics, scale and shift: as pre-trained
            np.testing.assert_array_equal(after[path], value, err_msg=path)
        else:
            assert not np.array_equal(after[path], value), f"{path} did not train"
    config = json.loads((result.run_dir / "config.json").read_text())["config"]
    assert config["weights"].endswith("backbone.weights.h5") and config["head_epochs"] == 1


def test_fine_tuning_lowers_the_learning_rate_by_the_factor(run):
    pipeline, _ = run
    sgd = pipeline.optimizer(10)
    lowered = transfer.fine_tune_optimizer(pipeline, sgd)
    assert type(lowered) is type(sgd) and lowered.momentum == sgd.momentum
    assert float(lowered.learning_rate) == pytest.approx(0.01 * 0.1)
    adam = transfer.fine_tune_optimizer(pipeline, keras.optimizers.Adam(0.5))
    assert float(adam.learning_rate) == pytest.approx(0.05)
    scratch = make_pipeline("objects", "network=lecun1989")
    assert transfer.fine_tune_optimizer(scratch, sgd) is sgd


EXPORTS = """
import numpy as np, tensorflow as tf
images = np.load("images.npy")
served = tf.saved_model.load(IMAGE_EXPORT).signatures["serving_default"]
np.save("image_probabilities.npy", served(image=tf.constant(images))["probabilities"].numpy())
volume = tf.saved_model.load("volume_export")
np.save("volume_probabilities.npy", volume.serve(tf.constant(np.load("volumes.npy"))).numpy())
print("ok")
"""


def test_2d_and_3d_zoo_exports_predict_in_a_fresh_process_without_the_project(run, tmp_path):
    _, result = run
    images = np.random.default_rng(4).uniform(0, 255, (3, 20, 24, 3)).astype("float32")  # any size: resized
    volumes = np.random.default_rng(5).normal(size=(2, 8, 8, 8, 1)).astype("float32")
    volume_network = networks.build("resnet3d", input_shape=(8, 8, 8, 1))
    volume_network.export(str(tmp_path / "volume_export"), verbose=False)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "volumes.npy", volumes)
    process = run_without_project(f"IMAGE_EXPORT = {str(result.export_path)!r}\n" + EXPORTS, cwd=tmp_path)
    assert process.returncode == 0 and "ok" in process.stdout, process.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "image_probabilities.npy"),
                               result.model.predict_on_batch(images), atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "volume_probabilities.npy"),
                               np.asarray(volume_network(volumes)), atol=1e-5)


def test_cnn_zoo_run_expands_the_backbone(run):
    _, result = run
    answer = CliRunner().invoke(cli.main, ["zoo", "--run", str(result.run_dir), "--json"])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.output)
    names = [row["name"] for row in data["rows"]]
    assert "lecun1989/h1" in names and "network_input" in names and "logits" in names
    assert data["totals"]["weights"] == result.model.count_params()
    h1 = next(row for row in data["rows"] if row["name"] == "lecun1989/h1")
    assert h1["output_shape"] == [8, 8, 32] and h1["multiply_adds"] == 8 * 8 * 25 * 3 * 32


def test_bad_zoo_settings_are_one_line_errors(source, tmp_path):
    folder, _ = source
    assert "--set weights=" in one_line_error(["train", "objects", "--set", "network=lecun1989", "--set",
                                               f"weights={tmp_path / 'missing.h5'}"])
    assert one_line_error(["train", "objects", "--set", f"weights={folder / 'backbone.weights.h5'}"]) == (
        f"Error: --set weights={folder / 'backbone.weights.h5'}: needs a backbone network (--set network=NAME, "
        "one of lecun1989, lenet5, alexnet_grouped, vgg16, resnet50, densenet121, inception_v3), not resnet_cifar")
    assert one_line_error(["train", "objects", "--set", "network=inception_v3"]) == (
        "Error: --set image_size=32: network inception_v3 needs image_size >= 75 (its input is (299, 299, 3))")
    assert "fine_tune_factor=0.0: must be greater than 0" in one_line_error(
        ["train", "objects", "--set", "fine_tune_factor=0"])
    assert "needs colour images" in one_line_error(["train", "digits", "--set", "network=vgg16",
                                                    "--set", "image_size=32"])
    networks.build("lenet5", input_shape=(28, 28, 3), include_top=False).save_weights(tmp_path / "lenet.weights.h5")
    message = one_line_error(["train", "objects", "--set", "network=lecun1989", "--set", "image_size=16",
                              "--set", "bundled_per_class=2", "--set", f"weights={tmp_path / 'lenet.weights.h5'}",
                              "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports")])
    assert "does not fit network lecun1989: layer h1 has weights" in message
