"""volumes: 3D volume classification (NIfTI or MedMNIST 3D) with a 3D CNN on our layers.

Data (SOURCE): `bundled` (generated phantoms with/without a lesion, written as NIfTI with a
manifest), class folders `<root>/[train|val|test/]<class>/*.nii.gz`, a CSV manifest `image,label[,split]` of .nii/.nii.gz files (paths relative to the
CSV; `filename` is accepted for `image`), or a MedMNIST 3D `.npz` (`train_images`,
`train_labels`, `val_*`, `test_*`). NIfTI files are reoriented to RAS and optionally resampled
to `target_spacing` when read (datasets/volumes.py), then kept in memory: 3D sets are small, and
decoding NIfTI needs nibabel, which tf.data graphs cannot call.

Training input: each volume is centre padded (with its minimum intensity) or cropped to `shape`;
augmentation in training only: random flips along `flip_axes`, rotations of up to
`max_rotation` degrees in each axis plane, shifts of up to `max_shift` voxels, and intensity
jitter after normalisation (a model layer, inactive in inference). For binary-mask inputs,
`mask_depth` adds a channel computed in the model: each mask voxel's depth inside the shape.
`--set tta_flips=true` adds test-time augmentation: in evaluation and in the export, the logits
are averaged over all 2^k flips of `flip_axes` (k <= 3: at most 8 passes per volume).

Served model: `volume` float32 [batch, D, H, W, 1] with D, H, W = `shape` (fixed: our layers
need static sizes), raw intensities on the RAS grid at `target_spacing`; normalisation (z-score
per volume or a CT window) is inside the graph. Outputs `probabilities`, `class_id`, `label`.
`cnn predict MODEL scan.nii.gz` reads, reorients, resamples and fits the file as training did.
"""
from __future__ import annotations

import dataclasses

import numpy as np

import networks
from datasets import volumes
from datasets.formats import medmnist, nifti
from datasets.synthetic import phantoms
from pipelines import register
from pipelines.core.base import Pipeline
from pipelines.core.config import BaseConfig
from pipelines.core.search_space import Between, Choice
from pipelines.core.settings import fraction, own_check, positive


@dataclasses.dataclass
class VolumesConfig(networks.ChosenNetwork, BaseConfig):
    NETWORKS = networks.Choice("volumes", ("volume",))

    epochs: int = 40
    batch_size: int = 16
    learning_rate: float = 1e-3
    network: str = "cnn3d"
    shape: tuple[int, ...] = own_check((32, 32, 32))  # network input D, H, W (voxels)
    target_spacing: tuple[float, ...] = own_check(())  # mm per voxel after loading; () keeps the file's
    normalization: str = "zscore"  # zscore (per volume), window (CT, Hounsfield units) or dataset
    window: tuple[float, ...] = (40.0, 400.0)  # CT window centre, width (normalization=window)
    intensity: tuple[float, ...] = ()  # the training voxels' mean, std (normalization=dataset)
    filters: tuple[int, ...] = positive((16, 32, 64))  # per resolution level
    pooling: str = "avg+max"  # global pooling: avg, max or avg+max
    dropout: float = fraction(0.3)
    flip_axes: tuple[int, ...] = own_check((0,))  # RAS axes flipped at random in training (0 = left-right)
    max_shift: int = 2  # voxels
    max_rotation: float = own_check(0.0)  # degrees, training only: a random angle in each axis plane
    jitter_scale: float = 0.1  # intensity jitter after normalisation, training only
    jitter_shift: float = 0.1
    weight_decay: float = 1e-4
    tta_flips: bool = False  # inference averages the logits over all flips of flip_axes
    # > 0: a second channel, the erosions (up to this many) each voxel survives, where the
    # normalised volume > 0.5 is the mask: for 0/1 or 0/255 masks with a window or no normalisation
    mask_depth: int = own_check(0)
    bundled_count: int = positive(96)  # phantoms generated for `bundled`


def check_shape(shape, name="shape"):
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"{name} must be three positive sizes D,H,W, got {tuple(shape)}")
    return tuple(int(s) for s in shape)


def spacing_of(config):
    """The configured target spacing (3,) in mm, or None to keep the files' voxels."""
    spacing = tuple(float(s) for s in config.target_spacing)
    if not spacing:
        return None
    if len(spacing) == 1:
        spacing = spacing * 3
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"target_spacing must be one or three positive sizes in mm, got {spacing}")
    return spacing


class VolumePipeline(Pipeline):
    """What the 3D pipelines share: a `volume` input of the config's shape, intensity
    normalisation (and training-only jitter) inside the model, AdamW with cosine decay."""

    input_name = "volume"
    file_extensions = nifti.NIFTI_SUFFIXES
    keras_modules = ("pipelines.volumes.transforms",)
    crops_per_case = 1  # optimizer steps per case and epoch, relative to the framework's count

    def __init__(self, config=None):
        super().__init__(config)
        self.shape = check_shape(self.config.shape)
        self.spacing = spacing_of(self.config)
        if any(axis not in (0, 1, 2) for axis in self.config.flip_axes):
            raise ValueError(f"flip_axes must be among 0, 1, 2, got {self.config.flip_axes}")
        if self.config.normalization == "dataset" and not (
                len(self.config.intensity) == 2 and self.config.intensity[1] > 0):
            raise ValueError(f"normalization=dataset needs intensity=MEAN,STD with STD > 0 (the training voxels': "
                             f"`cnn fingerprint` reports them as its intensity mean and std), "
                             f"got {tuple(self.config.intensity)}")

    def check_file(self, path):
        nifti.read_image(path)

    def input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec((*self.shape, 1), tf.float32)

    def preprocess(self, x):
        return self.jitter(self.normalize(x))

    def normalize(self, x):
        from pipelines.volumes.transforms import IntensityNormalization

        return IntensityNormalization(self.config.normalization, tuple(self.config.window),
                                      intensity=tuple(self.config.intensity) or (0.0, 1.0), name="normalize")(x)

    def jitter(self, x):
        from pipelines.volumes.transforms import IntensityJitter

        return IntensityJitter(self.config.jitter_scale, self.config.jitter_shift, seed=self.config.seed,
                               name="intensity_jitter")(x)

    def input_range(self):
        """Raw intensities: with `normalization=window` (CT) Hounsfield units, -1024..3071 (12-bit
        CT); otherwise each volume's own minimum..maximum (MRI and masks have no fixed scale)."""
        if self.config.normalization == "window":
            return -1024.0, 3071.0
        return None, None

    def write_example(self, example, stem):
        """A NIfTI file (float32, identity affine: the model's voxel grid)."""
        import gzip

        import nibabel

        from pipelines.core import files

        volume = nibabel.Nifti1Image(np.asarray(example, np.float32)[..., 0], np.eye(4))
        data = gzip.compress(volume.to_bytes())
        return files.atomic_write(f"{stem}.nii.gz", lambda temporary: temporary.write_bytes(data))

    def optimizer(self, steps_per_epoch):
        import keras

        steps = max(1, steps_per_epoch * self.crops_per_case * self.config.epochs)
        schedule = keras.optimizers.schedules.CosineDecay(self.config.learning_rate, decay_steps=steps)
        return keras.optimizers.AdamW(schedule, weight_decay=self.config.weight_decay)

    # ------------------------------------------------------------ fingerprint
    def fingerprint_example(self, example, measurements):
        """Shape (as loaded: RAS, at target_spacing if set), intensities, and the set of values
        (binary masks and integer label maps show themselves there)."""
        volume = np.asarray(example)
        volume = volume[..., 0] if volume.ndim == 4 else volume
        measurements.category("shape", volume.shape)
        measurements.numbers("intensity", volume)
        measurements.values("values", volume)

    def fingerprint_file(self, path, measurements):
        """The file's own spacing and voxel counts along the RAS axes (x, y, z: the loaded
        array's axes 0, 1, 2), its anisotropy (largest / smallest spacing) and orientation."""
        spacing, voxels, orientation = nifti.stored_grid(path)
        for axis, size, count in zip("xyz", spacing, voxels):
            measurements.numbers(f"file_spacing_{axis}", size)
            measurements.numbers(f"file_voxels_{axis}", count)
        measurements.category("file_spacing", tuple(f"{size:.3g}" for size in spacing))
        measurements.numbers("file_anisotropy", max(spacing) / min(spacing))
        measurements.category("file_orientation", orientation)

    # ---------------------------------------------------------- explanations
    def explain_input(self, path):
        """The scan fitted to `shape` (reoriented, resampled, centre padded or cropped), with
        what is needed to put a map back onto the file's own grid."""
        if not nifti.is_nifti(path):
            raise nifti.VolumeError(f"{path}: expected a .nii or .nii.gz file")
        volume = nifti.load_volume(path, self.spacing)  # (D, H, W) RAS
        fitted, placement = nifti.fit_to_shape(volume.data, self.shape, value=volume.data.min())
        return fitted[..., None].astype(np.float32), (volume, placement)

    def render_explanation(self, path, example, context, maps, prefix, model=None):
        """Per class: the map as a NIfTI with the scan's affine and header (it opens over the
        scan in 3D Slicer or ITK-SNAP) and as .npy on the file's grid, and a PNG montage of
        slices. Without the scan (`context` None) the map stays on the network's grid."""
        from pipelines.core import render

        rendering = render.Rendering()
        for label, map_ in maps.items():
            stem = f"{prefix}_{render.safe_name(label)}"
            map_ = np.asarray(map_, np.float32)  # (*shape): the network's window
            rendering.files.append(render.montage_png(f"{stem}.png", example[..., 0], map_, f"{path}: {label}"))
            if context is None:
                rendering.files.append(render.save_npy(f"{stem}.npy", map_))
                continue
            volume, (pad_before, offsets) = context
            padded = np.zeros([s + 2 * p + 1 for s, p in zip(volume.data.shape, pad_before)], np.float32)
            padded[tuple(slice(o, o + w) for o, w in zip(offsets, self.shape))] = map_
            on_grid = padded[tuple(slice(p, p + s) for p, s in zip(pad_before, volume.data.shape))]
            original = np.maximum(nifti.to_original(on_grid, volume.geometry, order=1), 0.0)
            rendering.files.append(render.save_npy(f"{stem}.npy", original))
            rendering.files.append(render.atomic_nifti(f"{stem}.nii.gz", original, volume.geometry))
        return rendering


@register
class Volumes(VolumePipeline):
    name = "volumes"
    summary = "3D volume classification (NIfTI, MedMNIST 3D) with a 3D CNN"
    sources = ("bundled (generated NIfTI phantoms, lesion vs healthy), class folders of "
               ".nii/.nii.gz, CSV manifest "
               "image,label[,split] of .nii/.nii.gz, MedMNIST 3D .npz")
    Config = VolumesConfig
    search_space = (Between("learning_rate", 3e-4, 3e-3, log=True), Choice("batch_size", (8, 16, 32)),
                    Between("dropout", 0.1, 0.5, step=0.1), Choice("filters", ("8,16,32", "16,32,64", "32,64,128")),
                    Between("weight_decay", 1e-5, 1e-3, log=True))
    networks = networks.ChoiceNames()

    def __init__(self, config=None):
        super().__init__(config)
        if not 0 <= self.config.max_rotation < 180:
            raise ValueError(f"max_rotation must be in [0, 180) degrees, got {self.config.max_rotation}")
        if self.config.mask_depth < 0:
            raise ValueError(f"mask_depth must be 0 (off) or a number of erosions, got {self.config.mask_depth}")

    # ------------------------------------------------------------------ data
    def bundled(self):
        manifest = phantoms.write_classification(count=self.config.bundled_count, seed=0)
        return volumes.nifti_manifest(manifest, self.spacing)

    def read_path(self, path):
        path = str(path)
        if path.lower().endswith(".csv"):
            return volumes.nifti_manifest(path, self.spacing)
        if path.lower().endswith(".npz") and medmnist.is_medmnist_npz(path):
            return volumes.medmnist_source(path)
        folders = volumes.nifti_class_folders(path, self.spacing)
        if folders is not None:
            return folders
        if nifti.is_nifti(path):
            raise nifti.VolumeError(f"{path}: a single volume is not a data set; list volumes in a CSV image,label")
        return None

    def conform(self, x):
        """(D, H, W) any size and dtype -> (*shape, 1) float32, centre padded/cropped."""
        import tensorflow as tf

        from pipelines.volumes.transforms import center_fit

        x = tf.cast(x, tf.float32)
        return center_fit(x, self.shape, tf.reduce_min(x))[..., None]

    def augment(self, x, seed):
        import tensorflow as tf

        from pipelines.volumes.transforms import random_flip, random_rotate, random_shift

        background = tf.reduce_min(x)  # what rotations and shifts bring in from outside
        x = random_flip(x, seed, tuple(self.config.flip_axes))
        x = random_rotate(x, seed + 5, float(self.config.max_rotation), background)
        return random_shift(x, seed + 7, int(self.config.max_shift), background)

    # ----------------------------------------------------------------- model
    def preprocess(self, x):
        """Normalised (and, in training, jittered) intensities (N, D, H, W, 1), plus the mask
        depth channel of the normalised volume when `mask_depth` > 0 (N, D, H, W, 2)."""
        import keras

        from pipelines.volumes.transforms import MaskDepth

        normalized = self.normalize(x)
        x = self.jitter(normalized)
        if self.config.mask_depth <= 0:
            return x
        depth = MaskDepth(self.config.mask_depth, name="mask_depth")(normalized)
        return keras.layers.Concatenate(name="with_mask_depth")([x, depth])

    def network(self, x, num_classes):
        import keras

        from pipelines.volumes.transforms import FlipAveraged

        def body(inputs):
            return networks.create(self.config.network, inputs, num_classes=num_classes,
                                   filters=tuple(self.config.filters), dropout=self.config.dropout,
                                   pooling=self.config.pooling)

        if not (self.config.tta_flips and self.config.flip_axes):
            return body(x)
        inputs = keras.Input(x.shape[1:], name="network_input")
        network = keras.Model(inputs, body(inputs), name=self.config.network)
        return FlipAveraged(network, tuple(self.config.flip_axes), name="flip_averaged")(x)

    def report(self, labels, probabilities, class_names):
        """Accuracy, loss, AUC (binary), and one-vs-rest `auc_<class>` for more classes."""
        from sklearn.metrics import roc_auc_score

        from pipelines.core import scoring

        report = scoring.classification_report(labels, probabilities, class_names)
        labels = np.asarray(labels)
        if len(class_names) > 2:
            for index, name in enumerate(class_names):
                positive = labels == index
                if 0 < positive.sum() < len(labels):
                    report[f"auc_{name}"] = float(roc_auc_score(positive, probabilities[:, index]))
        return report

    # --------------------------------------------------------------- predict
    def read_file(self, path):
        """(*shape, 1) float32 raw intensities of a NIfTI file, fitted as in training."""
        if not nifti.is_nifti(path):
            raise nifti.VolumeError(f"{path}: expected a .nii or .nii.gz file")
        volume = nifti.load_volume(path, self.spacing).data  # (D, H, W) RAS
        fitted, _ = nifti.fit_to_shape(volume, self.shape, value=volume.min())
        return fitted[..., None].astype(np.float32)
