"""Train and evaluate any pipeline, in steps that `cnn train`, `cnn export` and `cnn ensemble`
share: `prepare` (run folder, sources, splits), `fit` (Keras fit with callbacks), `evaluate`
(metrics.json, confusion_matrix.png). Exporting is serving's job and report.html analysis's:
`cli.py` calls them after training.
"""
from __future__ import annotations

import dataclasses
import datetime
import pathlib
import shutil
import sys
import time

from pipelines import extensions
from pipelines.core import runs, scoring, sources
from pipelines.core.config import to_dict


@dataclasses.dataclass
class Run:
    """What one training leaves: its folder and record, the splits, the model, the test metrics."""

    run_dir: pathlib.Path
    record: dict
    splits: object  # datasets.splits.Splits
    model: object  # keras.Model: served input -> probabilities
    metrics: dict
    export_path: pathlib.Path | None = None  # set by whoever exports it (cli.train_and_export)
    chief: bool = True  # False: a multiworker task other than the chief (no run files, no export)
    weights_sha256: str | None = None  # of the trained weights (multiworker: equal on every worker)

    @property
    def held_out(self):
        """The examples an export warms up with: validation if there is one, else test."""
        return self.splits.val if self.splits.val is not None else self.splits.test


def _callbacks(run_dir, has_val, resume):
    """Backup (for --resume) and checkpoints, written atomically (pipelines/engine/checkpoints.py),
    CSV history (val_* columns only with validation) and TensorBoard; best.keras by val_loss
    when there is validation."""
    import keras

    from pipelines.engine import checkpoints as saved
    from pipelines.engine.history import History

    checkpoints = run_dir / "checkpoints"
    callbacks = [
        saved.Backup(run_dir / "backup"),
        saved.Checkpoint(checkpoints / "last.keras"),
        History(str(run_dir / "history.csv"), has_val, append=resume),  # no NA val_* columns without validation
        keras.callbacks.TensorBoard(str(run_dir / "logs"), profile_batch=0),
    ]
    if has_val:
        callbacks.append(saved.Checkpoint(checkpoints / "best.keras", monitor="val_loss"))
    return callbacks


def progress_verbosity():
    """Keras's progress bar on a terminal; one line per epoch in logs and pipes."""
    return 1 if sys.stdout.isatty() else 2


def prepare(pipeline, options, setup=None):
    """(run folder, its record, the splits): the folder made (or checked, to resume), the
    sources read and split, and what was done written to config.json (the config, the recorded
    `runs.RunOptions` and the distribution `setup`). A multiworker task other than the chief
    only reads the sources: the chief writes the run folder."""
    import keras

    chief = setup is None or setup.is_chief
    run_dir = pathlib.Path(options.run_dir or runs.new_run_dir(pipeline.name))
    fresh = not run_dir.exists()
    if chief:
        run_dir = runs.prepare(run_dir, options.resume)
    keras.utils.set_random_seed(pipeline.config.seed)
    try:
        splits = sources.load_splits(pipeline, options.data or "bundled", options.test_data, options.data_dir)
    except BaseException:
        if fresh and chief:  # made just now and still empty: bad data leaves no folder to clear by hand
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    record = {
        "pipeline": pipeline.name,
        "config": to_dict(pipeline.config),
        **options.record(),
        "class_names": splits.class_names,
        "splits": splits.record,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    plan = pipeline.plan or (runs.read_record(run_dir).get("plan") if options.resume and chief else None)
    if plan:  # the settings the data's fingerprint chose (pipelines/core/planning.py)
        record["plan"] = plan
    if setup is not None:
        record.update(setup.record())  # strategy, replicas, workers
    if chief:
        runs.write_record(run_dir, record)
    return run_dir, record, splits


def build(pipeline, num_classes, mixed_precision=False):
    """The pipeline's model, in mixed_float16 compute when asked (the global policy restored)."""
    import keras

    previous_policy = keras.mixed_precision.dtype_policy()
    if mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        return pipeline.build_model(num_classes)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def compile_model(pipeline, model, train, val, num_classes, train_size, jit=False, verbose=2):
    """Compile `model` as every training of `pipeline` does (`fit`, `cnn tune`'s trials): the
    extensions' steps first (transfer trains the head), their optimizer, then their training step."""
    steps = -(-train_size // pipeline.config.batch_size)
    extensions.before_compile(pipeline, model, train, val, num_classes, steps, verbose)  # transfer: the head
    model.compile(
        optimizer=extensions.optimizer(pipeline, pipeline.optimizer(steps)),  # fine-tuning rate, EMA
        loss=pipeline.loss(num_classes), metrics=pipeline.metrics(num_classes), jit_compile=bool(jit),
    )
    extensions.attach(model, pipeline, steps)  # --set adversarial=fgsm|pgd: train on attacked batches


def fit(pipeline, splits, run_dir, options, callbacks=(), verbose=None, setup=None):
    """The model trained on `splits.train` (validated on `splits.val`), saved as model.keras:
    Keras fit, under `setup`'s strategy (pipelines/engine/distribute.py) when it can run there,
    else our own loop (pipelines/engine/loop.py)."""
    from pipelines.engine import distribute

    setup = setup or distribute.choose("default")
    if setup.kind == "multiworker":
        from pipelines.engine import loop

        refusal = extensions.keras_fit_only(pipeline)
        if refusal:
            raise ValueError(refusal)

        def compiled(steps):
            model = build(pipeline, len(splits.class_names), options.mixed_precision)
            model.compile(optimizer=extensions.optimizer(pipeline, pipeline.optimizer(steps)),
                          loss=pipeline.loss(len(splits.class_names)))
            return model

        return loop.fit(pipeline, splits, run_dir, setup, compiled, options.mixed_precision, callbacks, verbose)
    config = pipeline.config
    distribute.check_batch(setup, config.batch_size)  # the global batch, split over the replicas
    train = pipeline.input_dataset(splits.train, config.batch_size, True, config.seed)
    val = (pipeline.input_dataset(splits.val, config.batch_size)
           if splits.val is not None else None)
    pipeline.adapt(train.unbatch())
    with setup.scope(), distribute.synchronized_norm(setup):
        model = build(pipeline, len(splits.class_names), options.mixed_precision)
        compile_model(pipeline, model, train, val, len(splits.class_names), len(splits.train), options.jit,
                      progress_verbosity() if verbose is None else verbose)
        model.fit(
            train, validation_data=val, epochs=config.epochs, shuffle=False,  # tf.data shuffles
            verbose=progress_verbosity() if verbose is None else verbose,
            callbacks=(extensions.callbacks(pipeline, splits.train)  # first: their logs reach the CSV
                       + _callbacks(run_dir, val is not None, options.resume) + list(callbacks)),
        )
    from pipelines.engine import checkpoints as saved

    saved.save_model(model, run_dir / "model.keras")  # whole or not at all: it marks a finished run
    return model


def evaluate(pipeline, predict_batch, examples, class_names, batch_size=None):
    """The pipeline's test metrics of `predict_batch` (a batch of served inputs ->
    probabilities: a Keras model's `predict_on_batch` or an export) on `examples`."""
    labels, probabilities = pipeline.predict_examples(
        predict_batch, examples, batch_size or pipeline.config.batch_size)
    return pipeline.report(labels, probabilities, class_names)


def write_report(metrics, run_dir, title):
    scoring.write_json(metrics, run_dir / "metrics.json")
    if "confusion_matrix" in metrics:
        scoring.plot_confusion_matrix(
            metrics["confusion_matrix"], metrics["class_names"], run_dir / "confusion_matrix.png", title
        )


def train(pipeline, data="bundled", *, callbacks=(), verbose=None, progress=None, **options):
    """Prepare, fit and evaluate `pipeline` on SOURCE `data`; `options` are the other
    `runs.RunOptions` (run_dir, resume, jit, strategy: pipelines/engine/distribute.py ...). The
    finished `Run`. Only the chief evaluates: a multiworker task other than the chief returns a
    Run without metrics (`chief` False). `progress(text)` hears of the long steps before they start."""
    from pipelines.engine import distribute

    progress = progress or (lambda text: None)

    options = runs.RunOptions(data=data, **options)
    setup = distribute.choose(options.strategy, options.jit,
                              options.worker_timeout or distribute.DEFAULT_WORKER_TIMEOUT)
    progress(f"loading data: {options.data or 'bundled'}")
    run_dir, record, splits = prepare(pipeline, options, setup)
    progress(f"training on {len(splits.train)} examples")
    started = time.monotonic()
    model = fit(pipeline, splits, run_dir, options, callbacks, verbose, setup)
    digest = distribute.weights_sha256(model) if setup.kind == "multiworker" else None
    if not setup.is_chief:
        return Run(run_dir, record, splits, model, {}, chief=False, weights_sha256=digest)
    record["training_seconds"] = round(time.monotonic() - started, 1)  # report.html's headline (this session's)
    runs.write_record(run_dir, record)
    if setup.kind == "multiworker":  # a plain copy (no strategy) for evaluation and export
        model = runs.load_model(pipeline, run_dir / runs.MODEL)
    progress(f"evaluating on {len(splits.test)} test examples")
    metrics = evaluate(pipeline, model.predict_on_batch, splits.test, splits.class_names)
    write_report(metrics, run_dir, f"{pipeline.name}: {splits.test.origin}")
    return Run(run_dir, record, splits, model, metrics, weights_sha256=digest)
