"""The `Pipeline` base class: what a domain pipeline says, and nothing the framework does for it.

How a new pipeline plugs in
===========================
Write a module `pipelines/<domain>/pipeline.py` and name it in `pipelines.MODULES` (a pipeline
of your own registers itself when its module is imported):

    import dataclasses
    from pipelines import register
    from pipelines.core.base import Pipeline
    from pipelines.core import settings
from pipelines.core.config import BaseConfig

    @dataclasses.dataclass
    class SpeechConfig(BaseConfig):            # practitioner's defaults; `--set key=value`
        epochs: int = 20
        network: str = "dscnn"                 # overridable like every field
        sample_rate: int = 8000

    @register
    class Speech(Pipeline):
        name = "speech"                        # `cnn train speech`
        summary = "spoken digits (FSDD) ..."   # one line for `cnn pipelines`
        sources = "bundled, tfds:spoken_digit, folders of .wav, ..."  # for `cnn pipelines`
        Config = SpeechConfig
        input_name = "waveform"                # serving input key: image, waveform, text, volume
        file_extensions = (".wav",)            # files that folder / CSV sources accept
        source_options = ("label_pattern",)    # fields `cnn evaluate --set` may change

        # ---- data (return `datasets.examples` objects; see pipelines/core/sources.py) ----
        def bundled(self): ...                 # -> SourceData; the offline default source
        def read_source(self, source, data_dir): ...  # optional: claim any SOURCE string first
        def read_path(self, path): ...         # optional: domain formats (IDX, .npz keys...)
        def check_file(self, path): ...        # raise ValueError naming a bad file
        def check_arrays(self, inputs, origin): ...  # optional: refuse unusable .npz arrays
        def decode_file(self, path): ...       # tf ops: path tensor -> example tensor
        def conform(self, x): ...              # tf ops: any example -> fixed training shape/dtype
        def augment(self, x, seed): ...        # tf ops on ONE example; training only
        def input_dataset(self, examples, batch_size, training, seed): ...  # optional: own tf.data
                                               # (targets other than one class per example)

        # ---- model (Keras; convolution/pooling only from our `layers`) ----
        def input_spec(self): ...              # tf.TensorSpec of ONE served example (None dims ok)
        def preprocess(self, x): ...           # Keras ops in the model: resize, scale, features
        def network(self, x, num_classes): ... # x (preprocessed KerasTensor) -> logits
        def optimizer(self, steps_per_epoch): ...

        # ---- optional ----
        def decode_bytes(self, data): ...      # tf ops: encoded file (scalar string) -> example;
                                               # adds a `<input_name>_bytes` serving signature
        def encode_bytes(self, example): ...   # its inverse (NumPy -> bytes), for warmup records
        def fingerprint_example(self, example, measurements): ...  # domain statistics (`cnn fingerprint`)
        def fingerprint_file(self, path, measurements): ...  # what the file's header says (own rate, spacing)
        def plan_settings(self, fingerprint): ...  # [(key, value, reason)] from them (docs/PLANNING.md)
        search_space = (Between("learning_rate", 1e-4, 1e-2, log=True), ...)  # what `cnn tune` searches
        def adapt(self, train): ...            # fit in-model state (TextVectorization) before training
        def read_file(self, path): ...         # numpy example for `cnn predict` without a bytes signature
        predict_reads_like_training = False    # True: `cnn predict` uses read_file, not the bytes signature
        def input_range(self): ...             # (low, high) of the raw input for attacks and adversarial
                                               # training; None bound: each example's own; None: no
                                               # continuous input (text)
        def write_example(self, example, stem): ...  # one raw example as a file (PNG, WAV, NIfTI)
        input_step = 1.0                       # the change a written file resolves (8-bit pixels)
        def as_held(self, x): ...              # tf ops: an example as its file holds it (own size)
        explain_layer = "embedding"            # maps over this layer's output (default: the served input)
        def explain_input(self, path): ...     # (example, context) for `cnn explain`; default read_file
        def render_explanation(self, path, example, context, maps, prefix, model=None): ...
                                               # the maps in the domain's own form (+ .npy)

The framework (pipelines/core/: sources, scoring; pipelines/engine/: training; serving/: export;
analysis/: evaluation, report) then provides, for every pipeline: source parsing (`bundled`,
`tfds:NAME`, class folders, train/test folders, CSV manifests, .npz), the stratified seeded
hold-out, tf.data (parallel decode, cache, seeded shuffle, augmentation in training only,
prefetch), `fit` with checkpoints, BackupAndRestore (`--resume`), TensorBoard and CSV history,
mixed precision and XLA, the training extensions (pipelines/extensions: adversarial training,
transfer, EMA), the test report (metrics.json, confusion_matrix.png), and the versioned, atomic
SavedModel export with `serving_default` (`<input_name>` -> `probabilities`, `class_id`, `label`).

Tasks other than single-label classification (e.g. segmentation) override the task hooks:
`loss`, `metrics`, `head` (network output -> probabilities), `serving_outputs`
(probabilities -> named output tensors), `report` (labels, probabilities -> metrics.json dict)
and `write_prediction` (what `cnn predict` prints or writes for one file).

All tf hooks run in graphs (tf.data, export): core TensorFlow ops only, no `tf.py_function`,
no Python `if` on tensor values.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from pipelines import extensions
from pipelines.core import settings
from pipelines.core.config import BaseConfig
from pipelines.core.search_space import Between, Choice


class Pipeline:
    """A domain's data, preprocessing and network; subclass and `@pipelines.register`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    sources: ClassVar[str] = "bundled"
    Config: ClassVar[type] = BaseConfig
    input_name: ClassVar[str] = "input"
    file_extensions: ClassVar[tuple] = ()
    networks: ClassVar[tuple] = ()  # names accepted by `config.network`
    # Modules that register the pipeline's own Keras layers; imported before a model is loaded.
    keras_modules: ClassVar[tuple] = ()
    # Config fields that say how a SOURCE is read (file-name patterns, table columns), not what
    # the model is: `cnn evaluate --set` may change these, and no others, for its source.
    source_options: ClassVar[tuple] = ()
    # The plan that set some of the config from the data (pipelines/core/planning.py), for config.json.
    plan: dict | None = None
    # What `cnn tune` searches (pipelines/core/search_space.py; the table: docs/TUNING.md).
    search_space: ClassVar[tuple] = (Between("learning_rate", 1e-4, 1e-2, log=True),
                                     Choice("batch_size", (32, 64, 128)))

    def __init__(self, config=None):
        self.config = self.resolve_config(config if config is not None else self.Config())
        if self.networks and self.config.network not in self.networks:
            raise ValueError(
                f"unknown network '{self.config.network}' for {self.name} "
                f"(known: {', '.join(self.networks)})"
            )
        extensions.check_pipeline(self)  # what a run adds (adversarial training ...), before any data is read

    @classmethod
    def resolve_config(cls, config):
        """The config with the settings that follow from others filled in (e.g. the embedding
        size from a word-vector file), so the run records what was really built."""
        return config

    # ------------------------------------------------------------------ data
    def bundled(self):
        """The offline default source: a `datasets.examples.SourceData`."""
        raise ValueError(f"pipeline {self.name} has no bundled data")

    def read_source(self, source, data_dir=None):
        """A `SourceData` for a SOURCE string this pipeline reads itself, or None (the default).

        Asked first, for every SOURCE (`bundled`, `tfds:NAME`, paths): e.g. the audio pipeline
        resamples a TFDS set recorded at another sample rate, which `conform` cannot know.
        """
        return None

    def read_path(self, path):
        """A `SourceData` for a domain format at `path` (file or folder), or None if not one."""
        return None

    def check_file(self, path):
        """Raise ValueError naming `path` if it cannot be read; called for every file up front."""

    def check_arrays(self, inputs, origin):
        """Raise ValueError naming `origin` if arrays read from a file (an .npz) cannot be this
        pipeline's examples as they are (e.g. images as floats in [0, 1])."""

    def decode_file(self, path):
        """tf ops: a scalar string path -> one example (as `conform` expects)."""
        raise ValueError(f"pipeline {self.name} cannot read files")

    def conform(self, x):
        """tf ops: one example from any source -> the fixed shape and dtype used in training."""
        return x

    def augment(self, x, seed):
        """tf ops: a random variant of one conformed example, for training; `seed` is (2,) int."""
        return x

    def input_dataset(self, examples, batch_size, training=False, seed=0):
        """Batches of (model input, target) from `Examples`: the generic tf.data path
        (pipelines/core/data.py). Override when a target is not one class per example, e.g.
        segmentation crops image and label volumes together."""
        from pipelines.core import data

        return data.input_dataset(self, examples, batch_size, training, seed)

    # ----------------------------------------------------- fingerprint and plan
    def fingerprint_decode(self, path):
        """tf ops: a path -> one example as stored, for `cnn fingerprint` (default: `decode_file`;
        override where decoding already fits the example to the config, e.g. resizes images)."""
        return self.decode_file(path)

    def fingerprint_example(self, example, measurements):
        """Record the domain's statistics of one training example (NumPy, as read; before
        `conform`) in `measurements` (pipelines/core/fingerprint.py); the default records none."""

    # A `Measurements.counts` statistic that `cnn fingerprint` reports as the class counts instead of
    # the examples' labels (segmentation: "voxels", every case's label map's voxels per class).
    fingerprint_class_counts: ClassVar[str | None] = None

    def fingerprint_file(self, path, measurements):
        """Record what a training example's file says as stored, where reading changes it (an
        audio file's own sample rate, a volume's own spacing): called once per training example
        that came from a file; the default records none."""

    def plan_settings(self, fingerprint):
        """[(key, value, reason)]: the settings this domain derives from a fingerprint (rules and
        their evidence: docs/PLANNING.md); the default derives none."""
        return []

    # ----------------------------------------------------------------- model
    def input_spec(self):
        """`tf.TensorSpec` of one served example (without batch); None for free dimensions."""
        raise NotImplementedError

    def preprocess(self, x):
        """Keras ops from the served input to the network input (runs in training and serving)."""
        return x

    def network(self, x, num_classes):
        """The network body from the preprocessed KerasTensor to logits (num_classes)."""
        raise NotImplementedError

    def optimizer(self, steps_per_epoch):
        import keras

        return keras.optimizers.Adam(self.config.learning_rate)

    def adapt(self, train):
        """Fit in-model state on the training `tf.data.Dataset` of (example, label), if any."""

    def decode_bytes(self, data):
        """tf ops: one encoded file (scalar string) -> one served example, the same shape for all
        files (so a batch stacks); defining it adds the `<input_name>_bytes` signature."""
        raise NotImplementedError

    def encode_bytes(self, example):
        """One served example (NumPy) encoded as a client sends it to `<input_name>_bytes`: the
        inverse of `decode_bytes`, for the export's warmup records."""
        raise NotImplementedError(f"pipeline {self.name} defines decode_bytes but not encode_bytes")

    # `cnn predict` reads files with `read_file`, as training reads them, instead of sending their
    # bytes to the export (audio: any sample rate and channel count, resampled with librosa).
    predict_reads_like_training: ClassVar[bool] = False

    def read_file(self, path):
        """A NumPy example from a file, for `cnn predict` when the export has no bytes input."""
        raise ValueError(f"pipeline {self.name} cannot read {path}")

    # --------------------------------------------- attacks (pipelines/extensions/attacks.py)
    # The metric `cnn attack` reports per epsilon, from `report` (segmentation: mean_dice).
    attack_metric: ClassVar[str] = "accuracy"

    def input_range(self):
        """(low, high) of the served raw input, which attacks clip to and measure epsilon in; a
        None bound means each example's own minimum or maximum. None (the default): the input is
        not continuous (e.g. tokens), so there are no gradient attacks or adversarial training."""
        return None

    def write_example(self, example, stem):
        """Write one served example (NumPy) as the domain's file, at `stem` plus the domain's
        suffix; the path written."""
        raise ValueError(f"pipeline {self.name} cannot write examples")

    # The smallest change a file that `write_example` writes resolves, in served units (8-bit
    # pixels: 1; 16-bit PCM: 2**-15); None: the file holds floats. Attacks round their changes
    # toward zero onto it, so what is written is what was scored, within epsilon.
    input_step: ClassVar[float | None] = None

    def as_held(self, x):
        """tf ops: one example from any source -> the served input as its file holds it, at its
        own size (the model's in-graph preprocessing resizes it), for `cnn attack`; the
        default is `conform` (a served input of fixed shape)."""
        return self.conform(x)

    def held_batches(self, examples, batch_size):
        """NumPy (inputs, targets) batches of `examples` as their files hold them (`as_held`),
        each batch of one shape, for `cnn attack`. Override when a target is not one class per
        example (segmentation attacks its windows)."""
        from pipelines.core import data

        return data.held_batches(self, examples, batch_size)

    def read_back(self, example):
        """One served example (NumPy) as the model gets it from the file `write_example` wrote,
        read as `cnn predict` reads it: through the bytes signature's decoding when there is one."""
        import tensorflow as tf

        spec = self.input_spec()
        if not self.has_bytes_input():
            return tf.cast(example, spec.dtype)
        return tf.cast(self.decode_bytes(tf.constant(self.encode_bytes(example))), spec.dtype)

    # ------------------------------------------------------------------ task
    def head(self, logits):
        """Network output -> probabilities (float32, for mixed precision)."""
        import keras

        return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)

    def loss(self, num_classes):
        return "sparse_categorical_crossentropy"

    def metrics(self, num_classes):
        import keras

        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        return metrics

    def serving_outputs(self, probabilities, labels_of):
        """Named serving outputs from (batch, classes) probabilities; `labels_of(class_id)` gives
        the class name strings (a lookup table in the export)."""
        import tensorflow as tf

        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "class_id": class_id, "label": labels_of(class_id)}

    def predict_examples(self, predict_batch, examples, batch_size):
        """(labels, probabilities) of `examples` for `report`; `predict_batch` maps a batch of
        served inputs to probabilities (Keras model or export). Override to evaluate otherwise,
        e.g. segmentation predicts whole volumes window by window."""
        batches = self.input_dataset(examples, batch_size)
        probabilities = [np.asarray(predict_batch(x), np.float32) for x, _ in batches]
        return np.asarray(examples.labels), np.concatenate(probabilities)

    def report(self, labels, probabilities, class_names):
        """The test metrics (metrics.json) from labels (N,) and probabilities (N, classes)."""
        from pipelines.core import scoring

        return scoring.classification_report(labels, probabilities, class_names)

    def predict_file(self, path, serve):
        """The `cnn predict` line for one file through the export (no bytes input, or custom
        output); `serve(batch)` returns the serving outputs as NumPy arrays. Override to predict
        otherwise, e.g. segmentation tiles a whole scan and writes a file."""
        outputs = {key: value[0] for key, value in serve(self.read_file(path)[None]).items()}
        return self.write_prediction(path, outputs)

    def write_prediction(self, path, outputs):
        """One line for `cnn predict` from the serving outputs of one file (NumPy values)."""
        from pipelines.core import scoring

        return scoring.prediction_line(path, outputs["label"], outputs["probabilities"])

    # ---------------------------------------------------------- explanations
    # Maps (analysis/explanations) are over the output of `explain_layer` (None: the served
    # input; text: its embeddings, since strings have no gradient); its last axis is summed out
    # as channels when `explain_channels`.
    explain_layer: ClassVar[str | None] = None
    explain_channels: ClassVar[bool] = True

    def explain_input(self, path):
        """(one served example as NumPy, context for `render_explanation`) read from a file."""
        return self.read_file(path), None

    def explain_targets(self, probabilities, class_names):
        """The class indices to explain when the user names none: the predicted class (of the
        probabilities averaged over positions, for per-position outputs)."""
        return [int(np.asarray(probabilities).reshape(-1, len(class_names)).mean(axis=0).argmax())]

    def render_explanation(self, path, example, context, maps, prefix, model=None):
        """Write the maps ({class name: map at the features' resolution}) in the domain's natural
        form, each also as `<prefix>_<class>.npy`; a `render.Rendering` of what was written."""
        from pipelines.core import render

        return render.default(prefix, maps, f"{path}")

    # --------------------------------------------------------------- helpers
    def has_bytes_input(self):
        """Whether the export gets a `<input_name>_bytes` signature (`decode_bytes` is defined)."""
        return type(self).decode_bytes is not Pipeline.decode_bytes

    def own_prediction_output(self):
        """Whether `cnn predict` prints this pipeline's own line (`predict_file`, `write_prediction`)
        rather than classes and probabilities."""
        return (type(self).write_prediction is not Pipeline.write_prediction
                or type(self).predict_file is not Pipeline.predict_file)

    def custom_predict(self):
        """Whether `cnn predict` needs this pipeline's code: no bytes signature, its own output, or
        files read as training reads them."""
        return not self.has_bytes_input() or self.own_prediction_output() or self.predict_reads_like_training

    def build_model(self, num_classes):
        """The trained and served model: named input -> preprocess -> network -> head."""
        import keras

        spec = self.input_spec()
        inputs = keras.Input(shape=tuple(spec.shape), dtype=spec.dtype.name, name=self.input_name)
        logits = self.network(self.preprocess(inputs), num_classes)
        return keras.Model(inputs, self.head(logits), name=f"{self.name}_{self.config.network}")

    def describe(self):
        """Name, summary, sources and config defaults, for `cnn pipelines`."""
        return {
            "name": self.name,
            "summary": self.summary,
            "sources": self.sources,
            "input": self.input_name,
            "networks": list(self.networks),
            "defaults": settings.flat(self.Config(), applicable_only=True),
        }
