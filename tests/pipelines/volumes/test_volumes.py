"""The `volumes` pipeline: in-graph normalisation, train/serve consistency, end to end through
`cnn train`/`cnn predict`, an export that runs without the project, and one-line bad-input errors."""
import json
import nibabel as nib
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
import pipelines
from datasets.formats import nifti
from pipelines.core.config import override
from pipelines.volumes.transforms import (FlipAveraged, IntensityJitter, IntensityNormalization, MaskDepth,
                                     _rotate_slices, center_fit, random_rotate)
from isolated import run_without_project

SMALL = ["shape=16,16,16", "filters=4,8", "bundled_count=12", "batch_size=4", "max_shift=1"]


def test_zscore_is_per_volume_and_window_clips_hounsfield_units():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(5, 2, (4, 4, 4, 1)), rng.normal(-100, 30, (4, 4, 4, 1))]).astype(np.float32)
    z = IntensityNormalization("zscore")(x).numpy()
    for i in range(2):
        np.testing.assert_allclose(z[i], (x[i] - x[i].mean()) / x[i].std(), rtol=1e-4, atol=1e-4)
    ct = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0], np.float32).reshape(1, 5, 1, 1, 1)
    windowed = IntensityNormalization("window", window=(40, 400))(ct).numpy().ravel()
    np.testing.assert_allclose(windowed, [0.0, 0.0, 0.5, 1.0, 1.0])
    layer = IntensityNormalization.from_config(IntensityNormalization("window", (50, 350)).get_config())
    assert layer.mode == "window" and layer.window == (50.0, 350.0)
    with pytest.raises(ValueError, match="expected one of zscore, window, dataset, none"):
        IntensityNormalization("minmax")


def test_dataset_normalization_scales_every_volume_alike():
    masks = np.zeros((2, 4, 4, 4, 1), np.float32)
    masks[0, :1], masks[1, :3] = 255.0, 255.0  # a small and a large mask
    out = IntensityNormalization("dataset", intensity=(4.0, 32.0))(masks).numpy()
    np.testing.assert_allclose(out[masks == 255.0], (255.0 - 4.0) / 32.0)  # the same value whatever the size
    np.testing.assert_allclose(out[masks == 0.0], -4.0 / 32.0)
    zscored = IntensityNormalization("zscore")(masks).numpy()
    assert zscored[0].max() > zscored[1].max() + 1  # the per-volume z-score turns size into intensity
    layer = IntensityNormalization.from_config(IntensityNormalization("dataset", intensity=(4, 32)).get_config())
    assert layer.intensity == (4.0, 32.0)
    with pytest.raises(ValueError, match="mean,std with std > 0"):
        IntensityNormalization("dataset", intensity=(4.0, 0.0))


@pytest.mark.parametrize("name", ["volumes", "segment"])
def test_dataset_normalization_without_intensity_is_one_line(name):
    line = one_line_error(["train", name, "--set", "normalization=dataset", "--epochs", "1"])
    assert "normalization=dataset needs intensity=MEAN,STD" in line and "cnn fingerprint" in line


def test_intensity_jitter_only_in_training():
    x = tf.ones((3, 2, 2, 2, 1))
    layer = IntensityJitter(scale=0.2, shift=0.2, seed=1)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    jittered = layer(x, training=True).numpy()
    assert not np.allclose(jittered, 1.0)
    assert np.ptp(jittered[0]) == 0  # one scale and offset per volume (no noise configured)


def test_flip_averaged_is_the_mean_over_flips_in_inference_and_round_trips(tmp_path):
    import keras

    inputs = keras.Input((4, 5, 6, 1))
    features = keras.layers.Flatten()(keras.layers.Dense(3)(inputs))  # not flip invariant
    network = keras.Model(inputs, keras.layers.Dense(2)(features))
    x = np.random.default_rng(2).normal(size=(3, 4, 5, 6, 1)).astype(np.float32)
    layer = FlipAveraged(network, axes=(0, 2))
    expected = np.mean([network(np.flip(x, axes) if axes else x).numpy()
                        for axes in [(), (1,), (3,), (1, 3)]], axis=0)
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(x, training=True).numpy(), network(x).numpy(), rtol=1e-6)
    assert not np.allclose(expected, network(x).numpy())  # the flips do change the outputs

    outer_in = keras.Input((4, 5, 6, 1))
    model = keras.Model(outer_in, layer(outer_in))
    model.save(tmp_path / "tta.keras")
    loaded = keras.saving.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(x), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="axes must be among 0, 1, 2, got \\(3,\\)"):
        FlipAveraged(network, axes=(3,))


def test_a_flip_averaged_model_saved_before_the_wrapper_still_loads(tmp_path):
    """Runs saved before FlipAveraged became a keras.layers.Wrapper hold the network under
    "network" in its config; they load and predict as they did."""
    import zipfile

    import keras

    inputs = keras.Input((4, 5, 6, 1))
    network = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    outer_in = keras.Input((4, 5, 6, 1))
    model = keras.Model(outer_in, FlipAveraged(network, axes=(0, 2), name="flips")(outer_in))
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as new, zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                flips = next(layer for layer in config["config"]["layers"] if layer["name"] == "flips")
                flips["config"]["network"] = flips["config"].pop("layer")
                data = json.dumps(config).encode()
            old.writestr(item, data)
    x = np.random.default_rng(3).normal(size=(2, 4, 5, 6, 1)).astype(np.float32)
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6, atol=1e-7)


def test_tta_flips_puts_flip_averaging_in_the_volumes_model():
    cls = pipelines.get("volumes")
    config = override(cls.Config(), SMALL + ["tta_flips=true", "flip_axes=0,1"])
    model = cls(config).build_model(2)
    tta = model.get_layer("flip_averaged")
    assert tta.axes == (0, 1) and model.output_shape == (None, 2)
    plain = cls(override(cls.Config(), SMALL)).build_model(2)
    assert "flip_averaged" not in [layer.name for layer in plain.layers]


def test_rotation_is_about_the_centre_and_keeps_a_centred_ball():
    slices = np.random.default_rng(3).normal(size=(2, 7, 7, 1)).astype(np.float32)
    quarter = _rotate_slices(tf.constant(slices), tf.constant(np.pi / 2), 0.0).numpy()
    np.testing.assert_allclose(quarter, np.rot90(slices, 1, axes=(1, 2)), atol=1e-5)

    grid = np.indices((15, 17, 19)).astype(np.float32).reshape(3, -1)
    centre = np.array([7.0, 8.0, 9.0])

    def moments(volume):  # mass, centroid (3,), direction of the main axis (3,)
        weights = volume.ravel()
        centroid = grid @ weights / weights.sum()
        spread = ((grid - centroid[:, None]) * weights) @ (grid - centroid[:, None]).T
        return weights.sum(), centroid, np.linalg.eigh(spread)[1][:, -1]

    ball = (np.linalg.norm(grid - centre[:, None], axis=0) <= 5).astype(np.float32).reshape(15, 17, 19, 1)
    np.testing.assert_array_equal(random_rotate(tf.constant(ball), tf.constant([4, 5]), 0.0, 0.0).numpy(), ball)
    bar = np.zeros_like(ball)
    bar[2:13, 6:11, 7:12] = 1.0  # centred, long along axis 0
    for seed in ([4, 5], [7, 7]):
        turned = random_rotate(tf.constant(ball), tf.constant(seed), 30.0, 0.0).numpy()
        mass, centroid, _ = moments(turned)
        assert turned.shape == ball.shape and abs(mass / ball.sum() - 1) < 0.01
        np.testing.assert_allclose(centroid, centre, atol=1e-3)  # about the centre
        mass, centroid, axis = moments(random_rotate(tf.constant(bar), tf.constant(seed), 30.0, 0.0).numpy())
        tilt = np.degrees(np.arccos(abs(axis[0])))
        assert abs(mass / bar.sum() - 1) < 0.01 and 2 < tilt < 45, tilt


def test_mask_depth_counts_the_erosions_a_voxel_survives():
    cube = np.zeros((1, 11, 11, 12, 1), np.float32)
    cube[0, 2:9, 2:9, 2:9] = 1.0  # a 7^3 cube: shells at depth 1, 2, 3 and the centre at 4
    depth = MaskDepth(steps=6)(cube).numpy()[0, ..., 0]
    index = np.indices((7, 7, 7)) + 2
    shell = np.minimum(np.minimum(index - 1, 9 - index).min(0), 4)  # chessboard distance to outside
    np.testing.assert_allclose(depth[2:9, 2:9, 2:9], shell / 6)
    assert depth.sum() == depth[2:9, 2:9, 2:9].sum()  # nothing outside the mask
    capped = MaskDepth(steps=2)(cube).numpy()[0, ..., 0]
    assert capped[5, 5, 5] == 1.0 and capped[2, 5, 5] == 0.5
    edge = np.ones((1, 3, 3, 3, 1), np.float32)  # the border counts as background
    np.testing.assert_allclose(MaskDepth(steps=2)(edge).numpy()[0, 1, 1, 1, 0], 1.0)
    np.testing.assert_allclose(MaskDepth(steps=2)(edge).numpy()[0, 0, 1, 1, 0], 0.5)
    with pytest.raises(ValueError, match="at least one erosion step, got 0"):
        MaskDepth(steps=0)


def test_erosion_is_scipys_binary_erosion_by_a_cube_with_a_background_border():
    from scipy import ndimage

    from pipelines.volumes.transforms import erode

    rng = np.random.default_rng(4)
    masks = (ndimage.uniform_filter(rng.random((2, 9, 7, 8, 1)), size=(1, 3, 3, 3, 1)) > 0.45).astype(np.float32)
    got = erode(tf.constant(masks)).numpy()
    cube = np.ones((1, 3, 3, 3, 1), bool)
    expected = ndimage.binary_erosion(masks.astype(bool), structure=cube, border_value=0)
    assert 0 < expected.sum() < masks.sum()  # some voxels survive, some do not
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_mask_depth_is_a_second_channel_computed_in_the_model():
    cls = pipelines.get("volumes")
    model = cls(override(cls.Config(), SMALL + ["mask_depth=3", "normalization=window", "window=0.5,1"])).build_model(2)
    assert model.input_shape == (None, 16, 16, 16, 1)
    assert model.get_layer("with_mask_depth").output.shape[-1] == 2
    assert model.get_layer("block0_conv0").kernel.shape == (3, 3, 3, 2, 4)


def test_resnet3d_is_residual_from_our_strided_convolutions(tmp_path):
    import keras

    import layers

    cls = pipelines.get("volumes")
    model = cls(override(cls.Config(), SMALL + ["network=resnet3d"])).build_model(2)
    names = [layer.name for layer in model.layers]
    assert "level1_block0_add" in names and "level1_block0_proj" in names
    strided = model.get_layer("level1_block0_conv0")
    assert isinstance(strided, layers.Conv3D) and strided.strides == (2, 2, 2)
    assert model.get_layer("level1_block1_conv1").output.shape[1:] == (8, 8, 8, 8)
    x = np.random.default_rng(4).normal(size=(2, 16, 16, 16, 1)).astype(np.float32)
    model.save(tmp_path / "resnet3d.keras")
    loaded = keras.saving.load_model(tmp_path / "resnet3d.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-5, atol=1e-5)


def test_training_fit_equals_predict_fit():
    """conform (tf, training) and read_file's fit (NumPy, predict) place a volume identically."""
    volume = np.random.default_rng(1).normal(size=(13, 20, 9)).astype(np.float32)
    ours = center_fit(tf.constant(volume), (16, 16, 16), float(volume.min())).numpy()
    theirs, _ = nifti.fit_to_shape(volume, (16, 16, 16), value=volume.min())
    np.testing.assert_array_equal(ours, theirs)


@pytest.fixture(scope="module")
def trained():
    """The session's tiny volumes run and export (tests/serving_exports.py, trained once with
    SMALL's settings and shared with the serving tests)."""
    import serving_exports

    assert serving_exports.TINY["volumes"] == SMALL
    return serving_exports.trained()["volumes"]


def test_train_writes_metrics_and_a_versioned_export(trained):
    metrics = json.loads((trained.run_dir / "metrics.json").read_text())
    assert metrics["class_names"] == ["healthy", "lesion"]
    assert metrics["examples"] == 2  # round(20% of 6) per class, stratified
    assert (trained.export_path / "saved_model.pb").is_file()


def test_metrics_are_those_of_the_saved_model_on_the_test_split(trained, monkeypatch):
    """Accuracy, loss and AUC recomputed with NumPy and scikit-learn from model.keras's own
    probabilities on the run's test volumes."""
    from sklearn.metrics import roc_auc_score

    from pipelines.core import runs

    monkeypatch.setenv("CNN_SUITE_DATA", str(trained.data_cache))
    metrics = json.loads((trained.run_dir / "metrics.json").read_text())
    record = runs.read_record(trained.run_dir)
    pipeline = runs.pipeline_from_record(record)
    test = runs.splits_of(pipeline, record).test
    volumes, labels = next(iter(pipeline.input_dataset(test, len(test))))
    labels = labels.numpy().astype(int)
    assert sorted(labels.tolist()) == [0, 1]
    p = trained.keras_model().predict_on_batch(volumes.numpy())
    assert metrics["accuracy"] == pytest.approx(np.mean(p.argmax(1) == labels), abs=1e-9)
    assert metrics["loss"] == pytest.approx(-np.mean(np.log(p[np.arange(2), labels])), rel=1e-4)
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, p[:, 1]), abs=1e-9)


def test_export_runs_without_the_project_and_matches_the_keras_model(trained, tmp_path):
    model = trained.keras_model()
    batch = np.random.default_rng(2).normal(50, 20, (3, 16, 16, 16, 1)).astype(np.float32)
    expected = model.predict_on_batch(batch)
    np.save(tmp_path / "batch.npy", batch)
    script = f"""
import json, numpy as np, tensorflow as tf
sig = tf.saved_model.load({str(trained.export_path)!r}).signatures["serving_default"]
spec = sig.structured_input_signature[1]["volume"]
out = sig(volume=tf.constant(np.load("batch.npy")))
print(json.dumps({{"shape": spec.shape.as_list(), "dtype": spec.dtype.name,
                  "outputs": sorted(out), "p": out["probabilities"].numpy().tolist(),
                  "label": [s.decode() for s in out["label"].numpy()]}}))
"""
    result = run_without_project(script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["shape"] == [None, 16, 16, 16, 1] and served["dtype"] == "float32"
    assert served["outputs"] == ["class_id", "label", "probabilities"]
    np.testing.assert_allclose(served["p"], expected, atol=1e-5)
    assert served["label"] == [["healthy", "lesion"][i] for i in np.argmax(expected, -1)]


@pytest.fixture(scope="module")
def halves_export(tmp_path_factory):
    """A volumes export of a model with fixed weights: lesion when the right half (RAS axis 0)
    is brighter than the left (tests/fixed_models.py)."""
    from fixed_models import halves_classifier
    from serving import export

    cls = pipelines.get("volumes")
    root = tmp_path_factory.mktemp("halves")
    return export.export(halves_classifier(scale=SCALE), cls(override(cls.Config(), SMALL)),
                         ["healthy", "lesion"], root)


SCALE = 2e-4


def test_predict_reorients_an_lps_scan_and_fits_it_to_the_model(halves_export, tmp_path):
    """The same voxels stored RAS and LPS get opposite classes: predict puts axis 0 in RAS order
    (flipped for LPS) and centre-crops 20 -> 16 voxels before the model."""
    from fixed_models import halves_probabilities

    rng = np.random.default_rng(3)
    data = rng.normal(60, 10, (20, 16, 16)).astype(np.float32)
    data[:10] += 5.0  # brighter at low file indices
    scans = {"ras": np.diag([1.2, 1.2, 1.5, 1.0]), "lps": np.diag([-1.2, -1.2, 1.5, 1.0])}
    for name, affine in scans.items():
        nib.save(nib.Nifti1Image(data, affine), str(tmp_path / f"{name}.nii.gz"))
    result = CliRunner().invoke(cli.main, ["predict", str(halves_export),
                                           *(str(tmp_path / f"{name}.nii.gz") for name in scans)])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.strip().splitlines()]
    ras = data[2:18]  # x runs left to right along the file's axis 0
    lps = np.flip(data, 0)[2:18]  # x runs right to left: flipped into RAS
    expected = halves_probabilities(np.stack([ras, lps]), SCALE)
    assert [label for _, label, _ in lines] == ["healthy", "lesion"]
    assert expected.argmax(1).tolist() == [0, 1] and 0.6 < expected.max(1).min() < 0.99
    np.testing.assert_allclose([float(p) for _, _, p in lines], expected.max(1), atol=1e-4)


def test_medmnist_npz_source_uses_its_splits(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "adrenalmnist3d_small.npz"
    np.savez(path, train_images=rng.integers(0, 255, (8, 28, 28, 28), dtype=np.uint8),
             train_labels=np.array([[0], [1]] * 4), val_images=np.zeros((2, 28, 28, 28), np.uint8),
             val_labels=np.array([[1], [0]]))
    data = pipelines.get("volumes")().read_path(path)
    assert data.class_names == ["normal", "mass"]
    assert len(data.split("train")) == 8 and data.split("val").labels.tolist() == [1, 0]


def test_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "v").mkdir()
    for name, data in [("ok", np.zeros((4, 4, 4))), ("nan", np.full((4, 4, 4), np.nan)),
                       ("flat", np.zeros((4, 4)))]:
        nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), str(tmp_path / "v" / f"{name}.nii.gz"))
    manifest = tmp_path / "m.csv"
    cases = [
        ("v/ok.nii.gz,a\nv/missing.nii.gz,b", "m.csv:3: no such file v/missing.nii.gz"),
        ("v/ok.nii.gz,a\nv/nan.nii.gz,b", "nan.nii.gz: 64 NaN/Inf voxel(s)"),
        ("v/ok.nii.gz,a\nv/flat.nii.gz,b", "flat.nii.gz: expected a 3D volume, got 2D"),
        ("v/ok.nii.gz,a", "needs at least two classes"),
    ]
    for index, (rows, message) in enumerate(cases):
        manifest.write_text(f"image,label\n{rows}\n")
        args = ["train", "volumes", "--run-dir", str(tmp_path / f"run{index}"), "--data", str(manifest)]
        assert message in one_line_error(args)
    for setting, message in [("max_rotation=-5", "max_rotation must be in [0, 180) degrees, got -5.0"),
                             ("mask_depth=-1", "mask_depth must be 0 (off) or a number of erosions, got -1")]:
        args = ["train", "volumes", "--run-dir", str(tmp_path / "bad"), "--set", setting]
        assert message in one_line_error(args)


def test_class_folders_of_nifti_files(tmp_path):
    for split, label, count in [("train", "a", 2), ("train", "b", 3), ("test", "a", 1), ("test", "b", 1)]:
        (tmp_path / split / label).mkdir(parents=True)
        for i in range(count):
            nib.save(nib.Nifti1Image(np.full((3, 4, 5), i, np.float32), np.eye(4)),
                     str(tmp_path / split / label / f"{i}.nii.gz"))
    data = pipelines.get("volumes")().read_path(tmp_path)
    assert data.class_names == ["a", "b"]
    assert data.split("train").labels.tolist() == [0, 0, 1, 1, 1] and len(data.split("test")) == 2
    (tmp_path / "train" / "a" / "notes.txt").write_text("x")
    with pytest.raises(nifti.VolumeError, match=r"notes.txt: not a .nii/.nii.gz file"):
        pipelines.get("volumes")().read_path(tmp_path)
