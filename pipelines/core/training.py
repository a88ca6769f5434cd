"""Train, evaluate and export any pipeline: the one training loop of the project.

`run(pipeline, ...)` reads the sources, splits them, fits with Keras callbacks (checkpoints,
BackupAndRestore for `--resume`, CSV history, TensorBoard), evaluates on the test split, writes
the report files and exports the SavedModel.
"""
from __future__ import annotations

import dataclasses
import datetime
import pathlib


from datasets import sources
from pipelines.core import evaluation, runs
from serving import export
from pipelines.core.config import check_ema_momentum, to_dict


@dataclasses.dataclass
class Result:
    run_dir: pathlib.Path
    metrics: dict
    export_path: pathlib.Path | None


def _callbacks(run_dir, has_val, resume):
    import keras

    checkpoints = run_dir / "checkpoints"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(checkpoints / "last.keras")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), profile_batch=0),
    ]
    if has_val:
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(checkpoints / "best.keras"), monitor="val_loss", save_best_only=True
        ))
    return callbacks


def with_weight_averaging(optimizer, momentum):
    """`optimizer` keeping an exponential moving average of the weights when momentum > 0;
    Keras writes the average into the model when `fit` ends, so evaluation and export use it.
    Averaging the last few hundred steps removes the step-to-step noise of the final weights."""
    if not check_ema_momentum(momentum):
        return optimizer
    return type(optimizer).from_config({**optimizer.get_config(), "use_ema": True, "ema_momentum": momentum})


def predict(model, pipeline, examples, batch_size):
    """(labels (N,), probabilities (N, classes)) of `examples`, in order."""
    return pipeline.predict_examples(model.predict_on_batch, examples, batch_size)


def write_report(metrics, run_dir, title):
    evaluation.write_json(metrics, run_dir / "metrics.json")
    if "confusion_matrix" in metrics:
        evaluation.plot_confusion_matrix(
            metrics["confusion_matrix"], metrics["class_names"], run_dir / "confusion_matrix.png", title
        )


def run(pipeline, data="bundled", test_data=None, data_dir=None, run_dir=None,
        export_dir="saved_models", resume=False, mixed_precision=False, jit=False,
        extra_callbacks=(), verbose=1):
    """Train `pipeline` on SOURCE `data`, test, write the run folder and export; a `Result`."""
    import keras

    config = pipeline.config
    run_dir = runs.prepare(run_dir or runs.new_run_dir(pipeline.name), resume)
    keras.utils.set_random_seed(config.seed)

    source = sources.load(pipeline, data, data_dir)
    test_source = sources.load(pipeline, test_data, data_dir) if test_data else None
    splits = sources.make_splits(source, test_source, config)
    class_names = splits.class_names
    record = {
        "pipeline": pipeline.name,
        "config": to_dict(config),
        "data": data or "bundled",
        "test_data": test_data,
        "data_dir": data_dir,
        "mixed_precision": mixed_precision,
        "jit": jit,
        "class_names": class_names,
        "splits": splits.record,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    runs.write_record(run_dir, record)

    train = pipeline.input_dataset(splits.train, config.batch_size, True, config.seed)
    val = (pipeline.input_dataset(splits.val, config.batch_size)
           if splits.val is not None else None)
    pipeline.adapt(train.unbatch())

    previous_policy = keras.mixed_precision.dtype_policy()
    if mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = pipeline.build_model(len(class_names))
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
    steps = -(-len(splits.train) // config.batch_size)
    model.compile(
        optimizer=with_weight_averaging(pipeline.optimizer(steps), config.ema_momentum),
        loss=pipeline.loss(),
        metrics=pipeline.metrics(len(class_names)), jit_compile=bool(jit),
    )
    model.fit(
        train, validation_data=val, epochs=config.epochs, verbose=verbose,
        callbacks=_callbacks(run_dir, val is not None, resume) + list(extra_callbacks),
    )
    model.save(run_dir / "model.keras")

    labels, probabilities = predict(model, pipeline, splits.test, config.batch_size)
    metrics = pipeline.report(labels, probabilities, class_names)
    write_report(metrics, run_dir, f"{pipeline.name}: {splits.test.origin}")

    export_path = None
    if export_dir:
        export_path = export.export(
            model, pipeline, class_names, export_dir,
            metadata={"config": to_dict(config), "run_dir": str(pathlib.Path(run_dir).resolve()),
                      "custom_predict": pipeline.custom_predict()},
            examples=splits.val if splits.val is not None else splits.test,
        )
        record["export"] = str(export_path)
        runs.write_record(run_dir, record)
    return Result(run_dir, metrics, export_path)
