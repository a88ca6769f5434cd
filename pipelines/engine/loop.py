"""Our own training loop, for the strategy Keras 3 `fit` cannot run under
(MultiWorkerMirroredStrategy: keras #20585). It works under any tf.distribute strategy.

One step: `strategy.run` on each replica's batch (from `distribute_datasets_from_function`:
each worker shards the data itself), the per-example loss averaged over the GLOBAL batch
(`tf.nn.compute_average_loss`), the optimizer summing the gradients over all replicas, metrics
kept per replica and reduced across replicas when read. Keras itself is not patched.

It keeps what `fit` gives a run: the atomic checkpoints and `--resume` backup
(pipelines/engine/checkpoints.py), history.csv with each epoch once (also after a resume),
TensorBoard scalars, weight averaging, mixed precision and extra Keras callbacks. All workers
run the same collective operations in the same order; the chief writes into the run folder,
the others into a temporary folder. After a restore, every worker takes the chief's weights,
optimizer state and epoch, so workers never need each other's files.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import time

from pipelines.core import files
from pipelines.engine import distribute
from pipelines.core.config import to_dict


def fit(pipeline, splits, run_dir, setup, compiled, mixed_precision=False, callbacks=(), verbose=None):
    """The model trained under `setup.strategy`; model.keras written (by the chief into `run_dir`).
    `compiled(steps_per_epoch)` builds the compiled model (optimizer, loss), called in the
    strategy's scope. A lost worker (dead, or silent for longer than the collective timeout) is a
    one-line ConnectionError on the others, naming the way back: --resume."""
    try:
        return _fit(pipeline, splits, run_dir, setup, compiled, mixed_precision, callbacks, verbose)
    except distribute.lost_worker_errors() as error:
        reason = " ".join(str(getattr(error, "message", error)).split())[:200]
        raise ConnectionError(
            f"--strategy {setup.kind}: worker {setup.worker_index} lost contact with the other workers "
            f"({reason}); start every worker again with --resume to continue "
            "from the last finished epoch") from None


def _fit(pipeline, splits, run_dir, setup, compiled, mixed_precision, callbacks, verbose):
    import keras

    from pipelines.engine import checkpoints as saved

    config, strategy = pipeline.config, setup.strategy
    per_replica = distribute.check_batch(setup, config.batch_size)
    num_classes = len(splits.class_names)
    _check_same_settings(strategy, {"config": to_dict(config), "classes": splits.class_names,
                                    "train": len(splits.train), "mixed_precision": bool(mixed_precision)})
    pipeline.adapt(pipeline.input_dataset(splits.train, config.batch_size, True, config.seed).unbatch())
    train, batches = _distributed(strategy, pipeline, splits.train, per_replica, True, config.seed)
    val = (_distributed(strategy, pipeline, splits.val, per_replica, False, config.seed)[0]
           if splits.val is not None else None)
    local_replicas = setup.replicas // setup.workers
    steps = max(1, math.ceil(_sum_over_replicas(strategy, batches / local_replicas) / setup.replicas))

    with setup.scope(), distribute.synchronized_norm(setup):
        model = compiled(steps)
        model.optimizer.build(model.trainable_variables)
        train_metrics = [keras.metrics.Mean(name="loss"), *pipeline.metrics(num_classes)]
        val_metrics = [keras.metrics.Mean(name="loss"), *pipeline.metrics(num_classes)]
    train_step = _train_step(strategy, model, pipeline.loss(num_classes), config.batch_size, train_metrics)
    eval_step = _eval_step(strategy, model, pipeline.loss(num_classes), val_metrics)
    say = print if setup.is_chief and verbose != 0 else (lambda *_: None)

    with distribute.work_dir(run_dir, setup) as folder:
        (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        own = [saved.Backup(folder / "backup", say=say), saved.Checkpoint(folder / "checkpoints" / "last.keras")]
        if val is not None:
            own.append(saved.Checkpoint(folder / "checkpoints" / "best.keras", monitor="val_loss"))
        hooks = keras.callbacks.CallbackList(own + list(callbacks), model=model, epochs=config.epochs, steps=steps)
        model._initial_epoch = None
        hooks.on_train_begin()
        first_epoch = _broadcast_from_chief(strategy, model, model._initial_epoch or 0)
        history = History(folder / "history.csv", first_epoch)
        board = Board(folder / "logs") if setup.is_chief else None
        iterator = iter(train)
        try:
            for epoch in range(first_epoch, config.epochs):
                started = time.time()
                hooks.on_epoch_begin(epoch)
                for metric in train_metrics + val_metrics:
                    metric.reset_state()
                for step in range(steps):
                    hooks.on_train_batch_begin(step)
                    train_step(iterator)
                    hooks.on_train_batch_end(step)
                logs = _results(train_metrics)
                if val is not None:
                    for batch in val:
                        eval_step(batch)
                    logs.update({f"val_{name}": value for name, value in _results(val_metrics).items()})
                if setup.is_chief:  # before the backup: a resume drops rows of epochs it repeats
                    history.add(epoch, logs)
                    board.write(epoch, logs)
                hooks.on_epoch_end(epoch, logs)
                seconds = time.time() - started
                say(f"Epoch {epoch + 1}/{config.epochs} ({setup.replicas} replicas, {seconds:.1f} s, "
                    f"{1000 * seconds / steps:.0f} ms/step): "
                    + " ".join(f"{name}={value:.4f}" for name, value in logs.items()))
                if model.stop_training:
                    break
            model.optimizer.finalize_variable_values(model.trainable_weights)  # the weight average, if any
            saved.save_model(model, folder / "model.keras")  # whole or not at all: it marks a finished run
            hooks.on_train_end()
        finally:
            if board is not None:
                board.close()
    return model


# ------------------------------------------------------------------ data
def _distributed(strategy, pipeline, examples, per_replica, training, seed):
    """(distributed dataset, batches in this worker's share): each worker's input pipeline reads
    its own shard (pipelines.engine.distribute.shard) in per-replica batches; training data repeats
    (a fixed number of steps per epoch keeps the workers in step)."""
    found = {}

    def dataset_fn(context):
        share = distribute.shard(examples, context.num_input_pipelines, context.input_pipeline_id)
        data = pipeline.input_dataset(share, per_replica, training, seed + context.input_pipeline_id)
        found["batches"] = _count(data)
        return data.repeat() if training else data

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    return dataset, found["batches"]


def _count(data):
    """Batches in one pass of `data` (counted once when tf.data cannot tell)."""
    count = int(data.cardinality())
    if count >= 0:
        return count
    if count == -1:  # tf.data.INFINITE_CARDINALITY
        raise ValueError("the pipeline's training data repeats forever: input_dataset must give one pass")
    return int(data.reduce(0, lambda total, _: total + 1))


# ------------------------------------------------------------------ steps
def per_example_loss(loss):
    """(labels, predictions) -> one loss value per example (N,), from a Keras loss name or object."""
    import keras
    import tensorflow as tf

    loss = keras.losses.get(loss)
    function = loss.call if isinstance(loss, keras.losses.Loss) else loss

    def values(labels, predictions):
        value = tf.cast(function(labels, predictions), tf.float32)
        return tf.reduce_mean(value, axis=list(range(1, value.shape.rank))) if value.shape.rank > 1 else value

    return values


def _train_step(strategy, model, loss, global_batch, metrics):
    import tensorflow as tf

    loss_of, optimizer = per_example_loss(loss), model.optimizer

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            losses = loss_of(y, predictions)  # (n,) this replica's share of the batch
            total = tf.nn.compute_average_loss(losses, global_batch_size=global_batch)
            if model.losses:
                total += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(total)  # loss scaling with mixed precision
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # summed over replicas
        _update(metrics, model, y, predictions, losses)

    @tf.function(reduce_retracing=True)
    def step(iterator):
        strategy.run(replica_step, args=next(iterator))

    return step


def _eval_step(strategy, model, loss, metrics):
    import tensorflow as tf

    loss_of = per_example_loss(loss)

    def replica_step(x, y):
        predictions = model(x, training=False)
        _update(metrics, model, y, predictions, loss_of(y, predictions))

    @tf.function(reduce_retracing=True)
    def step(batch):
        strategy.run(replica_step, args=batch)

    return step


def _update(metrics, model, labels, predictions, losses):
    import tensorflow as tf

    if model.losses:
        losses = losses + tf.add_n(model.losses)
    metrics[0].update_state(losses)
    for metric in metrics[1:]:
        metric.update_state(labels, predictions)


def _results(metrics):
    """{name: value} over every replica of every worker (metric variables sum across replicas
    when read: a collective operation, so every worker reads them in the same order)."""
    import numpy as np

    logs = {}
    for metric in metrics:
        result = metric.result()
        values = result.items() if isinstance(result, dict) else [(metric.name, result)]
        logs.update({name: float(np.asarray(value)) for name, value in values})
    return logs


# ------------------------------------------------------------------ agreement between workers
def _sum_over_replicas(strategy, value):
    """The sum of `value` (a number each replica gives) over all replicas of all workers."""
    import tensorflow as tf

    @tf.function
    def total(number):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(number)), axis=None)

    return float(total(tf.constant(float(value), tf.float64)))


def _check_same_settings(strategy, settings):
    """A ValueError on every worker unless all were started with the same settings and data."""
    digest = int(hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10], 16)
    replicas = strategy.num_replicas_in_sync
    if _sum_over_replicas(strategy, digest) != float(digest) * replicas:
        raise ValueError("the workers were started with different settings or data (--set, --epochs, "
                         "--batch-size, --data ...): start every worker with the same command")


def _broadcast_from_chief(strategy, model, epoch):
    """Every worker takes the chief's weights, optimizer state and `epoch` (after the chief
    restored its backup; the others have none); the common epoch is returned."""
    import tensorflow as tf

    variables = list(model.weights) + list(model.optimizer.variables)

    @tf.function
    def gather():
        def replica_fn():
            context = tf.distribute.get_replica_context()
            first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float64)
            values = [tf.cast(tf.convert_to_tensor(v), tf.float64) * first for v in variables]
            return context.all_reduce(tf.distribute.ReduceOp.SUM, values + [tf.constant(float(epoch), tf.float64) * first])

        return strategy.run(replica_fn)

    values = strategy.experimental_local_results(gather())[0]
    for variable, value in zip(variables, values[:-1]):
        variable.assign(tf.cast(value, variable.dtype))
    return int(values[-1])


# ------------------------------------------------------------------ chief's records
class History:
    """history.csv as Keras's CSVLogger writes it (epoch, then the sorted metric names), rewritten
    whole after each epoch; resuming at epoch E keeps the rows of the epochs before E only, so
    every epoch appears once even when a worker died between a row and its backup."""

    def __init__(self, path, first_epoch):
        self.path, self.rows = path, []
        if first_epoch and path.is_file():
            with open(path, newline="") as stream:
                self.rows = [row for row in csv.DictReader(stream) if int(row["epoch"]) < first_epoch]

    def add(self, epoch, logs):
        self.rows.append({"epoch": epoch, **logs})
        names = ["epoch"] + sorted({key for row in self.rows for key in row} - {"epoch"})

        def write(temporary):
            with open(temporary, "w", newline="") as stream:
                writer = csv.DictWriter(stream, names)
                writer.writeheader()
                writer.writerows(self.rows)

        files.atomic_write(self.path, write)


class Board:
    """TensorBoard scalars per epoch, where Keras's TensorBoard callback puts them
    (logs/train and logs/validation, `epoch_<metric>`)."""

    def __init__(self, folder):
        import tensorflow as tf

        self.writers = {"train": tf.summary.create_file_writer(str(folder / "train")),
                        "validation": tf.summary.create_file_writer(str(folder / "validation"))}

    def write(self, epoch, logs):
        import tensorflow as tf

        for name, value in logs.items():
            writer = self.writers["validation" if name.startswith("val_") else "train"]
            with writer.as_default():
                tf.summary.scalar(f"epoch_{name.removeprefix('val_')}", value, step=epoch)

    def close(self):
        for writer in self.writers.values():
            writer.close()
