"""The `segment` pipeline: Dice numbers, sliding-window coverage, the U-Net's shapes, end to end
through `cnn train`/`cnn predict` (scan_seg.nii.gz on the input's own grid), an export that runs
without the project, and one-line errors for bad pairs."""
import json

import nibabel as nib
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from datasets.formats import nifti
from pipelines.volumes import inference as sliding_window, losses as dice
from isolated import run_without_project

SMALL = ["shape=16,16,16", "base_filters=4", "depth=2", "bundled_count=8", "batch_size=4",
         "crops_per_volume=2"]


def test_dice_scores_on_known_volumes():
    label = np.zeros((4, 4, 4), np.int64)
    label[:2] = 1  # 32 voxels of class 1
    prediction = np.zeros_like(label)
    prediction[:1] = 1  # 16 of them found
    prediction[3, 0, 0] = 2  # one false class-2 voxel, class 2 absent from the label
    scores = dice.dice_scores(label, prediction, 3)
    np.testing.assert_allclose(scores, [2 * 31 / (32 + 47), 2 * 16 / (32 + 16), 0.0])
    assert dice.dice_scores(label, label, 3).tolist() == [1.0, 1.0, 1.0]  # absent class: 1.0


def test_dice_cross_entropy_loss_values():
    labels = tf.constant(np.array([[[[0, 1], [2, 1]]]]), tf.int32)  # (1, 1, 2, 2)
    perfect = tf.one_hot(labels, 3) * (1 - 3e-7) + 1e-7
    loss = dice.DiceCrossEntropy(3)
    assert float(loss(labels, perfect)) < 1e-4
    uniform = tf.fill((1, 1, 2, 2, 3), 1 / 3)
    # CE = ln 3; foreground soft Dice: class 1: 2*(2/3)/(2+4/3) = 0.4, class 2: 2*(1/3)/(1+4/3) = 2/7
    expected = np.log(3) + 1 - (0.4 + 2 / 7) / 2
    np.testing.assert_allclose(float(loss(labels, uniform)), expected, rtol=1e-5)
    restored = dice.DiceCrossEntropy.from_config(loss.get_config())
    assert restored.num_classes == 3


def test_sliding_window_covers_every_voxel_once_averaged():
    def predict(batch):  # (B, D, H, W, 1) -> two "probabilities" that encode the intensity
        return np.concatenate([batch, 1 - batch], axis=-1)

    rng = np.random.default_rng(0)
    for shape in [(5, 7, 3), (16, 16, 16), (37, 21, 18)]:
        volume = rng.random(shape).astype(np.float32)
        out = sliding_window.predict_volume(predict, volume, (16, 16, 8), overlap=0.5, batch_size=3)
        assert out.shape == shape + (2,)
        np.testing.assert_allclose(out[..., 0], volume, atol=1e-6)
    assert sliding_window.window_starts(37, 16, 0.5) == [0, 7, 14, 21]
    assert sliding_window.window_starts(10, 16, 0.5) == [0]


def test_unet_shapes_and_divisibility():
    import keras

    from networks.unet import unet3d

    inputs = keras.Input((16, 8, 8, 1))
    assert tuple(unet3d(inputs, num_classes=3, base_filters=2, depth=2).shape) == (None, 16, 8, 8, 3)
    with pytest.raises(ValueError, match="divisible by 8"):
        unet3d(keras.Input((16, 12, 8, 1)), num_classes=3, base_filters=2, depth=3)


@pytest.fixture(scope="module")
def trained():
    """The session's tiny segment run and export (tests/serving_exports.py, trained once with
    SMALL's settings and shared with the serving tests)."""
    import serving_exports

    assert serving_exports.TINY["segment"] == SMALL
    return serving_exports.trained()["segment"]


def test_train_reports_whole_volume_dice(trained):
    metrics = json.loads((trained.run_dir / "metrics.json").read_text())
    assert set(metrics) >= {"dice_organ", "dice_lesion", "mean_dice"}
    assert metrics["mean_dice"] == pytest.approx((metrics["dice_organ"] + metrics["dice_lesion"]) / 2)
    assert metrics["examples"] == 2 and len(metrics["per_case_dice"]) == 2  # 20% of 8 cases


def test_predict_writes_a_segmentation_file_and_the_export_runs_alone(trained, tmp_path):
    # a scan bigger than the 16^3 window, stored LPS with a permuted axis order
    data = np.random.default_rng(4).normal(80, 30, (20, 23, 18)).astype(np.float32)
    affine = np.array([[0, -1.1, 0, 5], [0, 0, -0.9, 3], [1.3, 0, 0, -7], [0, 0, 0, 1.0]])
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(scan))
    export = trained.export_path
    result = CliRunner().invoke(cli.main, ["predict", str(export), str(scan)])
    assert result.exit_code == 0, result.output
    written = nib.load(str(tmp_path / "scan_seg.nii.gz"))
    assert result.output.split("\t")[1] == str(tmp_path / "scan_seg.nii.gz")
    assert written.shape == data.shape and np.allclose(written.affine, affine)
    segmentation = np.asarray(written.dataobj)
    assert segmentation.dtype == np.uint8 and set(np.unique(segmentation)) <= {0, 1, 2}

    model = trained.keras_model()
    volume = nifti.load_volume(scan)

    # the export alone (no project importable) gives the model's probabilities for one window
    window = volume.data[:16, :16, :16][None, ..., None].astype(np.float32)
    np.save(tmp_path / "window.npy", window)
    script = f"""
import json, numpy as np, tensorflow as tf
sig = tf.saved_model.load({str(export)!r}).signatures["serving_default"]
out = sig(volume=tf.constant(np.load("window.npy")))
print(json.dumps({{"outputs": sorted(out), "p": out["probabilities"].numpy().tolist(),
                  "seg": out["segmentation"].numpy().tolist(),
                  "shape": sig.structured_input_signature[1]["volume"].shape.as_list()}}))
"""
    run = run_without_project(script, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    served = json.loads(run.stdout.strip().splitlines()[-1])
    assert served["outputs"] == ["probabilities", "segmentation"]
    assert served["shape"] == [None, 16, 16, 16, 1]
    keras_p = model.predict_on_batch(window)
    np.testing.assert_allclose(served["p"], keras_p, atol=1e-5)
    np.testing.assert_array_equal(served["seg"], keras_p.argmax(-1))


PERMUTED_LPS = np.array([[0, -1.0, 0, 5], [0, 0, -1.0, 3], [1.0, 0, 0, -7], [0, 0, 0, 1]])


def threshold_export(root, settings=()):
    """A segment export of tests/fixed_models.threshold_segmenter (classes by intensity)."""
    import pipelines
    from fixed_models import threshold_segmenter
    from pipelines.core.config import override
    from serving import export

    cls = pipelines.get("segment")
    pipeline = cls(override(cls.Config(), SMALL + list(settings)))
    return export.export(threshold_segmenter(), pipeline, ["background", "organ", "lesion"], root)


def predict_segmentation(export, data, path):
    nib.save(nib.Nifti1Image(data, PERMUTED_LPS), str(path))
    result = CliRunner().invoke(cli.main, ["predict", str(export), str(path)])
    assert result.exit_code == 0, result.output
    written = nib.load(str(path).replace(".nii.gz", "_seg.nii.gz"))
    assert written.shape == data.shape and np.allclose(written.affine, PERMUTED_LPS)
    return np.asarray(written.dataobj)


def test_segmentation_is_mapped_back_voxel_for_voxel_on_a_permuted_lps_scan(tmp_path):
    """A voxel-wise model with fixed weights: the expected mask is the thresholded scan itself,
    in the file's own axis order, whatever the tiling into 16^3 windows and the reorientation."""
    from fixed_models import thresholds

    export = threshold_export(tmp_path / "saved")
    data = np.random.default_rng(4).normal(80, 30, (20, 23, 18)).astype(np.float32)
    segmentation = predict_segmentation(export, data, tmp_path / "scan.nii.gz")
    expected = thresholds(data)
    assert len(np.unique(expected)) == 3
    np.testing.assert_array_equal(segmentation, expected)


def test_segmentation_with_target_spacing_comes_back_on_the_scan_grid(tmp_path):
    """target_spacing=2 on a 1 mm scan made of 2x2 columns along the file's last axis: the model
    sees one voxel per column (linear resampling of a constant block is its value), and the mask
    goes back to 1 mm with every voxel labelled as its column. The probabilities are nearly
    one-hot, and a voxel's own column weighs 0.75^2 > 1/2 in the bilinear upsampling, so the
    expected mask is the thresholded scan. (In 3D blocks a corner voxel's own block weighs only
    0.75^3 < 1/2.)"""
    from fixed_models import thresholds

    export = threshold_export(tmp_path / "saved", ["target_spacing=2"])
    blocks = np.random.default_rng(5).choice([20.0, 75.0, 130.0], (10, 12)).astype(np.float32)
    data = np.repeat(blocks.repeat(2, 0).repeat(2, 1)[..., None], 18, 2)  # (20, 24, 18) at 1 mm
    segmentation = predict_segmentation(export, data, tmp_path / "scan.nii.gz")
    np.testing.assert_array_equal(segmentation, thresholds(data))


def test_metrics_are_the_dice_of_the_saved_model_on_the_test_cases(trained, monkeypatch):
    """Whole-volume Dice recomputed with NumPy from model.keras's windows on the test cases."""
    from pipelines.core import runs

    monkeypatch.setenv("CNN_SUITE_DATA", str(trained.data_cache))
    metrics = json.loads((trained.run_dir / "metrics.json").read_text())
    record = runs.read_record(trained.run_dir)
    pipeline = runs.pipeline_from_record(record)
    model = trained.keras_model()
    per_case = []
    for packed in runs.splits_of(pipeline, record).test.inputs:
        image, label = packed[..., 0], packed[..., 1].astype(int)
        predicted = sliding_window.predict_volume(model.predict_on_batch, image, (16, 16, 16)).argmax(-1)
        scores = []
        for k in range(3):
            both = (label == k).sum() + (predicted == k).sum()
            scores.append(1.0 if both == 0 else 2 * ((label == k) & (predicted == k)).sum() / both)
        per_case.append(scores)
    per_case = np.array(per_case)
    np.testing.assert_allclose(metrics["per_case_dice"], per_case, atol=1e-5)
    assert metrics["dice_organ"] == pytest.approx(per_case[:, 1].mean(), abs=1e-6)
    assert metrics["dice_lesion"] == pytest.approx(per_case[:, 2].mean(), abs=1e-6)
    assert metrics["mean_dice"] == pytest.approx(per_case[:, 1:].mean(), abs=1e-6)


def test_bad_pairs_are_one_line_errors(tmp_path):
    for folder in ("imagesTr", "labelsTr"):
        (tmp_path / "task" / folder).mkdir(parents=True)

    def write(folder, name, data, affine=np.eye(4)):
        nib.save(nib.Nifti1Image(data, affine), str(tmp_path / "task" / folder / name))

    write("imagesTr", "a.nii.gz", np.zeros((6, 6, 6), np.float32))
    write("labelsTr", "a.nii.gz", np.zeros((6, 6, 5), np.uint8))
    (tmp_path / "task" / "dataset.json").write_text(json.dumps({"labels": {"0": "bg", "1": "x"}}))
    args = lambda i: ["train", "segment", "--run-dir", str(tmp_path / f"r{i}"),  # noqa: E731
                      "--data", str(tmp_path / "task")]
    assert "labelsTr/a.nii.gz: label shape (6, 6, 5) differs from image" in one_line_error(args(0))
    write("labelsTr", "a.nii.gz", np.zeros((6, 6, 6), np.uint8), np.diag([2.0, 1, 1, 1]))
    assert "labelsTr/a.nii.gz: label affine differs" in one_line_error(args(1))
    write("labelsTr", "a.nii.gz", np.full((6, 6, 6), 3, np.uint8))
    assert "label value(s) 3 outside the declared classes 0..1" in one_line_error(args(2))
    (tmp_path / "task" / "labelsTr" / "a.nii.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    assert "labelsTr/a.nii.gz: corrupt or truncated gzip" in one_line_error(args(3))


def test_learning_rate_schedule_spans_every_crop_of_the_run():
    import pipelines

    cls = pipelines.get("segment")
    pipeline = cls(cls.Config(epochs=3, crops_per_volume=2, shape=(16, 16, 16)))
    optimizer = pipeline.optimizer(steps_per_epoch=10)  # the framework's ceil(cases / batch)
    base = pipeline.config.learning_rate
    for step, expected in [(0, base), (30, base / 2), (59, base * 0.5 * (1 + np.cos(np.pi * 59 / 60)))]:
        optimizer.iterations.assign(step)  # 10 steps x 2 crops x 3 epochs = 60 steps in all
        assert float(optimizer.learning_rate) == pytest.approx(expected, rel=1e-4)
