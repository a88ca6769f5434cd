"""`report.html`: one self-contained page per run (images embedded as base64, no network),
written when `cnn train` ends and again by `cnn report RUN`; the export section is read from
saved_model.pb alone.

It holds the config, the data (sources, split sizes, class counts), the training curves, the
test metrics (each number also in a `data-value` attribute, exactly as in metrics.json), the
confusion matrix and per-class precision and recall, the most confident test errors each with
its explanation (saliency through the whole model, drawn by the pipeline's
`render_explanation`), the first-layer filters, and the export with its signatures (between
HTML comment markers).
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
from pipelines.core import files, runs, scoring, settings

REPORT = "report.html"
ERRORS = 4  # most confident errors shown, each with its explanation
EXPORT_START, EXPORT_END = "<!-- export -->", "<!-- /export -->"
STYLE = """body { font-family: sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #eee; text-align: left; } img { max-width: 100%; } .error { margin-bottom: 1.5em; }
iframe { width: 100%; height: 8em; border: 1px solid #ccc; }"""


def _image(path, alt):
    data = base64.b64encode(pathlib.Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows, header=None):
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _number(value, key):
    """A metric cell: 4 decimals shown, the exact value in `data-value` (for checks)."""
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f'<span class="metric" data-key="{html.escape(key)}" data-value="{value!r}">{shown}</span>'


def _config_section(record, config):
    """The settings that apply to the run (an extension's only when it is on)."""
    shown = settings.flat(config, applicable_only=True)
    rows = [[html.escape(k), html.escape(json.dumps(v))] for k, v in shown.items()]
    recipe = f"<p>recipe: {html.escape(str(record['recipe']))}</p>" if record.get("recipe") else ""
    return f"<h2>Config</h2>{recipe}{_table(rows, ['setting', 'value'])}"


def _data_section(record, data_splits, per_class=True):
    counts = record["splits"].get("counts", {})
    sources = [["data", html.escape(str(record["data"]))], ["test data", html.escape(str(record.get("test_data")))],
               ["splits", html.escape(str(record["splits"].get("data", "")))],
               ["test split", html.escape(str(record["splits"].get("test", "")))]]
    text = f"<h2>Data</h2>{_table(sources)}"
    names = record["class_names"]
    header = ["split", "examples", *names]
    rows = []
    for split in ("train", "val", "test"):
        examples = getattr(data_splits, split, None) if data_splits is not None else None
        per_class_counts = [""] * len(names)
        if per_class and examples is not None and len(examples):
            per_class_counts = np.bincount(np.asarray(examples.labels, np.int64), minlength=len(names)).tolist()
        rows.append([split, counts.get(split, len(examples) if examples is not None else 0),
                     *(per_class_counts if per_class else [])])
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
        body = "<p>Not exported yet (<code>cnn export RUN</code>; <code>cnn report RUN</code> then lists it).</p>"
    else:
        rows = [[html.escape(name), html.escape(", ".join(f"{k}: {v}" for k, v in inputs.items())),
                 html.escape(", ".join(f"{k}: {v}" for k, v in outputs.items()))] for name, inputs, outputs in signatures]
        body = f"<p>SavedModel: <code>{html.escape(str(export_path))}</code></p>" + _table(rows, ["signature", "inputs", "outputs"])
    return f"{EXPORT_START}<h2>Export</h2>{body}{EXPORT_END}"


def write(run_dir, pipeline, model, data_splits, metrics, record, export=None):
    """Write `<run_dir>/report.html`; `export` is (path, signatures) or None. Its path."""
    run_dir = pathlib.Path(run_dir)
    title = f"{record['pipeline']}: {run_dir.name}"
    classifier = "confusion_matrix" in metrics  # one class per example (not per voxel)
    with tempfile.TemporaryDirectory(prefix="cnn-report-") as folder:
        scratch = pathlib.Path(folder)
        parts = [f"<h1>{html.escape(title)}</h1><p>created {html.escape(str(record.get('created', '')))}</p>",
                 _config_section(record, pipeline.config), _data_section(record, data_splits, classifier)]
        history = run_dir / "history.csv"
        if history.is_file() and visualization.read_history(history):
            curves = visualization.curves_png(scratch / "curves.png", visualization.read_history(history), title)
            parts.append("<h2>Training curves</h2>" + _image(curves, "training curves"))
        parts.append(_metrics_section(metrics, scratch, title))
        test = data_splits.test if data_splits is not None else None
        if classifier:
            parts.append(_errors_section(pipeline, model, test, record["class_names"], scratch,
                                         pipeline.config.batch_size))
        parts.append(_filters_section(model, scratch))
        parts.append(export_section(*(export or (None,))))
        page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return files.write_text(run_dir / REPORT, page)


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
