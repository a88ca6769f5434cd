"""`cnn tune`: KerasTuner (Hyperband or Bayesian optimisation) over a pipeline's `search_space`,
scored on a validation split carved from the training split. The test split is never read.

OUT (`--out`) holds:
  trials/           KerasTuner's project, opened with overwrite=False: running the same command
                    again continues it (a trial cut off by an interrupt runs again; finished ones stay)
  tuning.json       what was asked, and per trial its settings, val score, epochs and seconds
  trials.csv        the same trials as a table
  best_config.json  {"pipeline", "data", "config"}: the best trial's settings as flat `--set` keys
                    (those it searched, the epochs it trained and the user's own), for `cnn train --config`
The three files are rewritten, whole or not at all, after every trial (docs/TUNING.md).
"""
from __future__ import annotations

import csv
import io
import json
import math
import pathlib
import time

from pipelines import extensions
from pipelines.core import config as configs
from pipelines.core import files, search_space, settings, sources

TUNERS = ("hyperband", "bayesian")
VALIDATION_FRACTION = 0.2  # held out of the training split for the score when the source has no val split
HYPERBAND_FACTOR = 3  # Hyperband keeps the best third of each round (Li et al. 2018's eta)
PROJECT = "trials"
RECORD, TABLE, BEST = "tuning.json", "trials.csv", "best_config.json"


def check_limits(trials, budget_minutes):
    """One-line errors for a trial count or budget that cannot bound a search."""
    if trials < 1:
        raise ValueError(f"--trials {trials}: must be at least 1")
    if budget_minutes is not None and not (math.isfinite(budget_minutes) and budget_minutes > 0):
        raise ValueError(f"--budget {budget_minutes:g}: must be a positive number of minutes")


def _request(pipeline, data, tuner, space):
    """What makes two runs of `cnn tune` the same search (the trial count and budget may change)."""
    return {"pipeline": pipeline.name, "data": data, "tuner": tuner,
            "settings": settings.flat(pipeline.config),
            "space": {entry.key: entry.describe() for entry in space}}


def _open(out, request):
    """The record so far in OUT of the same `request`; OUT and its tuning.json made if new (before
    the first trial, so that a search cut off in it continues). A folder holding another search is
    refused: continuing it with other settings would mix two searches."""
    record_path = out / RECORD
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if json.loads(json.dumps(request)) != record.get("request"):
            raise ValueError(f"--out {out}: holds a search with other settings ({record['request']['pipeline']} on "
                             f"{record['request']['data']}, {record['request']['tuner']}); give the same options to "
                             "continue it, or another --out")
        return record
    if (out / PROJECT).exists():
        raise ValueError(f"--out {out}: holds a KerasTuner project without {RECORD}; give another --out")
    out.mkdir(parents=True, exist_ok=True)
    record = json.loads(json.dumps({"request": request, "seconds": {}}))
    files.write_text(record_path, json.dumps(record, indent=2) + "\n")
    return record


def _hypermodel(pipeline, splits, space, verbose):
    """A KerasTuner HyperModel: each trial is `pipeline` with the trial's `--set` values, built,
    compiled and fitted as `cnn train` does (pipelines/engine/training.py), on `splits.train`,
    validated on `splits.val`."""
    import keras_tuner as kt

    from pipelines.engine import training

    num_classes = len(splits.class_names)

    class TrialModel(kt.HyperModel):
        def build(self, hp):
            values = {entry.key: entry.declare(hp) for entry in space}
            chosen = type(pipeline)(configs.override(pipeline.config, search_space.assignments(values)))
            batch = chosen.config.batch_size
            self.train = chosen.input_dataset(splits.train, batch, True, chosen.config.seed)
            self.val = chosen.input_dataset(splits.val, batch)
            chosen.adapt(self.train.unbatch())
            model = training.build(chosen, num_classes)
            training.compile_model(chosen, model, self.train, self.val, num_classes, len(splits.train),
                                   verbose=verbose)
            self.chosen = chosen
            return model

        def fit(self, hp, model, *args, epochs=None, initial_epoch=0, callbacks=(), **kwargs):
            return model.fit(self.train, validation_data=self.val, epochs=epochs, initial_epoch=initial_epoch,
                             shuffle=False, verbose=verbose,  # tf.data shuffles
                             callbacks=extensions.callbacks(self.chosen, splits.train) + list(callbacks))

    return TrialModel()


def _tuner(kind, hypermodel, objective, out, epochs, trials, seed, deadline, after_trial):
    """KerasTuner's tuner `kind` over OUT/trials (overwrite=False: continued, never cleared) that
    starts no trial after `trials` of them or past `deadline` (time.monotonic), and calls
    `after_trial(tuner, trial, seconds)` when each ends."""
    import keras_tuner as kt

    base = kt.Hyperband if kind == "hyperband" else kt.BayesianOptimization

    class Bounded(base):
        def on_trial_begin(self, trial):
            self.trial_started = time.monotonic()
            super().on_trial_begin(trial)
            self.save()  # KerasTuner saves the tuner after a trial: without this, a first trial cut off is lost

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            after_trial(self, trial, time.monotonic() - self.trial_started)
            if deadline is not None and time.monotonic() >= deadline:
                self.oracle.max_trials = len(self.oracle.trials)  # the oracle stops at max_trials

    common = {"objective": objective, "directory": str(out), "project_name": PROJECT, "overwrite": False,
              "seed": seed}
    if kind == "hyperband":
        # hyperband_iterations=None: brackets repeat until `trials` (max_trials) have started
        tuner = Bounded(hypermodel, max_epochs=epochs, factor=HYPERBAND_FACTOR, hyperband_iterations=None, **common)
    else:
        tuner = Bounded(hypermodel, max_trials=trials, **common)
    tuner.oracle.max_trials = trials  # Hyperband's oracle takes no max_trials, but honours it
    return tuner


def _trial_rows(tuner, space, epochs, seconds):
    """One dict per trial, in the order they started: id, status, score, epochs, seconds, settings."""
    rows = []
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.trials[trial_id]
        values = trial.hyperparameters.values
        score = None if trial.score is None else float(trial.score)  # NumPy scalars: plain, as in tuning.json
        rows.append({"trial": trial_id, "status": trial.status, "score": score,
                     "epochs": values.get("tuner/epochs", epochs), "seconds": seconds.get(trial_id),
                     "settings": {entry.key: search_space.plain(values.get(entry.key)) for entry in space}})
    return rows


def _table(rows, space):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["trial", "status", "score", "epochs", "seconds", *(entry.key for entry in space)])
    for row in rows:
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.1f}"
        writer.writerow([row["trial"], row["status"], "" if row["score"] is None else row["score"], row["epochs"],
                         seconds, *(row["settings"][entry.key] for entry in space)])
    return text.getvalue()


def best_config(pipeline, data, row):
    """best_config.json's content: the pipeline, SOURCE and, as flat `--set` keys with their
    values, the settings `row` searched, the epochs it trained and every setting the user changed."""
    chosen = configs.override(pipeline.config, search_space.assignments(row["settings"]) + [f"epochs={row['epochs']}"])
    defaults = settings.flat(type(pipeline.config)())
    kept = set(row["settings"]) | {"epochs"}
    values = {key: value for key, value in settings.flat(chosen).items() if key in kept or value != defaults[key]}
    return {"pipeline": pipeline.name, "data": data, "config": values}


def tune(pipeline, data="bundled", *, trials, out_dir, tuner="hyperband", budget_minutes=None, data_dir=None,
         fixed=(), verbose=2, progress=None, on_results=None):
    """Search `pipeline.search_space` (less the keys in `fixed`, which the user set) for up to
    `trials` trials, starting none after `budget_minutes`; each trial trains up to the config's
    epochs (Hyperband: its rounds' epochs) and is scored on the validation split. The outputs are
    in OUT (see the module's docstring), and `on_results(record)` is called each time they are
    written (the CLI writes report.html); returns tuning.json's content."""
    check_limits(trials, budget_minutes)
    progress = progress or (lambda text: None)
    on_results = on_results or (lambda record: None)
    space = search_space.searched(pipeline.search_space, fixed)
    if not space:
        raise ValueError(f"--set fixes every setting {pipeline.name} searches "
                         f"({', '.join(entry.key for entry in pipeline.search_space)}); nothing to tune")
    search_space.check(type(pipeline), pipeline.config, space)
    out = pathlib.Path(out_dir)
    record = _open(out, _request(pipeline, data, tuner, space))
    started = time.monotonic()
    deadline = started + 60 * budget_minutes if budget_minutes else None

    config = pipeline.config
    # the score's split, carved from training (the test split stays unread): VALIDATION_FRACTION
    # unless the user set one, whatever the pipeline's own default
    if "validation_fraction" not in {key.strip().replace("-", "_") for key in fixed}:
        config = configs.override(config, [f"validation_fraction={VALIDATION_FRACTION}"])
    scored = type(pipeline)(config)
    progress(f"loading data: {data}")
    splits = sources.load_splits(scored, data, None, data_dir)
    if splits.val is None or len(splits.val) == 0:
        raise ValueError(f"{data}: too few training examples to hold out a validation split")
    import keras_tuner as kt

    metric = scored.metrics(len(splits.class_names))[0].name
    record["objective"] = {"name": f"val_{metric}", "direction": "max"}
    record["splits"] = splits.record

    def after_trial(search, trial, seconds):
        record["seconds"][trial.trial_id] = round(seconds + record["seconds"].get(trial.trial_id, 0), 1)
        write_results(out, record, _trial_rows(search, space, config.epochs, record["seconds"]), space,
                      pipeline, data)
        on_results(record)

    search = _tuner(tuner, _hypermodel(scored, splits, space, verbose), kt.Objective(f"val_{metric}", "max"),
                    out, config.epochs, trials, config.seed, deadline, after_trial)
    finished = sum(trial.status == "COMPLETED" for trial in search.oracle.trials.values())
    progress(f"tuning {pipeline.name}: {finished} trial(s) done, up to {trials} in all "
             f"({len(splits.train)} training, {len(splits.val)} validation examples)")
    search.search(epochs=config.epochs, verbose=verbose)
    write_results(out, record, _trial_rows(search, space, config.epochs, record["seconds"]), space, pipeline, data)
    on_results(record)
    return record


def write_results(out, record, rows, space, pipeline, data):
    """tuning.json, trials.csv and (once a trial has a score) best_config.json, each whole or not at all."""
    record["trials"] = rows
    scored = [row for row in rows if row["status"] == "COMPLETED" and row["score"] is not None]
    best = max(scored, key=lambda row: row["score"], default=None)
    record["best"] = best["trial"] if best else None
    files.write_text(out / TABLE, _table(rows, space))
    if best:
        files.write_text(out / BEST, json.dumps(best_config(pipeline, data, best), indent=2) + "\n")
    files.write_text(out / RECORD, json.dumps(record, indent=2) + "\n")
