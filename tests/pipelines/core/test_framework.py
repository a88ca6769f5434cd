"""The shared framework: configs, sources and their errors, splits, tf.data, export."""
import gzip
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from isolated import run_without_project
from serving_exports import assert_core_tensorflow_only

import pipelines
from datasets import examples, splits
from pipelines.core import sources
from datasets.formats import mnist_idx, npz
from pipelines.core import config as configs
from pipelines.core import data as input_data


def _digits(**overrides):
    cls = pipelines.get("digits")
    return cls(configs.override(cls.Config(), [f"{k}={v}" for k, v in overrides.items()]))


def _write_image(path, value=128, size=(10, 12), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full(size + ((3,) if mode == "RGB" else ()), value, np.uint8)
    Image.fromarray(array, mode=None).save(path)


def _class_folders(root, classes=("a", "b"), per_class=3):
    for label in classes:
        for i in range(per_class):
            _write_image(root / label / f"{i}.png", value=(40 * i + 10) % 256)
    return root


# ---------------------------------------------------------------- registry and config
def test_registry_lists_and_rejects_unknown():
    assert {"digits", "objects"} <= set(pipelines.names())
    with pytest.raises(ValueError, match="unknown pipeline 'nope'"):
        pipelines.get("nope")


def test_override_parses_types_and_names_unknown_keys():
    config = configs.override(pipelines.get("digits").Config(),
                              ["epochs=3", "learning_rate=0.5", "filters=8,16", "augment_flip=true"])
    assert (config.epochs, config.learning_rate, config.filters, config.augment_flip) == (3, 0.5, (8, 16), True)
    with pytest.raises(ValueError, match="unknown --set key 'epoch'"):
        configs.override(config, ["epoch=3"])
    with pytest.raises(ValueError, match="expected int"):
        configs.override(config, ["epochs=many"])
    assert configs.from_dict(type(config), json.loads(configs.dumps(config))) == config


def test_weight_averaging_leaves_the_moving_average_in_the_model_after_fit():
    import keras

    from pipelines.extensions.ema import with_weight_averaging

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(with_weight_averaging(keras.optimizers.SGD(0.1), 0.5), "mse")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs=None: seen.append(float(model.layers[0].kernel.numpy()[0, 0])))
    x, y = np.ones((4, 1), np.float32), np.full((4, 1), 3.0, np.float32)
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    average = seen[0]
    for weight in seen[1:]:  # Keras starts the average at the weights after the first step
        average = 0.5 * average + 0.5 * weight
    assert float(model.layers[0].kernel.numpy()[0, 0]) == pytest.approx(average, rel=1e-5)
    assert average != pytest.approx(seen[-1], rel=1e-3)  # the average is not the last weights
    assert with_weight_averaging(keras.optimizers.SGD(0.1), 0.0).use_ema is False
    with pytest.raises(ValueError, match=r"ema_momentum must be in \[0, 1\), got 1.5"):
        with_weight_averaging(keras.optimizers.SGD(0.1), 1.5)


def test_unknown_network_is_an_error():
    with pytest.raises(ValueError, match="unknown network 'vgg'"):
        _digits(network="vgg")


# ------------------------------------------------------------------------ splits
def test_stratified_split_is_seeded_and_keeps_class_proportions():
    labels = np.repeat(np.arange(4), [40, 20, 8, 2])
    kept, held = examples.stratified_split(labels, 0.25, seed=3)
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(70))
    assert np.bincount(labels[held]).tolist() == [10, 5, 2, 1]
    again, _ = examples.stratified_split(labels, 0.25, seed=3)
    other, _ = examples.stratified_split(labels, 0.25, seed=4)
    assert np.array_equal(kept, again) and not np.array_equal(kept, other)


def test_missing_test_split_is_held_out_and_recorded(tmp_path):
    pipeline = _digits()
    data = sources.load(pipeline, str(_class_folders(tmp_path / "all", per_class=8)))
    made = splits.make_splits(data, None, pipeline.config)
    # digits hold out 10% of the rest for validation by default (one per class here)
    assert made.record["counts"] == {"train": 10, "val": 2, "test": 4}
    assert len(made.record["test_indices"]) == 4 and "stratified" in made.record["test"]


# ----------------------------------------------------------------------- sources
def test_class_folders_and_split_folders(tmp_path):
    pipeline = _digits()
    data = sources.load(pipeline, str(_class_folders(tmp_path / "flat")))
    assert data.class_names == ["a", "b"] and list(data.splits) == ["all"]
    assert data.splits["all"].labels.tolist() == [0, 0, 0, 1, 1, 1]
    _class_folders(tmp_path / "split" / "train", classes=("x", "y", "z"))
    _class_folders(tmp_path / "split" / "test", classes=("z", "x"), per_class=1)
    data = sources.load(pipeline, str(tmp_path / "split"))
    assert data.splits["test"].labels.tolist() == [0, 2]  # x, z in the training numbering


def test_csv_manifest_relative_paths(tmp_path):
    _write_image(tmp_path / "img" / "one.png")
    _write_image(tmp_path / "img" / "two.jpg", mode="RGB", size=(20, 20))
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label\nimg/one.png,cat\nimg/two.jpg,dog\n")
    data = sources.load(_digits(), str(manifest))
    assert data.class_names == ["cat", "dog"]
    images = list(input_data.input_dataset(_digits(image_size=16), data.splits["all"], 4))[0][0]
    assert images.shape == (2, 16, 16, 1) and images.dtype.name == "uint8"  # RGB -> grey, resized


@pytest.mark.parametrize("case, message", [
    ("not_image", "broken.png: not a readable image"),
    ("empty", "empty folder"),
    ("empty_class", "b: class folder with no files"),
    ("stray", "stray.png: file outside the class folders"),
    ("extension", "notes.txt: not a supported file"),
    ("tiff", "format TIFF is not supported"),
])
def test_bad_folders_are_named(tmp_path, case, message):
    root = tmp_path / "data"
    root.mkdir()
    if case != "empty":
        _class_folders(root, classes=("a",))
    if case == "not_image":
        (root / "a" / "broken.png").write_bytes(b"not a png at all")
    elif case == "empty_class":
        (root / "b").mkdir()
    elif case == "stray":
        _write_image(root / "stray.png")
    elif case == "extension":
        (root / "a" / "notes.txt").write_text("hello")
    elif case == "tiff":
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "a" / "x.png", format="TIFF")
    with pytest.raises(ValueError, match=message):
        sources.load(_digits(), str(root))


def test_manifest_missing_file_and_unseen_test_label(tmp_path):
    _write_image(tmp_path / "one.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\none.png,a\nmissing.png,b\n")
    with pytest.raises(ValueError, match=r"m.csv:3: no such file .*missing.png"):
        sources.load(_digits(), str(manifest))
    pipeline = _digits()
    train = sources.load(pipeline, str(_class_folders(tmp_path / "train")))
    test = sources.load(pipeline, str(_class_folders(tmp_path / "test", classes=("a", "c"))))
    with pytest.raises(ValueError, match="label 'c' not seen in training"):
        splits.make_splits(train, test, pipeline.config)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        sources.load(pipeline, str(tmp_path / "nowhere"))


def test_npz_and_mnist_idx(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (10, 6, 6), dtype=np.uint8)
    y = np.array([3, 5] * 5)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    data = npz.load(tmp_path / "d.npz")
    assert data.class_names == ["3", "5"] and data.splits["test"].labels.tolist() == [0, 1]
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(ValueError, match="expected arrays x_train/y_train"):
        npz.load(tmp_path / "bad.npz")

    folder = tmp_path / "mnist"
    folder.mkdir()
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in x.shape)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + x.tobytes())
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(y.tolist()))
    data = sources.load(_digits(), str(folder))
    assert np.array_equal(data.splits["train"].inputs[..., 0], x)
    assert data.splits["train"].labels.tolist() == y.tolist()
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")
    with pytest.raises(ValueError, match="truncated IDX"):
        mnist_idx.detect(folder)


def test_dataset_examples_take_and_relabel():
    import tensorflow as tf

    source = tf.data.Dataset.from_tensor_slices((np.arange(6) * 10, np.array([0, 1, 0, 1, 0, 1])))
    full = examples.DatasetExamples(labels=np.array([0, 1, 0, 1, 0, 1]), origin="t", source=source)
    part = full.take([4, 1]).with_labels([7, 8])
    assert [(int(x), int(y)) for x, y in part.dataset()] == [(10, 7), (40, 8)]


# ----------------------------------------------------------------------- tf.data
def test_augmentation_only_in_training_and_seeded():
    pipeline = _digits(image_size=8, augment_shift=2)
    split = pipeline.bundled().splits["test"].take(np.arange(16))
    plain = [x.numpy() for x, _ in input_data.input_dataset(pipeline, split, 16)][0]
    assert np.array_equal(plain, split.inputs)
    first = [x.numpy() for x, _ in input_data.input_dataset(pipeline, split, 16, training=True, seed=1)][0]
    again = [x.numpy() for x, _ in input_data.input_dataset(pipeline, split, 16, training=True, seed=1)][0]
    assert np.array_equal(first, again)
    assert not np.array_equal(np.sort(first.reshape(16, -1), 0), np.sort(plain.reshape(16, -1), 0))


# ------------------------------------------------------------------------ export
@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """An untrained digits model exported twice (versions 1 and 2)."""
    from serving import export

    root = tmp_path_factory.mktemp("exports")
    pipeline = _digits(image_size=8, filters="4,4", dense_units=8)
    model = pipeline.build_model(3)
    first = export.export(model, pipeline, ["zero", "one", "two"], root)
    second = export.export(model, pipeline, ["zero", "one", "two"], root)
    return root, first, second


def test_export_is_versioned_and_never_overwrites(tiny_export):
    from serving import export

    root, first, second = tiny_export
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in (root / "digits").iterdir()) == ["1", "2"]  # no temporary left
    assert (first / "assets" / "class_names.txt").read_text() == "zero\none\ntwo\n"
    assert json.loads((first / export.METADATA).read_text())["class_names"] == ["zero", "one", "two"]
    pipeline = _digits(image_size=8, filters="4,4", dense_units=8)
    with pytest.raises(ValueError, match="never overwritten"):
        export.export(pipeline.build_model(3), pipeline, ["a", "b", "c"], root, version=1)


def test_export_loads_without_the_project(tiny_export, tmp_path):
    _, first, _ = tiny_export
    png = tmp_path / "x.png"
    _write_image(png, size=(30, 20), mode="RGB")
    code = f"""
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load({str(first)!r})
out = loaded.signatures["serving_default"](image=tf.constant(np.full((2, 13, 9, 1), 200, np.float32)))
assert out["probabilities"].shape == (2, 3), out["probabilities"].shape
assert set(out["label"].numpy()) <= {{b"zero", b"one", b"two"}}
assert out["class_id"].dtype == tf.int32
raw = open({str(png)!r}, "rb").read()
out = loaded.signatures["image_bytes"](image_bytes=tf.constant([raw, raw]))
assert out["probabilities"].shape == (2, 3)
print("served")
"""
    result = run_without_project(code, cwd=tmp_path)
    assert result.returncode == 0 and "served" in result.stdout, result.stdout + result.stderr[-2000:]

    cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--all", "--dir", str(first)],
                           capture_output=True, text=True, check=True).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['image_bytes']" in shown
    assert "inputs['image'] tensor_info" in shown and "inputs['image_bytes']" in shown
    for name in ("probabilities", "class_id", "label"):
        assert f"outputs['{name}']" in shown
    assert_core_tensorflow_only(first)
