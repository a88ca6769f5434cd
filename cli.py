"""The `cnn` command. TensorFlow is imported inside the commands that need it, so that
`cnn --help` and `cnn --version` answer at once."""
import dataclasses
import functools
import os
import pathlib
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec

import click

# The project's top-level packages have generic names. Installed in a shared environment, another
# project's package of the same name (Hugging Face `datasets`) comes first on sys.path, and imports
# then mix the two packages or fail far from the cause: say so before importing any of them.
PROJECT_PACKAGES = ("analysis", "datasets", "layers", "networks", "pipelines", "serving")


def foreign_packages():
    """'name (path)' for each project package name that resolves outside the folder holding cli.py."""
    home = pathlib.Path(__file__).resolve().parent
    foreign = []
    for name in PROJECT_PACKAGES:
        spec = find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not any(pathlib.Path(location).resolve() == home / name for location in locations):
            foreign.append(f"'{name}' ({locations[0] if locations else 'not found'})")
    return foreign


_FOREIGN = foreign_packages()
if _FOREIGN:  # exit 2, as every user error
    print(f"cnn: {' and '.join(_FOREIGN)} is not cnn-suite's but another project's package of the same "
             f"name, installed in this environment or on PYTHONPATH. Run cnn from the project's own "
             f"environment: `make install`, then `.venv/bin/cnn` (docs/install.md).", file=sys.stderr)
    sys.exit(2)

import analysis.explanations
import networks  # its registry is plain data: TensorFlow is not imported
import pipelines
import pipelines.engine.distribute
import pipelines.engine.tuning
import pipelines.extensions.attacks
import serving.formats  # its tables only: TensorFlow is imported by the converters
from serving.formats import runtime as format_runtime

try:
    __version__ = version("cnn-suite")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

# Errors a user can cause (bad file, bad argument) or the machine's state (a full or read-only
# disk: OSError and its subclasses): one line, no traceback, exit 2. Programming errors (TypeError,
# AttributeError, ...) keep their traceback.
USER_ERRORS = (ValueError, OSError)


class NameChoice(click.Choice):
    """click.Choice from the code's own table whose error is one line naming the closest choice
    ("did you mean 'digits'?"), or all of them when none is close."""

    def __init__(self, choices, noun):
        super().__init__(choices)
        self.noun = noun

    def convert(self, value, param, ctx):
        if value in self.choices:
            return value
        from pipelines.core.suggest import did_you_mean

        hint = did_you_mean(value, self.choices) or f" (known: {', '.join(self.choices)})"
        if isinstance(param, click.Option):
            raise UserError(f"{param.opts[0]} {value}: unknown {self.noun}{hint}")
        raise UserError(f"unknown {self.noun} '{value}'{hint}")


class RenamedOption(click.Option):
    """An option with old names that still work but are left out of --help and error hints."""

    def __init__(self, *args, old_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.old_names = tuple(old_names)

    def _shown(self, method, ctx):
        every = self.opts
        self.opts = [name for name in every if name not in self.old_names]
        try:
            return method(ctx)
        finally:
            self.opts = every

    def get_help_record(self, ctx):
        return self._shown(super().get_help_record, ctx)

    def get_error_hint(self, ctx):
        return self._shown(super().get_error_hint, ctx)


def renamed_option(name, *old_names, dest, **kwargs):
    """click.option `name` (into parameter `dest`) that also answers to `old_names`, unshown."""
    return click.option(name, *old_names, dest, cls=RenamedOption, old_names=old_names, **kwargs)


def out_option(help, *old_names, dest="out_dir", **kwargs):
    """--out DIR: where a command writes its main result (docs/cli.md); `old_names` still work."""
    return renamed_option("--out", *old_names, dest=dest, type=click.Path(file_okay=False), help=help, **kwargs)


class UserError(click.ClickException):
    """A mistake in the user's input: exit status 2, like click's usage errors."""

    exit_code = 2


def user_errors(command):
    """Turn user errors into a one-line message; CNN_DEBUG=1 shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as error:
            message = _user_error_message(error)
            if message is None or os.environ.get("CNN_DEBUG"):
                raise
            raise UserError(message) from None

    return wrapper


# TensorFlow's file errors for a full disk (ENOSPC -> ResourceExhausted) or a read-only or
# forbidden one (EROFS, EACCES -> PermissionDenied): TF writes SavedModels and checkpoints itself.
_TF_DISK_ERRORS = {"ResourceExhaustedError": ("No space left", "Disk quota"),
                   "PermissionDeniedError": ("",)}


def _user_error_message(error):
    """The one line for a user error (or None: a programming error keeps its traceback)."""
    if isinstance(error, USER_ERRORS):
        return str(error)
    tf = sys.modules.get("tensorflow")
    needles = _TF_DISK_ERRORS.get(type(error).__name__)
    if tf is not None and needles and isinstance(error, tf.errors.OpError):
        text = " ".join(str(error.message).split())
        if any(needle in text for needle in needles):
            text = text.split("}} ", 1)[-1].split(" [Op:", 1)[0]  # drop TF's op decorations
            return text
    return None


def quiet_tensorflow():
    """Import TensorFlow and initialise its devices with the process's native stderr closed:
    its start-up lines (absl's InitializeLog warning, the oneDNN and CUDA notices) are written by
    C++ before TF_CPP_MIN_LOG_LEVEL applies. CNN_DEBUG=1 shows them."""
    if os.environ.get("CNN_DEBUG"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_logical_devices()  # the platform probes (CUDA) print now, not later
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# ------------------------------------------------------- options shared by several commands
SOURCES = "bundled, tfds:NAME, a folder, a CSV manifest, a .npz file."


def data_option(required=True):
    """--data SOURCE: required to evaluate or attack; `cnn train` defaults to bundled."""
    return click.option("--data", required=required, default=None, metavar="SOURCE",
                        help=SOURCES if required else f"{SOURCES[:-1]} (default: bundled).")


def json_option(help):
    return click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help=help)


data_dir_option = click.option("--data-dir", default=None, type=click.Path(file_okay=False), help="TFDS data folder.")
batch_size_option = click.option("--batch-size", type=int, default=None)
EXPORT_ROOT = "Root of the exports: each model goes to ROOT/<name>/<version>/."
export_dir_option = click.option("--export-dir", default="saved_models", show_default=True, metavar="ROOT",
                                 type=click.Path(file_okay=False), help=EXPORT_ROOT)
exports_out_option = out_option(EXPORT_ROOT, "--export-dir", dest="export_dir", default="saved_models",
                                show_default=True, metavar="ROOT")
FORMAT_TITLES = {"litert": "LiteRT", "onnx": "ONNX"}
name_option = click.option("--name", default=None, help="Model name (folder); default: the pipeline's name.")
version_option = click.option("--version", type=int, default=None, help="Integer version; default: the next free one.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnn")
def main():
    """cnn-suite: convolutional-network pipelines on hand-written, gradient-checked layers."""


@main.command()
@click.argument("layer_names", nargs=-1, metavar="[LAYER]...")
@click.option("--quick", is_flag=True, help="Check only the first two configurations of each layer.")
@click.option(
    "--module", "modules", multiple=True, type=click.Path(dir_okay=False),  # a missing file: one line
    help="A Python file that registers more layers (layers.register); repeatable.",
)
@click.option("--list", "list_only", is_flag=True, help="List the registered layers and exit.")
@user_errors
def gradcheck(layer_names, quick, modules, list_only):
    """Check forward, gradients and finite differences of registered layers.

    Compares each layer with its TensorFlow/Keras counterpart (same weights) and its
    hand-written backward with finite differences in float64; exits 1 if any error
    exceeds its tolerance.

    \b
    Examples:
      cnn gradcheck --quick
      cnn gradcheck conv2d --module my_layers.py
    """
    for path in modules:  # before TensorFlow loads
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--module {path}: no such file")
    quiet_tensorflow()
    import runpy

    from layers import gradcheck as checker
    from layers import registry

    for path in modules:
        runpy.run_path(path, run_name="cnn_user_layers")
    if list_only:
        for entry in registry.entries():
            click.echo(f"{entry.name:<28} {len(entry.cases)} cases  reference: {'yes' if entry.reference else 'no'}")
        return
    for name in layer_names:
        registry.get(name)  # unknown names fail before any work
    click.echo(checker.header())
    failed = 0
    for result in checker.run(list(layer_names) or None, quick=quick):
        click.echo(checker.format_row(result))
        failed += not result.ok
    click.echo(f"{failed} failing case(s)." if failed else "All cases within tolerance.")
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------- pipelines (train/evaluate/...)
def _make_pipeline(name, base_config, recipe, epochs, batch_size, seed, assignments, saved=None):
    """The pipeline with its config: defaults (or a resumed run's), then the recipe's settings,
    then the --config file's (`saved`), then CLI options, then --set."""
    from pipelines.core import config as configs

    cls = pipelines.get(name)
    config = base_config if base_config is not None else cls.Config()
    options = [f"{key}={value}" for key, value in
               (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)) if value is not None]
    config = configs.override(config, recipe.settings if recipe else ())
    if saved:
        try:
            config = configs.override(config, saved["config"])
        except ValueError as error:  # named as the file names it, not as --set
            raise ValueError(f"{saved['file']}: {str(error).replace('--set ', '')}") from None
    return cls(configs.override(config, [*options, *assignments]))


def _read_config_file(path, pipeline, options):
    """(pipeline name, the file's settings) of `cnn train --config FILE`; `options` (the command's
    run options) take the file's data, recipe, ... where the command line gives none."""
    from pipelines.core import config_file

    saved = {**config_file.read(path), "file": path}
    named = saved.get("pipeline")
    if pipeline and named and named != pipeline:
        raise ValueError(f"--config {path}: names pipeline '{named}', not '{pipeline}'; give one of them")
    if named and not pipeline:
        try:
            pipelines.get(named)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    for key in config_file.RUN_OPTIONS:
        if key in saved and not options[key]:
            options[key] = saved[key]
    return pipeline or named, saved


def _print_metrics(metrics):
    from pipelines.core.scoring import headline

    for note in metrics.get("notes", ()):
        click.echo(note)
    click.echo("test metrics: " + ", ".join(
        f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in headline(metrics).items()))


@main.command()
@click.argument("pipeline", required=False, type=NameChoice(pipelines.names(), "pipeline"))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Settings from a YAML or JSON file (pipeline, recipe, data, config), such as a run's "
                   "config.json; the recipe is under it, options and --set over it.")
@data_option(required=False)
@click.option("--recipe", default=None, metavar="NAME",
              help="Start from a named recipe's settings (`cnn recipes`); options and --set override them.")
@click.option("--test-data", default=None, metavar="SOURCE",
              help="Test split; default: the source's own, else a stratified hold-out.")
@data_dir_option
@click.option("--epochs", type=int, default=None)
@batch_size_option
@click.option("--seed", type=int, default=None)
@out_option("The run folder; default: runs/<pipeline>-<time>.", "--run-dir", dest="run_dir", metavar="RUN")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override a config field (an extension's as adversarial_epsilon or adversarial.epsilon); "
                   "repeatable.")
@export_dir_option
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out.")
@click.option("--mixed-precision", is_flag=True, help="mixed_float16 compute.")
@click.option("--jit", is_flag=True, help="Compile the training step with XLA.")
@click.option("--strategy", type=click.Choice(pipelines.engine.distribute.STRATEGIES), default="auto",
              help="tf.distribute strategy (docs/DISTRIBUTED.md): auto (default; mirrored with 2+ GPUs), "
                   "default (one device), mirrored (this host's GPUs), multiworker (TF_CONFIG). "
                   "--batch-size is the global batch over all replicas.")
@click.option("--worker-timeout", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="multiworker: give up joining the cluster, or waiting for a lost worker, after this long "
                   "(default 300).")
@click.option("--plan", "plan", is_flag=True, help="Settings from the data's fingerprint where no --recipe or "
              "option sets them (docs/PLANNING.md).")
@user_errors
def train(pipeline, config_file, epochs, batch_size, seed, assignments, export_dir, plan, **options):
    """Train PIPELINE, evaluate it on the test split and export a SavedModel.

    Settings, lowest first: the pipeline's defaults, --recipe, --config FILE, --epochs/--batch-size/--seed,
    --set. PIPELINE may be left out when FILE names it.

    \b
    Examples:
      cnn train digits --epochs 3
      cnn train --config runs/digits-20261207-120000/config.json --set seed=1
    """
    from pipelines.core import recipes, runs

    saved = None
    if config_file:
        if options["resume"]:
            raise ValueError("--resume continues with the run's recorded settings; drop --config")
        pipeline, saved = _read_config_file(config_file, pipeline, options)
    if not pipeline:
        raise ValueError("give PIPELINE, or --config FILE that names one (cnn pipelines lists them)")
    options = runs.RunOptions(**options)  # how the run is made: recorded in config.json
    if options.recipe and options.resume:
        raise ValueError("--resume continues with the run's recorded settings; drop --recipe")
    recipe = recipes.get(options.recipe, pipeline) if options.recipe else None  # before TensorFlow loads
    from pipelines.engine import distribute

    if options.strategy == "multiworker":  # TensorFlow sets up collectives before it initialises its devices
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        distribute.choose(options.strategy, options.jit, options.worker_timeout or distribute.DEFAULT_WORKER_TIMEOUT)
    quiet_tensorflow()
    base = None
    if options.resume and not distribute.is_chief_process(options.strategy) and not runs.is_run(options.run_dir):
        options.resume = False  # a worker on a host without the chief's run folder: the chief's backup is broadcast
    if options.resume:
        options, base = runs.resume(options, pipeline)
    chosen = _make_pipeline(pipeline, base, recipe, epochs, batch_size, seed, assignments, saved)
    if plan and recipe is None and not options.resume:  # the fingerprint's plan (pipelines/core/planning.py)
        kept = [*(saved["config"] if saved else ()), *assignments]  # the file's settings stay too
        chosen = planning_apply(chosen, options.data, options.test_data, options.data_dir, kept, epochs,
                                batch_size, seed)
    started = time.monotonic()
    run = train_and_export(chosen, export_dir=export_dir, progress=_step, **dataclasses.asdict(options))
    if not run.chief:
        click.echo(f"worker finished: weights sha256 {run.weights_sha256} (the chief writes the run folder "
                   "and the export)")
        return
    if run.weights_sha256:
        click.echo(f"weights sha256 {run.weights_sha256}")
    _print_summary(run, time.monotonic() - started)


def train_and_export(pipeline, data="bundled", *, export_dir="saved_models", progress=None, **options):
    """The training driver, then the export driver, then the run's report.html (kept apart:
    pipelines never import serving or analysis); the finished `Run`, with `export_path` set when
    `export_dir` is given. `options`: `RunOptions` fields, `callbacks` and `verbose`;
    `progress(text)` hears of each long step before it starts."""
    from pipelines.engine import training

    progress = progress or (lambda text: None)
    run = training.train(pipeline, data, progress=progress, **options)
    if not run.chief:  # multiworker: only the chief exports and reports
        return run
    if export_dir:
        from serving import export

        progress("exporting the SavedModel")
        export.export_trained(run, pipeline, export_dir)
    from analysis import report

    progress("writing report.html")
    report.write_trained(run, pipeline)
    return run


def _step(text):
    """One short line (stderr) as a long step starts."""
    click.echo(f"{text} ...", err=True)


def _print_summary(run, seconds):
    """The block after training: time, data, parameters, test metrics and where everything is."""
    import numpy as np

    from analysis.report import REPORT

    splits = [(name, getattr(run.splits, name)) for name in ("train", "val", "test")]
    data = ", ".join(f"{name} {len(part)} examples ({len(np.unique(part.labels))} classes)"
                     for name, part in splits if part is not None and len(part))
    click.echo(f"trained in {seconds:.1f} s")
    click.echo(f"data: {data}")
    click.echo(f"parameters: {run.model.count_params():,}")
    _print_metrics(run.metrics)
    click.echo(f"run folder: {run.run_dir}")
    click.echo(f"report: {pathlib.Path(run.run_dir) / REPORT}")
    if run.export_path:
        click.echo(f"SavedModel: {run.export_path}")


@main.command()
@click.argument("model", type=click.Path(exists=True))
@click.option("--data", default=None, metavar="SOURCE",
              help=f"{SOURCES[:-1]}; default: the test split recorded in the run's config.json.")
@data_dir_option
@batch_size_option
@json_option("Write the metrics here.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="How SOURCE is read (a source option such as label_pattern or label_column); repeatable.")
@click.option("--label-map", default=None, metavar="LABEL=CLASS,...",
              help="Map SOURCE's labels onto the model's classes (e.g. 0=normal,1=mass).")
@user_errors
def evaluate(model, data, data_dir, batch_size, json_path, assignments, label_map):
    """Evaluate MODEL (a run folder, an exported SavedModel, or a LiteRT/ONNX export: its .tflite or
    .onnx file or version folder, run by its own runtime) on SOURCE; without --data, on the test
    split recorded in the run's config.json (for an export: its run folder's, if still there).

    Labels are matched to the model's classes by name, by --label-map, or (integer labels
    that are no class name) by index, with a note.

    \b
    Examples:
      cnn evaluate runs/digits-20261207-120000
      cnn evaluate saved_models/digits/1 --data other_digits/
    """
    quiet_tensorflow()
    from analysis import evaluation
    from pipelines.core import scoring

    metrics = evaluation.evaluate(model, data, data_dir=data_dir, batch_size=batch_size,
                               assignments=assignments, label_map=label_map)
    if "split" in metrics:  # no --data: the run's own test split
        origin = "" if metrics["data"] in metrics["split"] else f" of {metrics['data']}"
        click.echo(f"data: the run's test split, {metrics['split']}{origin}")
    else:
        click.echo(f"data: {metrics['data']}")
    _print_metrics(metrics)
    if json_path:
        scoring.write_json(metrics, json_path)
        click.echo(f"metrics: {json_path}")


@main.command()
@click.argument("model")
@click.argument("files", nargs=-1, required=True, metavar="FILES...")
@click.option("--top-k", type=int, default=1, show_default=True, metavar="N",
              help="Name the N most probable classes of each file (at most the model's classes).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per file and line: file, label, probability, top_k [{label, probability}].")
@click.option("--server", default=None, metavar="URL",
              help="Ask a TF Serving REST endpoint (e.g. http://localhost:8501); MODEL is then a model name.")
@click.option("--version", "model_version", type=int, default=None, help="With --server: this version.")
@renamed_option("--version-label", "--label", dest="version_label", default=None, metavar="LABEL",
                help="With --server: the version with this label (cnn serving-config --version-label).")
@click.option("--columnar", is_flag=True, help="With --server: send the columnar 'inputs' format, not 'instances'.")
@user_errors
def predict(model, files, top_k, as_json, server, model_version, version_label, columnar):
    """Predict FILES (files, folders: every file the model's pipeline reads, recursively; quoted
    glob patterns such as 'imgs/*.png') with MODEL: a run folder, a SavedModel version folder, a
    .tflite/.onnx file or its version folder; or a model name on --server. Prints file, label,
    probability per line. A file that cannot be predicted is named on stderr, the others are still
    predicted, and the exit status is 1.

    Audio is read as training reads it: a WAV at another sample rate is resampled, stereo mixed down.

    \b
    Examples:
      cnn predict runs/digits-20261207-120000 samples/digit-7.png --top-k 3
      cnn predict saved_models/digits/1 'imgs/*.png' --json
      cnn predict --server http://localhost:8501 digits samples/digit-7.png
    """
    if server:
        from serving.rest import client as rest_client

        results = rest_client.predict(server, model, files, model_version, version_label, columnar, top_k=top_k)
    else:
        if model_version is not None or version_label is not None or columnar:
            raise ValueError("--version, --version-label and --columnar need --server")
        if not (os.path.isdir(model) or format_runtime.is_export(model)):
            raise NotADirectoryError(f"{model}: no such run folder, export folder or .tflite/.onnx file "
                                     f"(give --server URL for a model name)")
        quiet_tensorflow()
        from analysis import evaluation

        results = evaluation.predict_files(model, files, top_k)
    failed = 0
    for result in results:
        if result.error is not None:
            click.echo(f"Error: {result.error}", err=True)
            failed += 1
        else:
            click.echo(result.json() if as_json else result.text())
    if failed:
        sys.exit(1)


@main.command("export")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@exports_out_option
@name_option
@version_option
@click.option("--format", "export_formats", multiple=True, type=click.Choice(serving.formats.FORMATS),
              help="Repeatable; default: saved_model. litert and onnx go to <pipeline>-<format>/ (--name: NAME).")
@click.option("--quantize", type=click.Choice(serving.formats.QUANTIZE), default="none", show_default=True,
              help="LiteRT only; int8 calibrates on the run's training split.")
@user_errors
def export_command(run, export_dir, name, version, export_formats, quantize):
    """Export the trained model of a RUN folder as a new version in each --format.

    \b
    Example:
      cnn export runs/digits-20261207-120000 --format saved_model --format litert
    """
    export_formats = tuple(dict.fromkeys(export_formats or ("saved_model",)))
    if quantize != "none" and export_formats != ("litert",):
        raise ValueError(f"--quantize {quantize}: only for --format litert alone "
                         f"(--format {' '.join(export_formats)} is exported as float)")
    if name and len(export_formats) > 1:
        raise ValueError("--name: give one --format with it (each format is its own model folder)")
    quiet_tensorflow()
    from serving import export

    for export_format in export_formats:
        if export_format == "saved_model":
            from analysis import report

            path = export.export_run(run, export_dir, name=name, version=version)
            report.refresh_export(run, path)  # the report's export section lists the new version
            click.echo(f"SavedModel: {path}")
        else:
            try:
                path = serving.formats.export_run(run, export_dir, export_format, quantize, name=name, version=version)
            except ImportError as error:
                raise ValueError(f"--format {export_format}: needs {error.name}, in the optional extra "
                                 f"formats (pip install -e '.[formats]')") from None
            click.echo(f"{FORMAT_TITLES[export_format]}: {path}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@exports_out_option
@name_option
@version_option
@user_errors
def ensemble(runs, export_dir, name, version):
    """Export RUNS (two or more runs of one recipe, different seeds) as one SavedModel that
    averages their probabilities; prints each run's and the ensemble's test metrics.

    \b
    Example:
      cnn ensemble runs/digits-a runs/digits-b --out saved_models
    """
    quiet_tensorflow()
    from serving import export

    path, metrics, member_metrics = export.export_ensemble(list(runs), export_dir, name=name, version=version)
    for run, member in zip(runs, member_metrics):
        click.echo(f"member {run}:")
        _print_metrics(member)
    click.echo(f"ensemble of {len(runs)}:")
    _print_metrics(metrics)
    click.echo(f"SavedModel: {path}")


@main.command("pipelines")
@click.argument("name", required=False, type=NameChoice(pipelines.names(), "pipeline"))
@user_errors
def list_pipelines(name):
    """List the pipelines, one line each; with NAME, its sources and every setting: the default as
    --set takes it, the range and what it means.

    \b
    Example:
      cnn pipelines digits
    """
    if name is None:
        for known in pipelines.names():
            click.echo(f"{known:<8} {pipelines.get(known).summary}")
        click.echo("`cnn pipelines NAME` shows a pipeline's sources and settings.")
        return
    from pipelines.core import setting_docs

    chosen = pipelines.get(name)()
    info = chosen.describe()
    click.echo(f"{name}: {info['summary']}")
    click.echo(f"  input: {info['input']}   networks: {', '.join(info['networks']) or '-'}")
    click.echo(f"  sources: {info['sources']}")
    click.echo("settings (--set KEY=VALUE; default, range, meaning):")
    table = setting_docs.rows(type(chosen).Config())
    width = max(len(f"{key}={value}") for key, value, _, _ in table)
    ranges = max(len(rule) for _, _, rule, _ in table)
    for key, value, rule, meaning in table:
        click.echo(f"  {key + '=' + value:<{width}}  {rule:<{ranges}}  {meaning}".rstrip())


@main.command("recipes")
@click.argument("pipeline", required=False, type=NameChoice(pipelines.names(), "pipeline"))
@user_errors
def list_recipes(pipeline):
    """List the named recipes (of PIPELINE, or all): settings, data layout, measured result.

    \b
    Example:
      cnn recipes digits
    """
    from pipelines.core import recipes

    for recipe in recipes.for_pipeline(pipeline) if pipeline else recipes.every():
        click.echo(f"{recipe.name} ({recipe.pipeline})")
        click.echo(f"  data: {recipe.data}")
        click.echo(f"  settings: {' '.join(recipe.settings) or '(the defaults)'}")
        click.echo(f"  measured: {recipe.result or 'none recorded'}")
        if recipe.recorded:
            click.echo(f"  recorded: {recipe.recorded}")


# ------------------------------------------------------------------------------- serving
@main.command("serving-config")
@click.argument("root", default="saved_models", type=click.Path(file_okay=False))
@click.option("--base-path", default=None, help="ROOT as the server sees it (Docker: /models); default: ROOT's absolute path.")
@out_option("Where to write the files; default: ROOT.", "--output-dir", dest="output_dir")
@click.option("--latest", type=int, default=1, show_default=True, help="Serve the latest N versions of each model.")
@click.option("--all-versions", is_flag=True, help="Serve every version.")
@renamed_option("--version-label", "--label", dest="labels", multiple=True, metavar="MODEL:LABEL=VERSION",
                help="Give a version a label (e.g. digits:stable=1); repeatable.")
@click.option("--cores", type=int, default=None, help="CPU cores of the serving machine (batching threads); default: this machine's.")
@user_errors
def serving_config_command(root, base_path, output_dir, latest, all_versions, labels, cores):
    """Write models.config, batching_parameters.txt and monitoring.config for TF Serving.

    \b
    Example:
      cnn serving-config saved_models --version-label digits:stable=1
    """
    from serving import model_config as serving_config

    for path in serving_config.write(root, base_path, output_dir, latest, all_versions, labels, cores):
        click.echo(str(path))


@main.command()
@click.argument("root", default="saved_models", type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8501, show_default=True, help="0 picks a free port.")
@click.option("--verbose", is_flag=True, help="Log every request.")
@click.option("--rest-api-timeout-in-ms", "timeout_ms", type=int, default=30_000, show_default=True,
              help="Close idle or stalled connections after this long (TF Serving's --rest_api_timeout_in_ms).")
@click.option("--rest-api-num-threads", "threads", type=int, default=None,
              help="Worker threads answering requests (TF Serving's default: 4 per core).")
@click.option("--max-body-bytes", type=int, default=2**31 - 1, show_default=True,
              help="Largest request body; a larger one is answered 413 before it is read.")
@click.option("--max-batch-size", type=int, default=None,
              help="Largest batch per request; default: max_batch_size of ROOT/batching_parameters.txt "
                   "(cnn serving-config), else 1024.")
@user_errors
def serve(root, host, port, verbose, timeout_ms, threads, max_body_bytes, max_batch_size):
    """Development server with TF Serving's REST API over the exports in ROOT (production: TF Serving).
    Serve only exports you trust: a SavedModel is a program.

    \b
    Example:
      cnn serve saved_models --port 0
    """
    quiet_tensorflow()
    from serving.rest import dev_server

    limits = dev_server.Limits(timeout_ms=timeout_ms, max_body_bytes=max_body_bytes, max_batch_size=max_batch_size)
    if threads is not None:
        limits.threads = threads
    server = dev_server.make_server(root, host, port, verbose, limits)
    for model, versions in server.repository.models.items():
        if versions:
            click.echo(f"{model}: versions {', '.join(map(str, versions))}")
    click.echo(f"REST API on http://{host}:{server.server_address[1]}/v1/models/<model> (Ctrl-C stops)")
    click.echo(f"limits: {limits.threads} threads, {timeout_ms} ms timeout, bodies up to {max_body_bytes} bytes, "
               f"batches up to {server.max_batch_size}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# ------------------------------------------------------------------------------- attacks
@main.command("attack")
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@data_option()
@click.option("--method", default="pgd", show_default=True,
              type=NameChoice(pipelines.extensions.attacks.METHODS, "attack"))
@click.option("--epsilon", "epsilons", default=None, metavar="E1,E2,...",
              help="Budgets in raw-input units (pixels 0-255, waveform amplitude, intensities); "
                   "default: 0.1 and 0.3 of the input range.")
@click.option("--steps", type=int, default=10, show_default=True, help="PGD iterations.")
@click.option("--step-size", type=float, default=None, help="Default: epsilon (FGSM), 2.5 epsilon / steps (PGD).")
@click.option("--norm", default="inf", show_default=True, type=NameChoice(pipelines.extensions.attacks.NORMS, "norm"),
              help="The norm of the epsilon ball.")
@click.option("--random-start", is_flag=True, help="Start from a random point of the epsilon ball.")
@data_dir_option
@batch_size_option
@json_option("Also write the results here.")
@out_option("Folder for attack.json, curve.png and examples/; default: attacks/<pipeline>-<method>-<time>.")
@user_errors
def attack_command(model, data, method, epsilons, steps, step_size, norm, random_start, data_dir, batch_size,
                   json_path, out_dir):
    """Attack MODEL (a run folder or an export) with FGSM or PGD on SOURCE: clean and robust
    accuracy (Dice for segmentation) per epsilon, a curve, adversarial examples, JSON.

    \b
    Example:
      cnn attack runs/digits-20261207-120000 --data bundled --method fgsm --epsilon 8,16
    """
    from pipelines.extensions.attacks import Attack, parse_epsilons

    values = parse_epsilons(epsilons) if epsilons is not None else None
    for value in values or (1.0,):
        Attack(method, value, norm, steps, step_size, random_start)  # bad options fail before TensorFlow loads
    quiet_tensorflow()
    from analysis import attacks

    result = attacks.attack(model, data, values, method=method, norm=norm, steps=steps, step_size=step_size,
                            random_start=random_start, out_dir=out_dir, json_path=json_path,
                            data_dir=data_dir, batch_size=batch_size)
    for line in attacks.summary_lines(result):
        click.echo(line)
    click.echo(f"results: {os.path.dirname(result['curve'])}")


# ------------------------------------------------------------------------------- model zoo
@main.command("zoo")
@click.argument("name", required=False, metavar="[NAME]", type=NameChoice(networks.names(), "network"))
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False),
              help="The table of a run folder's trained model (model.keras) instead of a zoo network.")
@click.option("--json", "as_json", is_flag=True, help="Print the same data as JSON.")
@user_errors
def zoo_command(name, run_dir, as_json):
    """List the model zoo (name, input, parameters, multiply-adds per image, paper, year), or
    print NAME's per-layer table: output shape, activation memory, weights, multiply-adds.

    \b
    Examples:
      cnn zoo
      cnn zoo resnet50
    """
    import json

    if name and run_dir:
        raise ValueError("give a network NAME or --run RUN, not both")
    quiet_tensorflow()
    from networks import summary

    if run_dir:
        from analysis import artifacts

        data = summary.table(artifacts.open(run_dir, artifacts.RUN).model)
    elif name:
        data = summary.table(networks.build(name))
    else:
        if not as_json:
            click.echo(summary.ZOO_HEADER)
        rows = []
        for network in networks.names(zoo=True):
            rows.append(summary.zoo_row(network))
            if not as_json:
                click.echo(summary.format_zoo_row(rows[-1]))
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        return
    click.echo(json.dumps(data, indent=2) if as_json else "\n".join(summary.format_table(data)))


@main.command("explain")
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--method", default="saliency", show_default=True,
              type=NameChoice(analysis.explanations.METHODS, "method"))
@click.option("--target", default=None, metavar="CLASS", help="Class to explain; default: the predicted one.")
@click.option("--layer", default=None, help="Grad-CAM stage (a layer name); default: the deepest with at least 4x4 cells.")
@out_option("Default: RUN/explanations for a run folder, ./explanations for an export.")
@user_errors
def explain_command(model, files, method, target, layer, out_dir):
    """Explain what drove MODEL's prediction (a run folder or an export) on FILES: maps in each
    domain's natural form (image overlays, spectrograms, tokens, NIfTI) and as .npy.

    \b
    Example:
      cnn explain runs/digits-20261207-120000 samples/digit-7.png --method gradcam
    """
    quiet_tensorflow()
    from analysis.explanations import explain

    for line in explain.explain(model, files, method, target, out_dir, layer):
        click.echo(line)


@main.command("visualize")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--input", "input_file", default=None, type=click.Path(),
              help="A file whose feature maps to draw; default: the run's first test example.")
@out_option("Default: RUN/visualize.")
@user_errors
def visualize_command(run, input_file, out_dir):
    """Draw a RUN's first-layer filters, the feature maps of one input at every convolution
    stage, and its training curves (PNGs).

    \b
    Example:
      cnn visualize runs/digits-20261207-120000
    """
    quiet_tensorflow()
    from analysis import visualization

    for path in visualization.visualize(run, input_file, out_dir):
        click.echo(path)


@main.command("report")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@user_errors
def report_command(run):
    """Write RUN/report.html again: config, data, curves, metrics, confusion matrix, the most
    confident errors with explanations, first-layer filters, the export and its signatures.

    \b
    Example:
      cnn report runs/digits-20261207-120000
    """
    quiet_tensorflow()
    from analysis import report

    path, notes = report.report_run(run)
    for note in notes:
        click.echo(note)
    click.echo(f"report: {path}")


@main.command("fingerprint")
@click.argument("pipeline", type=NameChoice(pipelines.names(), "pipeline"))
@data_option()
@click.option("--test-data", default=None, metavar="SOURCE",
              help="The test split `cnn train --test-data` would take: then all of --data is measured.")
@data_dir_option
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="A config field that says how SOURCE is read (e.g. text_column=sentence); repeatable.")
@json_option("Write the fingerprint here.")
@user_errors
def fingerprint_command(pipeline, data, test_data, data_dir, assignments, json_path):
    """Describe the training split of SOURCE as PIPELINE reads it, in one bounded-memory pass
    (class counts, imbalance, the domain's statistics), and the settings `cnn train --plan` would
    take from it (docs/PLANNING.md).

    \b
    Example:
      cnn fingerprint digits --data bundled
    """
    import json

    quiet_tensorflow()
    import pipelines
    from pipelines.core import config as configs
    from pipelines.core import files, fingerprint, planning

    cls = pipelines.get(pipeline)
    chosen = cls(configs.override(cls.Config(), list(assignments)))

    measured = fingerprint.measure(chosen, data, data_dir, test_data)
    click.echo(fingerprint.render(measured))
    click.echo(planning.render({"settings": [{"key": key, "value": value, "reason": reason}
                                             for key, value, reason in chosen.plan_settings(measured)]}))
    if json_path:
        files.write_text(json_path, json.dumps(measured, indent=2))
        click.echo(f"fingerprint: {json_path}")


@main.command("tune")
@click.argument("pipeline", type=NameChoice(pipelines.names(), "pipeline"))
@data_option()
@click.option("--trials", type=int, required=True, help="Run at most this many trials (finished ones count).")
@click.option("--budget", "budget_minutes", type=float, default=None, metavar="MINUTES",
              help="Start no trial after this many minutes.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Default: tuning/<pipeline>. The same command again continues the search there.")
@click.option("--tuner", type=click.Choice(pipelines.engine.tuning.TUNERS), default="hyperband",
              show_default=True)
@click.option("--epochs", type=int, default=None, help="Epochs of a trial (Hyperband: of its longest rounds).")
@click.option("--seed", type=int, default=None)
@data_dir_option
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Fix a setting (not searched), or say how SOURCE is read; repeatable.")
@user_errors
def tune_command(pipeline, data, trials, budget_minutes, out_dir, tuner, epochs, seed, data_dir, assignments):
    """Search PIPELINE's settings (docs/TUNING.md) with KerasTuner, scored on a validation split
    carved from SOURCE's training split (the test split is never read); writes OUT/best_config.json
    for `cnn train --config`, OUT/trials.csv, OUT/tuning.json and OUT/report.html.

    \b
    Examples:
      cnn tune digits --data MNIST --trials 12 --budget 60
      cnn tune objects --data tfds:cifar10 --trials 30 --tuner bayesian --out tuning/cifar

    Then: cnn train --config OUT/best_config.json
    """
    from pipelines.engine import tuning

    tuning.check_limits(trials, budget_minutes)  # before TensorFlow loads
    quiet_tensorflow()
    from analysis import tuning_report
    from pipelines.core import planning
    from pipelines.engine.training import progress_verbosity

    chosen = _make_pipeline(pipeline, None, None, epochs, None, seed, assignments)
    out_dir = pathlib.Path(out_dir or pathlib.Path("tuning") / pipeline)
    record = tuning.tune(chosen, data, trials=trials, out_dir=out_dir, tuner=tuner, budget_minutes=budget_minutes,
                         data_dir=data_dir, fixed=planning.user_keys(assignments, epochs=epochs, seed=seed),
                         verbose=progress_verbosity(), progress=_step,
                         on_results=lambda results: tuning_report.write(out_dir, results))  # after every trial
    report = out_dir / tuning_report.REPORT
    best = next((row for row in record["trials"] if row["trial"] == record["best"]), None)
    if best is None:
        click.echo(f"no trial finished with a score; see {out_dir / tuning.RECORD}")
    else:
        settings = ", ".join(f"{key}={value}" for key, value in best["settings"].items())
        click.echo(f"best of {len(record['trials'])} trial(s): {record['objective']['name']}={best['score']:.4f} "
                   f"({settings}, epochs={best['epochs']})")
        click.echo(f"best settings: {out_dir / tuning.BEST} (cnn train --config)")
    click.echo(f"report: {report}")


def planning_apply(chosen, data, test_data, data_dir, assignments, epochs, batch_size, seed):
    """`cnn train --plan`: the pipeline with the plan's settings under the user's; prints the plan."""
    from pipelines.core import planning

    kept = planning.user_keys(assignments, epochs=epochs, batch_size=batch_size, seed=seed)
    planned = planning.apply(chosen, data, data_dir, kept, test_data)
    click.echo(planning.render(planned.plan))
    return planned
