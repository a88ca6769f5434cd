"""objects: the generated shapes set, the two networks on our layers, a short training run."""
import numpy as np

import layers
import pipelines
from datasets.synthetic import shapes
from pipelines.core import config as configs
import cli


def _objects(*assignments):
    cls = pipelines.get("objects")
    return cls(configs.override(cls.Config(), list(assignments)))


def test_shapes_are_deterministic_balanced_and_varied():
    images, labels = shapes.generate(6, seed=5)
    again, _ = shapes.generate(6, seed=5)
    assert images.shape == (48, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, again)
    assert np.bincount(labels).tolist() == [6] * len(shapes.CLASSES)
    data = _objects("bundled_per_class=9").bundled()
    assert (len(data.splits["train"]), len(data.splits["test"])) == (72, 24)
    assert data.class_names == list(shapes.CLASSES)


def test_shapes_are_not_separable_by_mean_colour():
    """A linear classifier on each image's mean RGB stays near chance (1/8) in cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images, labels = shapes.generate(30, seed=5)
    colour = images.reshape(len(images), -1, 3).mean(1)
    accuracy = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), colour, labels, cv=5).mean()
    assert accuracy < 0.3, accuracy


def test_networks_use_our_layers():
    alexnet = _objects("network=alexnet_cifar").build_model(10)
    kinds = {type(layer) for layer in alexnet.layers}
    assert {layers.Conv2D, layers.MaxPooling2D, layers.LocalResponseNormalization} <= kinds
    assert not any(type(layer).__module__.startswith("keras") and
                   ("Conv" in type(layer).__name__ or "Pool" in type(layer).__name__) for layer in alexnet.layers)
    assert alexnet.output.shape == (None, 10)
    resnet = _objects("network=resnet_cifar").build_model(10)
    assert layers.GlobalAveragePooling2D in {type(layer) for layer in resnet.layers}
    assert sum(isinstance(layer, layers.Conv2D) for layer in resnet.layers) == 1 + 12 + 2


def test_short_training_run_learns_shapes(tmp_path):
    pipeline = _objects("network=resnet_cifar", "width=16", "epochs=6", "bundled_per_class=40",
                        "batch_size=32", "learning_rate=0.02")
    result = cli.train_and_export(pipeline, run_dir=tmp_path / "run", export_dir=tmp_path / "exports", verbose=0)
    assert result.metrics["examples"] == 8 * 13
    assert result.metrics["accuracy"] > 1.5 / len(shapes.CLASSES)  # above chance after 6 short epochs (0.25 measured)
    assert (result.export_path / "assets" / "class_names.txt").read_text().split() == list(shapes.CLASSES)
