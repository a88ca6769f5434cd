"""Run folders: what a training run writes, and reading a run back (`--resume`, `cnn evaluate`).

    <run>/config.json          pipeline, config, sources, how the splits were made
    <run>/history.csv          per-epoch metrics (Keras CSVLogger)
    <run>/metrics.json         test metrics (Keras names) + per-class precision/recall + confusion
    <run>/confusion_matrix.png
    <run>/checkpoints/         last.keras every epoch (best.keras when there is a validation split)
    <run>/backup/              Keras BackupAndRestore state while training (for --resume)
    <run>/logs/                TensorBoard
    <run>/model.keras          the trained model (served input -> probabilities)
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
from typing import ClassVar

from pipelines.core import files

CONFIG = "config.json"
MODEL = "model.keras"


@dataclasses.dataclass
class RunOptions:
    """How one run is made, beside its pipeline's config: `cnn train`'s options. The recorded
    ones go into config.json and come back with `resume`."""

    data: str | None = None  # SOURCE; None: bundled
    test_data: str | None = None
    data_dir: str | None = None
    recipe: str | None = None  # the recipe the config started from
    mixed_precision: bool = False
    jit: bool = False  # XLA
    run_dir: str | None = None  # None: runs/<pipeline>-<time>
    resume: bool = False
    strategy: str = "default"  # tf.distribute (pipelines/engine/distribute.py)
    worker_timeout: float | None = None  # multiworker: seconds

    RECORDED: ClassVar[tuple] = ("recipe", "data", "test_data", "data_dir", "mixed_precision", "jit")

    def record(self):
        """The options config.json keeps."""
        return {**{key: getattr(self, key) for key in self.RECORDED}, "data": self.data or "bundled"}


def resume(options, pipeline_name):
    """For `--resume`: (the options of the interrupted run in `options.run_dir`, its config).
    Its recorded sources, recipe, mixed precision and XLA, with what `options` gives on top
    (sources; mixed precision or XLA switched on)."""
    if not options.run_dir:
        raise ValueError("--resume needs the --out (run folder) of the interrupted run")
    record = read_record(options.run_dir)
    if record["pipeline"] != pipeline_name:
        raise ValueError(f"{options.run_dir}: is a run of {record['pipeline']}, not {pipeline_name}")
    resumed = dataclasses.replace(
        options, data=options.data or record["data"], test_data=options.test_data or record["test_data"],
        data_dir=options.data_dir or record["data_dir"], recipe=record.get("recipe"),
        mixed_precision=options.mixed_precision or record["mixed_precision"], jit=options.jit or record["jit"])
    return resumed, pipeline_from_record(record).config


def is_run(run_dir):
    """Whether `run_dir` holds a run's config.json."""
    return bool(run_dir) and (pathlib.Path(run_dir) / CONFIG).is_file()


def new_run_dir(pipeline_name, base="runs"):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = pathlib.Path(base) / f"{pipeline_name}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = pathlib.Path(base) / f"{pipeline_name}-{stamp}-{suffix}"
    return path


def prepare(run_dir, resume):
    """Create the folder of a new run, or check the one to resume; never reuse a finished one."""
    run_dir = pathlib.Path(run_dir)
    if resume:
        if not (run_dir / CONFIG).is_file():
            raise FileNotFoundError(f"{run_dir}: no {CONFIG} here, nothing to resume")
        if (run_dir / MODEL).is_file():  # resuming would retrain from scratch over the result
            raise ValueError(f"{run_dir}: the run has finished ({MODEL} is there), nothing to resume; "
                             "`cnn export` and `cnn evaluate` use it, a new run needs another --out")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"{run_dir}: run folder is not empty (use --resume or another --out)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    return run_dir


def read_record(run_dir):
    path = pathlib.Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no {CONFIG})")
    return json.loads(path.read_text())


def write_record(run_dir, record):
    files.write_text(pathlib.Path(run_dir) / CONFIG, json.dumps(record, indent=2))


def pipeline_from_record(record):
    """The Pipeline (with its saved config) that made a run or an export."""
    import pipelines
    from pipelines.core.config import from_dict

    cls = pipelines.get(record["pipeline"])
    return cls(from_dict(cls.Config, record["config"]))


def splits_of(pipeline, record):
    """A run's train/val/test splits, re-read from its recorded sources (same seeded hold-outs)."""
    from pipelines.core import sources

    return sources.load_splits(pipeline, record["data"], record.get("test_data"), record["data_dir"])


def load_model(pipeline, path):
    """A saved Keras model of `pipeline` (a run's model.keras): our layers and the pipeline's
    own Keras layers are registered first, so safe-mode loading finds every class."""
    import importlib

    import keras

    import layers  # noqa: F401  (registers our layers)

    for module in pipeline.keras_modules:
        importlib.import_module(module)
    return keras.models.load_model(path)


def finished_model(run_dir):
    """The trained model file of a run folder; FileNotFoundError if the run has not finished."""
    model_file = pathlib.Path(run_dir) / MODEL
    if not model_file.is_file():
        raise FileNotFoundError(f"{run_dir}: the run has not finished (no {MODEL})")
    return model_file


def record_export(run_dir, record, export_path):
    """Note the run's export in its config.json."""
    record["export"] = str(export_path)
    write_record(run_dir, record)
