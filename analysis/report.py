"""`report.html`: one self-contained page per run (images embedded as base64, no network),
written when `cnn train` ends, again by `cnn report RUN`, and its export section again by
`cnn export RUN`; the export section is read from saved_model.pb alone.

Laid out to be scanned: the headline first (test metrics, the data: source, examples per split,
classes; training time and date), then the settings that differ from the pipeline's defaults
(all of them folded away; an extension's only when it is on), the plan when `--plan` made one,
the training curves (validation beside training, integer epochs), the test metrics (each number
also in a `data-value` attribute, exactly as in metrics.json) with the confusion matrix and
per-class precision and recall, the most confident test errors each with its explanation
(saliency through the whole model, drawn by the pipeline's `render_explanation`: the input beside
the map, with a colour bar), the data, the first-layer filters, and the export with its
signatures (between HTML comment markers, so that a re-export replaces it alone).
"""
from __future__ import annotations

import base64
import html
import json
import pathlib
import tempfile

import numpy as np

from analysis import artifacts, visualization
from analysis.explanations import explainer, stages
from pipelines.core import config as configs
from pipelines.core import files, fingerprint, recipes, runs, scoring, setting_docs, settings

REPORT = "report.html"
ERRORS = 4  # most confident errors shown, each with its explanation
HEADLINE_METRICS = 4  # scalar test metrics in the headline (all are in the metrics table)
HEADLINE_CLASSES = 12  # class names spelled out in the headline
EXPORT_START, EXPORT_END = "<!-- export -->", "<!-- /export -->"
STYLE = """body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 70em; padding: 0 1em;
  color: #222; line-height: 1.4; }
h1 { font-size: 1.4em; margin: 0 0 0.3em; } h2 { font-size: 1.2em; margin-top: 1.6em;
  border-bottom: 1px solid #ddd; } h3 { font-size: 1em; }
#headline { background: #f4f7fb; border: 1px solid #d5deea; border-radius: 6px; padding: 0.8em 1.2em; }
.cards { display: flex; flex-wrap: wrap; gap: 1.5em; margin: 0.4em 0; }
.card .name { font-size: 0.85em; color: #555; } .card .metric { font-size: 1.8em; font-weight: 600; }
.facts { margin: 0.2em 0; } .facts b { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #eee; text-align: left; } img { max-width: 100%; } .error { margin-bottom: 1.5em; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: #245; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
iframe { width: 100%; height: 8em; border: 1px solid #ccc; }"""


def _image(path, alt, **data):
    """An <img> of a PNG, embedded; `data` become data-* attributes (what a check can read)."""
    encoded = base64.b64encode(pathlib.Path(path).read_bytes()).decode()
    extra = "".join(f' data-{key.replace("_", "-")}="{html.escape(str(value))}"' for key, value in data.items())
    return f'<img alt="{html.escape(alt)}"{extra} src="data:image/png;base64,{encoded}">'


def _table(rows, header=None, table_id=None):
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}>{head}{body}</table>"


def _number(value, key):
    """A metric cell: 4 decimals shown, the exact value in `data-value` (for checks)."""
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f'<span class="metric" data-key="{html.escape(key)}" data-value="{value!r}">{shown}</span>'


# ------------------------------------------------------------------ the headline
def _split_counts(record, data_splits):
    """{split: examples} from the record (every run since 0.1.0), else from the splits read."""
    counts = dict((record.get("splits") or {}).get("counts", {}))
    for split in ("train", "val", "test"):
        examples = getattr(data_splits, split, None) if data_splits is not None else None
        if split not in counts and examples is not None:
            counts[split] = len(examples)
    return counts


def training_seconds(record):
    """The fit's seconds as training recorded them (None for runs from before it did)."""
    seconds = record.get("training_seconds")
    return None if seconds is None else float(seconds)


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _headline(title, record, metrics, data_splits, epochs):
    """The test metrics, the data and the time, in one box at the top."""
    scalars = {k: v for k, v in scoring.headline(metrics).items() if k != "examples"}
    scalars = {**{k: v for k, v in scalars.items() if k != "loss"}, **{k: v for k, v in scalars.items() if k == "loss"}}
    cards = "".join(f'<div class="card"><div class="name">test {html.escape(k)}</div>{_number(v, k)}</div>'
                    for k, v in list(scalars.items())[:HEADLINE_METRICS])
    counts = _split_counts(record, data_splits)
    split_text = ", ".join(f"{split} {counts[split]:,}" for split in ("train", "val", "test") if counts.get(split))
    names = list(record.get("class_names") or [])
    shown = ", ".join(map(str, names[:HEADLINE_CLASSES])) + (", ..." if len(names) > HEADLINE_CLASSES else "")
    source = str(record.get("data", ""))
    if record.get("test_data"):
        source += f" (test: {record['test_data']})"
    seconds = training_seconds(record)
    took = "training time not recorded" if seconds is None else f"trained in {_duration(seconds)}"
    when = str(record.get("created", "")).replace("T", " ")
    epoch_text = f"{epochs} epoch{'s' if epochs != 1 else ''}" if epochs else ""
    parts = (took, epoch_text, f"started {when}" if when else "",
             f"recipe {record['recipe']}" if record.get("recipe") else "",
             "settings planned from the data (--plan)" if record.get("plan") else "")
    run_facts = "; ".join(part for part in parts if part)
    facts = [f"<b>data</b> {html.escape(source)}",
             f"<b>examples</b> {html.escape(split_text or 'unknown')}",
             f"<b>classes</b> {len(names)}: {html.escape(shown)}"]
    return (f'<header id="headline"><h1>{html.escape(title)}</h1><div class="cards">{cards}</div>'
            + "".join(f'<p class="facts">{fact}</p>' for fact in facts)
            + f'<p class="facts">{html.escape(run_facts)}</p></header>')


# ------------------------------------------------------------------ settings and plan
def _defaults(config):
    """The pipeline's default config (None when the config class cannot be made bare)."""
    try:
        return type(config)()
    except (TypeError, ValueError):
        return None


def _override_or_none(base, assignments):
    """The flat settings of `base` with `key=value` assignments applied; None if they no longer apply."""
    try:
        return settings.flat(configs.override(base, list(assignments)))
    except ValueError:  # a recipe or plan from another version of the settings
        return None


def _setters(record, defaults):
    """{option: what set it}: the plan's keys, then the recipe's (when the value is still theirs)."""
    found = {}
    recipe_name = record.get("recipe")
    if recipe_name and defaults is not None:
        try:
            recipe = recipes.get(recipe_name, record.get("pipeline"))
        except ValueError:
            recipe = None
        recipe_values = _override_or_none(defaults, recipe.settings) if recipe else None
        found.update({key: (f"recipe {recipe_name}", value) for key, value in (recipe_values or {}).items()})
    for item in (record.get("plan") or {}).get("settings", []):
        found[item["key"]] = ("plan", None)
    return found


def _settings_section(record, config):
    """The settings that differ from the defaults (with their default and what set them), then
    every setting that applies folded away; an extension's only when it is on."""
    applied = settings.flat(config, applicable_only=True)
    defaults = _defaults(config)
    default_values = settings.flat(defaults) if defaults is not None else {}
    meanings = {row[0]: row[3] for row in setting_docs.rows(config)}
    setters = _setters(record, defaults)
    changed = {key: value for key, value in applied.items()
               if key not in default_values or default_values[key] != value}
    rows = []
    for key, value in changed.items():
        setter, recipe_value = setters.get(key, ("your setting", None))
        if setter.startswith("recipe") and recipe_value != value:
            setter = "your setting"
        rows.append([html.escape(key), html.escape(setting_docs.as_set_value(value)),
                     html.escape(setting_docs.as_set_value(default_values[key])) if key in default_values else "",
                     html.escape(setter), html.escape(meanings.get(key, ""))])
    table = (_table(rows, ["setting", "value", "default", "set by", "meaning"], "changed-settings") if rows
             else "<p>Every setting is the pipeline's default.</p>")
    off = [value.NAME for value in vars(config).values()
           if isinstance(value, settings.ExtensionSettings) and not value.enabled]
    off_text = (f"<p>Not used in this run: {html.escape(', '.join(off))} (their settings are left out).</p>"
                if off else "")
    every = [[html.escape(k), html.escape(setting_docs.as_set_value(v))] for k, v in applied.items()]
    folded = (f"<details><summary>All {len(every)} settings of this run</summary>"
              f"{_table(every, ['setting', 'value'], 'all-settings')}</details>")
    return f"<h2>Settings that differ from the defaults</h2>{table}{off_text}{folded}"


def _plan_section(record):
    """What `cnn train --plan` set and why, and the fingerprint it read (pipelines/core/planning.py)."""
    plan = record.get("plan")
    if not plan:
        return ""
    rows = [[html.escape(item["key"]), html.escape(str(item["value"])), html.escape(item.get("reason", ""))]
            for item in plan.get("settings", [])]
    text = (_table(rows, ["setting", "value", "why"], "plan-settings") if rows
            else "<p>The fingerprint called for no change to the defaults.</p>")
    if plan.get("overridden_by_user"):
        text += f"<p>Your own settings won over the plan for: {html.escape(', '.join(plan['overridden_by_user']))}.</p>"
    if plan.get("fingerprint"):
        try:
            summary = fingerprint.render(plan["fingerprint"])
        except (KeyError, TypeError):
            summary = json.dumps(plan["fingerprint"], indent=1)
        text += f"<details><summary>The data's fingerprint</summary><pre>{html.escape(summary)}</pre></details>"
    return f"<h2>The plan (docs/PLANNING.md)</h2>{text}"


def _curves_section(history, title, scratch, validated):
    """Loss and metrics per epoch (validation beside training); the epoch ticks in data-epoch-ticks."""
    if not history:
        return ""
    path, ticks = visualization.curves(scratch / "curves.png", history, title)
    note = "" if validated else ("<p>This run had no validation split (<code>validation_fraction=0</code>): "
                                 "training curves only.</p>")
    return ("<h2>Training curves</h2>" + note
            + _image(path, "training curves", epoch_ticks=",".join(ticks),
                     series=",".join(sorted(key for key in history if key != "epoch"))))


def _data_section(record, data_splits, per_class=True):
    counts = _split_counts(record, data_splits)
    splits_record = record.get("splits") or {}
    sources = [["data", html.escape(str(record.get("data")))], ["test data", html.escape(str(record.get("test_data")))],
               ["splits", html.escape(str(splits_record.get("data", "")))],
               ["test split", html.escape(str(splits_record.get("test", "")))],
               ["validation split", html.escape(str(splits_record.get("val", "none")))]]
    text = f"<h2>Data</h2>{_table(sources)}"
    names = record["class_names"]
    header = ["split", "examples", *names]
    rows = []
    for split in ("train", "val", "test"):
        examples = getattr(data_splits, split, None) if data_splits is not None else None
        per_class_counts = [""] * len(names)
        if per_class and examples is not None and len(examples):
            per_class_counts = np.bincount(np.asarray(examples.labels, np.int64), minlength=len(names)).tolist()
        rows.append([split, counts.get(split, 0), *(per_class_counts if per_class else [])])
    return text + "<h3>Split sizes and class counts</h3>" + _table(rows, header if per_class else header[:2])


def _metrics_section(metrics, scratch, title):
    scalars = scoring.headline(metrics)
    text = "<h2>Test metrics</h2>" + _table([[html.escape(k), _number(v, k)] for k, v in scalars.items()],
                                            ["metric", "value"])
    if "per_class" in metrics:
        rows = [[html.escape(name), _number(v["precision"], f"{name}/precision"),
                 _number(v["recall"], f"{name}/recall"), v["support"]] for name, v in metrics["per_class"].items()]
        text += "<h3>Per class</h3>" + _table(rows, ["class", "precision", "recall", "support"])
    if "confusion_matrix" in metrics:
        path = scratch / "confusion.png"
        scoring.plot_confusion_matrix(metrics["confusion_matrix"], metrics["class_names"], path, title)
        text += "<h3>Confusion matrix</h3>" + _image(path, "confusion matrix")
    return text


def most_confident_errors(labels, probabilities, count=ERRORS):
    """Indices of the wrongly predicted examples, the most confident first."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    predicted = probabilities.argmax(axis=-1)
    wrong = np.flatnonzero(predicted != labels)
    return wrong[np.argsort(-probabilities[wrong].max(axis=-1), kind="stable")][:count]


def _embed(path, alt):
    path = pathlib.Path(path)
    if path.suffix == ".png":
        return _image(path, alt)
    if path.suffix == ".html":
        return f'<iframe title="{html.escape(alt)}" srcdoc="{html.escape(path.read_text())}"></iframe>'
    return ""


def _errors_section(pipeline, model, examples, class_names, scratch, batch_size):
    """The most confident test errors with their saliency maps (classifiers)."""
    if examples is None or not len(examples):
        return ""
    labels, probabilities = pipeline.predict_examples(model.predict_on_batch, examples, batch_size)
    chosen = most_confident_errors(labels, probabilities)
    if not len(chosen):
        return "<h2>Most confident errors</h2><p>No test errors.</p>"
    saliency = explainer.for_model(model, pipeline)
    inputs, _ = next(iter(pipeline.input_dataset(examples.take(chosen), len(chosen))))
    inputs = np.asarray(inputs).astype(pipeline.input_spec().dtype.as_numpy_dtype)  # as served
    parts = ["<h2>Most confident errors</h2><p>Saliency (|d p / d input|, through the whole model) "
             "for the predicted class.</p>"]
    for row, index in enumerate(chosen):
        true, predicted = class_names[labels[index]], class_names[int(probabilities[index].argmax())]
        title = (f"test example {index}: true {true}, predicted {predicted} "
                 f"({probabilities[index].max():.3f})")
        batch = inputs[row:row + 1]
        maps = {predicted: saliency.maps(batch, "saliency", int(probabilities[index].argmax()))[0]}
        rendering = pipeline.render_explanation(title, batch[0], None, maps, str(scratch / f"error{row}"), model)
        pictures = "".join(_embed(f, title) for f in rendering.files)
        parts.append(f'<div class="error"><h4>{html.escape(title)}</h4>{pictures}</div>')
    return "".join(parts)


def _filters_section(model, scratch):
    try:
        conv = stages.first_convolution(model)
    except ValueError as error:  # a pipeline of one's own need not convolve
        return f"<h2>First-layer filters</h2><p>{html.escape(str(error))}</p>"
    filters = visualization.filters_png(scratch / "filters.png", np.asarray(conv.kernel), conv.name)
    return "<h2>First-layer filters</h2>" + _image(filters, "first-layer filters")


def export_section(export_path=None, signatures=()):
    """The export's path and signatures [(name, {input: spec}, {output: spec})], between markers."""
    if export_path is None:
        body = "<p>Not exported yet (<code>cnn export RUN</code> exports it and lists it here).</p>"
    else:
        rows = [[html.escape(name), html.escape(", ".join(f"{k}: {v}" for k, v in inputs.items())),
                 html.escape(", ".join(f"{k}: {v}" for k, v in outputs.items()))] for name, inputs, outputs in signatures]
        path = pathlib.Path(export_path)
        version = (f" (model {html.escape(path.parent.name)}, version {html.escape(path.name)})"
                   if path.name.isdigit() else "")
        body = (f"<p>SavedModel: <code>{html.escape(str(export_path))}</code>{version}</p>"
                + _table(rows, ["signature", "inputs", "outputs"]))
    return f"{EXPORT_START}<h2>Export</h2>{body}{EXPORT_END}"


def write(run_dir, pipeline, model, data_splits, metrics, record, export=None):
    """Write `<run_dir>/report.html`; `export` is (path, signatures) or None. Its path."""
    run_dir = pathlib.Path(run_dir)
    title = f"{record['pipeline']}: {run_dir.name}"
    classifier = "confusion_matrix" in metrics  # one class per example (not per voxel)
    history_file = run_dir / "history.csv"
    history = visualization.read_history(history_file) if history_file.is_file() else {}
    epochs = len(next(iter(history.values()))) if history else None
    validated = bool((record.get("splits") or {}).get("counts", {}).get("val")) or any(
        key.startswith("val_") for key in history)
    with tempfile.TemporaryDirectory(prefix="cnn-report-") as folder:
        scratch = pathlib.Path(folder)
        parts = [_headline(title, record, metrics, data_splits, epochs),
                 _settings_section(record, pipeline.config), _plan_section(record),
                 _curves_section(history, title, scratch, validated),
                 _metrics_section(metrics, scratch, title)]
        test = data_splits.test if data_splits is not None else None
        if classifier:
            parts.append(_errors_section(pipeline, model, test, record["class_names"], scratch,
                                         pipeline.config.batch_size))
        parts.append(_data_section(record, data_splits, classifier))
        parts.append(_filters_section(model, scratch))
        parts.append(export_section(*(export or (None,))))
        page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return files.write_text(run_dir / REPORT, page)


def refresh_export(run_dir, export_path):
    """After `cnn export RUN`: the export section of RUN/report.html replaced by `export_path`'s
    (no model is loaded; the rest of the page is kept). The report's path, or None when the run
    has no report.html (`cnn report RUN` writes one)."""
    page_file = pathlib.Path(run_dir) / REPORT
    if not page_file.is_file():
        return None
    page = page_file.read_text()
    start, end = page.find(EXPORT_START), page.find(EXPORT_END)
    if start < 0 or end < start:
        return None
    section = export_section(export_path, signatures_of(export_path))
    return files.write_text(page_file, page[:start] + section + page[end + len(EXPORT_END):])


def write_trained(run, pipeline):
    """The report of a just-trained `pipelines.engine.training.Run`, with its export (if any)."""
    export = (run.export_path, signatures_of(run.export_path)) if run.export_path else None
    return write(run.run_dir, pipeline, run.model, run.splits, run.metrics, run.record, export)


def signatures_of(export_path):
    """[(name, {input: "dtype shape"}, {output: "dtype shape"})] read from saved_model.pb alone
    (no graph is loaded)."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString((pathlib.Path(export_path) / "saved_model.pb").read_bytes())

    def describe(tensors):
        import tensorflow as tf

        return {key: f"{tf.dtypes.as_dtype(info.dtype).name} "
                     f"{[d.size if d.size >= 0 else None for d in info.tensor_shape.dim]}"
                for key, info in sorted(tensors.items())}

    graph = model.meta_graphs[0]
    return [(name, describe(sig.inputs), describe(sig.outputs))
            for name, sig in sorted(graph.signature_def.items()) if not name.startswith("__")]


def report_run(run_dir):
    """`cnn report RUN`: write the run's report.html again, with its export when that exists;
    (the report's path, notes for the user)."""
    import warnings

    run_dir = pathlib.Path(run_dir)
    run = artifacts.open(run_dir, artifacts.RUN)
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.json (the run was not evaluated)")
    pipeline, model, record = run.pipeline, run.model, run.record
    notes = []
    try:
        data_splits = runs.splits_of(pipeline, record)
    except (OSError, ValueError) as error:
        data_splits = None
        notes.append(f"the run's data cannot be read ({error}): no class counts or errors in the report")
    export = None
    if record.get("export") and (pathlib.Path(record["export"]) / "saved_model.pb").is_file():
        export = (record["export"], signatures_of(record["export"]))
    elif record.get("export"):
        notes.append(f"the run's export {record['export']} is gone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write(run_dir, pipeline, model, data_splits, json.loads(metrics_file.read_text()), record, export)
    return path, notes
