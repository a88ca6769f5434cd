"""The one network registry (networks/registry.py): lookups and their errors, every registered
network built at its rank with and without its top, the pipelines' choices, and the old names
of recorded runs and recipes, which rebuild the networks they built before the names were unique."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import networks
import pipelines
from networks import registry
from pipelines.core import recipes, runs
from pipelines.core.config import override, to_dict

ZOO = ("lecun1989", "lenet5", "alexnet", "alexnet_grouped", "vgg16", "resnet50", "densenet121", "inception_v3",
       "alphago_policy", "resnet3d", "unet3d")  # what `cnn zoo` listed before the registry
# Parameter counts of each pipeline's model (3 classes, defaults otherwise) as the code before the
# registry built them, under the names recorded runs carry.
RECORDED_COUNTS = {
    ("objects", "alexnet"): 1_042_499, ("objects", "resnet"): 697_955, ("objects", "lecun1989"): 128_611,
    ("digits", "lecun1989"): 192_675, ("audio", "conv1d"): 419_075, ("audio", "conv2d"): 1_147_715,
    ("volumes", "cnn3d"): 209_011, ("volumes", "resnet3d"): 517_107, ("segment", "unet3d"): 1_402_707,
}
RENAMED = {("objects", "alexnet"): "alexnet_cifar", ("objects", "resnet"): "resnet_cifar"}


def test_listing_names_and_choices_imports_no_tensorflow():
    code = ("import sys, networks, pipelines.images.objects as o; names = networks.names(); "
            "choice = o.ObjectsConfig.NETWORKS.names(); "
            "print(len(names), choice[0], 'tensorflow' in sys.modules or 'keras' in sys.modules)")
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.split() == [str(len(networks.names())), "alexnet_cifar", "False"]


def test_lookup_and_unknown_names():
    assert networks.names(zoo=True) == ZOO
    assert set(networks.names()) == set(ZOO) | {"alexnet_cifar", "resnet_cifar", "conv1d", "conv2d", "kim", "cnn3d"}
    assert networks.get("resnet_cifar").module == "networks.resnet"
    assert networks.names(tag="audio") == ("conv1d", "conv2d")
    with pytest.raises(ValueError, match=r"^unknown network 'resnet51' \(known: lecun1989, .*, unet3d\); "
                                         r"did you mean resnet50\?$"):
        networks.get("resnet51")
    with pytest.raises(ValueError, match=r"^unknown network 'transformer' \(known: [^)]*\)$"):  # nothing close
        networks.get("transformer")


def test_create_returns_logits_and_build_adds_the_softmax():
    x = keras.Input((16, 16, 1))
    logits = keras.Model(x, networks.create("lecun1989", x, num_classes=4))
    images = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 1)).astype("float32")
    raw = np.asarray(logits(images))
    assert raw.shape == (3, 4) and not np.allclose(raw.sum(axis=1), 1)
    model = networks.build("lecun1989", num_classes=4)
    model.set_weights(logits.get_weights())
    np.testing.assert_allclose(np.asarray(model(images)), keras.ops.softmax(raw), rtol=1e-5, atol=1e-6)
    assert model.layers[-1].name == "predictions"


def _built_at(entry):
    """A small input the network declares it takes: its fixed board, or min_size (at least 8)."""
    if entry.rank == 0 or entry.fixed_size:
        return entry.input_shape
    return (max(entry.min_size, 8),) * entry.rank + entry.input_shape[-1:]


@pytest.mark.parametrize("name", networks.names())
def test_every_network_builds_at_its_rank_with_and_without_the_top(name):
    entry = networks.get(name)
    num_classes = 361 if name == "alphago_policy" else 3
    hparams = dict(entry.defaults)
    x = keras.Input(_built_at(entry), dtype=entry.dtype)
    top = keras.Model(x, networks.create(name, x, num_classes=num_classes, **hparams))
    y = keras.Input(_built_at(entry), dtype=entry.dtype)
    features = keras.Model(y, networks.create(name, y, num_classes=num_classes, include_top=False, **hparams))
    spatial = _built_at(entry)[:-1] if "segmentation" in entry.tags else ()
    assert top.output.shape == (None, *spatial, num_classes)
    assert len(features.output.shape) >= 2 and features.output.shape[-1] != num_classes
    # Without the top: the same layers, up to the features the head reads.
    shapes = lambda model: [tuple(w.shape) for w in model.weights]  # noqa: E731
    assert shapes(features) == shapes(top)[:len(shapes(features))] and top.count_params() > features.count_params()


def test_register_a_network_of_your_own(monkeypatch):
    monkeypatch.setattr(registry, "_TABLE", dict(registry._TABLE))
    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))

    @networks.register("tiny", input_shape=(8, 8, 1), num_classes=2, tags=("image",))
    def tiny(x, *, num_classes, include_top=True):
        x = keras.layers.Flatten()(x)
        return keras.layers.Dense(num_classes)(x) if include_top else x

    assert networks.build("tiny").output.shape == (None, 2)
    assert pipelines.get("digits").networks[-1] == "tiny"  # an image network: digits takes it
    with pytest.raises(ValueError, match="network name 'tiny' is already registered"):
        networks.register("tiny")(lambda x, **_: x)
    with pytest.raises(ValueError, match=r"network 'tiny2' is not in networks/registry.py: give its entry's"):
        networks.register("tiny2")(tiny)


def test_each_pipeline_takes_its_networks_and_names_them_on_a_wrong_one():
    objects, digits = pipelines.get("objects"), pipelines.get("digits")
    assert objects.networks == ("alexnet_cifar", "resnet_cifar", "lecun1989", "lenet5", "alexnet_grouped", "vgg16",
                                "resnet50", "densenet121", "inception_v3")
    assert digits.networks == ("lecun1989", "lenet5", "alexnet", "alexnet_grouped", "vgg16", "resnet50",
                               "densenet121", "inception_v3", "alexnet_cifar", "resnet_cifar")
    assert pipelines.get("volumes").networks == ("cnn3d", "resnet3d")
    assert pipelines.get("segment").networks == ("unet3d",)
    assert pipelines.get("text").networks == ("kim",)
    with pytest.raises(ValueError, match=r"^unknown network 'resnet_cifer' for objects \(known: alexnet_cifar, "
                                         r"resnet_cifar, .*inception_v3\); did you mean resnet_cifar\?$"):
        override(objects.Config(), ["network=resnet_cifer"])
    with pytest.raises(ValueError, match=r"unknown network 'unet3d' for volumes \(known: cnn3d, resnet3d\)"):
        override(pipelines.get("volumes").Config(), ["network=unet3d"])


def test_old_names_resolve_per_pipeline_in_recipes_and_settings():
    objects = pipelines.get("objects")
    assert override(objects.Config(), ["network=alexnet"]).network == "alexnet_cifar"
    assert override(objects.Config(), ["network=resnet"]).network == "resnet_cifar"
    assert objects.Config().network == "resnet_cifar"
    # A recipe written with an old name (as the built-in ones were) sets today's network.
    old_recipe = ("network=alexnet", "learning_rate=0.01", "epochs=30")
    assert override(objects.Config(), old_recipe).network == "alexnet_cifar"
    assert override(objects.Config(), recipes.get("cifar10-alexnet", "objects").settings).network == "alexnet_cifar"
    # Under digits, alexnet was and is the 2012 network.
    assert override(pipelines.get("digits").Config(), ["network=alexnet"]).network == "alexnet"


@pytest.mark.parametrize("pipeline, network", list(RECORDED_COUNTS))
def test_recorded_runs_with_old_names_rebuild_the_same_network(pipeline, network, tmp_path):
    cls = pipelines.get(pipeline)
    recorded = {**to_dict(cls.Config()), "network": network}  # config.json as runs wrote it
    (tmp_path / "config.json").write_text(json.dumps({"pipeline": pipeline, "config": recorded}))
    rebuilt = runs.pipeline_from_record(runs.read_record(tmp_path))
    assert rebuilt.config.network == RENAMED.get((pipeline, network), network)
    assert rebuilt.build_model(3).count_params() == RECORDED_COUNTS[pipeline, network]
