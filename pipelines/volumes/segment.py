"""segment: 3D segmentation (NIfTI image/label pairs) with a 3D U-Net on our layers.

Data (SOURCE): `bundled` (generated phantoms: organ 1, lesion 2, MSD layout), a Medical
Segmentation Decathlon task folder (`imagesTr/`, `labelsTr/`, optional `dataset.json`), or a CSV
`image,label[,split]`. Every pair is read up front (datasets/volumes.py): reoriented to RAS,
optionally resampled to `target_spacing` (labels by nearest neighbour), checked for equal shape
and affine and for label values inside the declared classes (`dataset.json` labels, or
`class_names`). Pairs are held in memory as one (D, H, W, 2) array each, image and label
stacked, so that crops and flips move them together; the case-level label of the framework's
`Examples` is unused (0) and the hold-out is a seeded random `test_fraction` of the cases.

Training: volumes of any shape are padded (image with its minimum, label with background) to at
least `shape`, and each step takes a random `shape` crop, centred on a foreground voxel with
probability `foreground_fraction`, with random flips along `flip_axes`; intensity jitter after
normalisation (model layer, training only). Loss: cross-entropy + soft Dice.

Evaluation covers whole volumes: overlapping `shape` windows (pipelines/volumes/inference.py),
probabilities averaged, argmax; metrics.json has `dice_<class>` per foreground class and
`mean_dice`, averaged over the test cases.

Served model: `volume` float32 [batch, D, H, W, 1] with D, H, W = `shape` (one window; fixed,
our layers need static sizes), raw intensities; normalisation inside the graph; outputs
`probabilities` [batch, D, H, W, K] and `segmentation` int32 [batch, D, H, W]. `cnn predict
MODEL scan.nii.gz` tiles the whole scan with the export and writes `scan_seg.nii.gz` on the
input's own grid, orientation, affine and header.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

import networks
from datasets import volumes
from datasets.formats import decathlon, nifti
from datasets.synthetic import phantoms
from pipelines import register
from pipelines.core.config import BaseConfig
from pipelines.core.search_space import Between, Choice
from pipelines.core.settings import fraction, own_check, positive, unit
from pipelines.volumes.classify import VolumePipeline


@dataclasses.dataclass
class SegmentConfig(networks.ChosenNetwork, BaseConfig):
    NETWORKS = networks.Choice("segment", ("segmentation",))

    epochs: int = 10  # x crops_per_volume crops of every case (Hippocampus: mean Dice 0.88)
    batch_size: int = 2
    learning_rate: float = 2e-3
    network: str = "unet3d"
    shape: tuple[int, ...] = own_check((32, 32, 32))  # training crop = served window D, H, W
    target_spacing: tuple[float, ...] = own_check(())  # mm per voxel after loading; () keeps the file's
    normalization: str = "zscore"  # zscore (per window), window (CT) or dataset
    window: tuple[float, ...] = (40.0, 400.0)
    intensity: tuple[float, ...] = ()  # the training voxels' mean, std (normalization=dataset)
    class_names: tuple[str, ...] = ()  # declares the classes when the source does not
    base_filters: int = positive(16)
    depth: int = 3  # down-sampling steps; shape must be divisible by 2**depth
    dice_weight: float = 1.0
    foreground_fraction: float = unit(0.5)  # crops centred on a labelled voxel
    crops_per_volume: int = positive(2)  # random crops of each training case per epoch
    flip_axes: tuple[int, ...] = own_check((0,))  # RAS axes flipped at random (0 = left-right)
    jitter_scale: float = 0.1
    jitter_shift: float = 0.1
    overlap: float = fraction(0.5)  # sliding-window overlap for whole-volume evaluation and predict
    weight_decay: float = 1e-5
    bundled_count: int = positive(24)


@register
class Segment(VolumePipeline):
    name = "segment"
    summary = "3D segmentation of NIfTI volumes with a 3D U-Net (Dice + cross-entropy)"
    sources = ("bundled (generated NIfTI phantoms, MSD layout), Medical Segmentation Decathlon "
               "folder (imagesTr/labelsTr[/dataset.json]), CSV image,label[,split]")
    Config = SegmentConfig
    search_space = (Between("learning_rate", 5e-4, 5e-3, log=True), Choice("batch_size", (2, 4)),
                    Choice("base_filters", (8, 16, 32)), Between("foreground_fraction", 0.3, 0.7, step=0.1))
    networks = networks.ChoiceNames()
    keras_modules = ("pipelines.volumes.transforms", "pipelines.volumes.losses")
    fingerprint_class_counts = "voxels"

    def __init__(self, config=None):
        super().__init__(config)
        if any(size % 2 ** self.config.depth for size in self.shape):
            raise ValueError(f"shape {self.shape} must be divisible by 2**depth = {2 ** self.config.depth}")

    @property
    def crops_per_case(self):
        """The framework counts one step per `batch_size` cases; an epoch here has
        `crops_per_volume` crops of each case (the cosine schedule must span them all)."""
        return max(1, int(self.config.crops_per_volume))

    def fingerprint_example(self, example, measurements):
        """The image's statistics (VolumePipeline), the label map's values and its foreground
        fraction (voxels labelled other than 0)."""
        example = np.asarray(example)  # (D, H, W, 2): image, label
        super().fingerprint_example(example[..., 0], measurements)
        measurements.values("label_values", example[..., 1])
        measurements.numbers("foreground_fraction", np.mean(example[..., 1] > 0))
        measurements.counts("voxels", example[..., 1])

    # ------------------------------------------------------------------ data
    def bundled(self):
        folder = phantoms.write_segmentation(count=self.config.bundled_count, seed=0)
        pairs = decathlon.read_source(folder, self.config.class_names or None)
        return volumes.segmentation_pairs(pairs, self.spacing, str(folder))

    def read_path(self, path):
        path = str(path)
        if os.path.isdir(path) and not decathlon.is_decathlon(path):
            raise nifti.VolumeError(f"{path}: expected an MSD folder with imagesTr/ and labelsTr/")
        pairs = decathlon.read_source(path, self.config.class_names or None)
        return volumes.segmentation_pairs(pairs, self.spacing, path)

    def input_dataset(self, examples, batch_size, training=False, seed=0):
        """(image (B, *shape, 1) float32, labels (B, *shape) int32) batches.

        Training: cached padded volumes, `crops_per_volume` random (foreground-biased) crops of
        each per epoch, flips. Otherwise: the centre crop of each case (validation loss only;
        the reported metrics come from whole volumes, see `predict_examples`).
        """
        import tensorflow as tf

        from pipelines.volumes import transforms as vl

        shape, autotune = self.shape, tf.data.AUTOTUNE

        def padded(x, _):
            image, label = x[..., 0], x[..., 1]
            image = vl.pad_to_at_least(image, shape, tf.reduce_min(image))
            return tf.stack([image, vl.pad_to_at_least(label, shape, 0.0)], axis=-1)  # (D, H, W, 2)

        data = examples.dataset().map(padded, num_parallel_calls=autotune).cache()
        if training:
            data = data.repeat(max(1, int(self.config.crops_per_volume)))
            data = data.shuffle(len(examples) * max(1, int(self.config.crops_per_volume)),
                                seed=seed, reshuffle_each_iteration=True)
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

            def crop(x, pair):
                start = vl.foreground_crop_start(x[..., 1], shape, pair, self.config.foreground_fraction)
                x = vl.random_crop_at(x, shape, start)
                return vl.random_flip(x, pair + 3, tuple(self.config.flip_axes))

            data = tf.data.Dataset.zip((data, seeds)).map(crop, num_parallel_calls=autotune)
        else:
            data = data.map(lambda x: vl.center_fit(x, shape, 0.0), num_parallel_calls=autotune)

        def split(x):
            x = tf.ensure_shape(x, (*shape, 2))
            return x[..., :1], tf.cast(tf.round(x[..., 1]), tf.int32)

        return data.map(split, num_parallel_calls=autotune).batch(batch_size).prefetch(autotune)

    # ----------------------------------------------------------------- model
    def network(self, x, num_classes):
        return networks.create(self.config.network, x, num_classes=num_classes,
                               base_filters=self.config.base_filters, depth=self.config.depth)

    def loss(self, num_classes):
        from pipelines.volumes.losses import DiceCrossEntropy

        return DiceCrossEntropy(num_classes, self.config.dice_weight)

    def metrics(self, num_classes):
        from pipelines.volumes.losses import MeanDice

        return [MeanDice(num_classes)]

    attack_metric = "mean_dice"  # `cnn attack` (on each case's centre window)

    def held_batches(self, examples, batch_size):
        """Each case's centre window (the served input has the model's fixed shape) and its labels."""
        for x, y in self.input_dataset(examples, batch_size):
            yield np.asarray(x), np.asarray(y)

    # ------------------------------------------------------------ evaluation
    def predict_examples(self, predict_batch, examples, batch_size):
        """Whole-volume (labels [(D, H, W)], probabilities [(D, H, W, K)]) of every case."""
        from pipelines.volumes.inference import predict_volume

        labels, probabilities = [], []
        for packed in examples.inputs:
            image, label = packed[..., 0], packed[..., 1].astype(np.int64)
            probs = predict_volume(predict_batch, image, self.shape, self.config.overlap, batch_size)
            labels.append(label)
            probabilities.append(probs)
        return labels, probabilities

    def report(self, labels, probabilities, class_names):
        """`dice_<class>` per foreground class and `mean_dice` (mean over cases), per case too."""
        from pipelines.volumes.losses import dice_scores

        count = len(class_names)
        per_case = np.stack([
            dice_scores(label, np.asarray(p).argmax(-1), count) for label, p in zip(labels, probabilities)
        ])  # (cases, K)
        report = {f"dice_{name}": float(per_case[:, i].mean()) for i, name in enumerate(class_names) if i}
        report["mean_dice"] = float(per_case[:, 1:].mean()) if count > 1 else float(per_case.mean())
        report["dice_background"] = float(per_case[:, 0].mean())
        report["per_case_dice"] = per_case.round(5).tolist()
        report["class_names"] = list(class_names)
        report["examples"] = len(labels)
        return report

    # --------------------------------------------------------------- serving
    def serving_outputs(self, probabilities, labels_of):
        import tensorflow as tf

        segmentation = tf.argmax(probabilities, axis=-1, output_type=tf.int32)  # (B, D, H, W)
        return {"probabilities": probabilities, "segmentation": segmentation}

    def predict_file(self, path, serve):
        """Segment a whole NIfTI scan; write `<name>_seg.nii.gz` next to it on its own grid.

        `serve(batch)` runs the export's serving_default on (B, *shape, 1) windows."""
        from pipelines.volumes.inference import predict_volume

        volume = nifti.load_volume(path, self.spacing)  # (D, H, W) RAS, resampled
        probabilities = predict_volume(lambda batch: serve(batch)["probabilities"], volume.data,
                                       self.shape, self.config.overlap)
        # probabilities go back to the file's grid (linear), then argmax: smoother than
        # resampling labels, and exact when nothing was resampled
        original = nifti.to_original(probabilities, volume.geometry, order=1)  # (X, Y, Z, K)
        segmentation = original.argmax(-1).astype(np.uint8)
        output = seg_path(path)
        nifti.save_like(segmentation, volume.geometry, output)
        counts = np.bincount(segmentation.ravel(), minlength=original.shape[-1])
        summary = " ".join(f"{i}:{int(c)}" for i, c in enumerate(counts))
        return f"{path}\t{output}\tvoxels per class {summary}"


    # ---------------------------------------------------------- explanations
    def explain_targets(self, probabilities, class_names):
        """One map per class."""
        return list(range(len(class_names)))


def seg_path(path):
    """scan.nii.gz -> scan_seg.nii.gz (and scan.nii -> scan_seg.nii), in the same folder."""
    path = str(path)
    for suffix in (".nii.gz", ".nii"):
        if path.lower().endswith(suffix):
            return path[: -len(suffix)] + "_seg" + path[-len(suffix):]
    return path + "_seg.nii.gz"
