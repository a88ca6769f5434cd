"""`cnn explain MODEL FILE...` for a run folder or an export.

A run folder is explained from its model.keras (analysis/explanations/explainer.py). An export
holds a graph from the served input to the outputs and nothing between: its `serving_default` signature is
differentiable (the layers' custom gradients are saved with it), so the gradient methods run
through it, over the raw input, preprocessing included. Grad-CAM needs a convolution stage's
activations, which no signature exposes (and adding outputs would change what TF Serving
serves), so on an export it falls back to integrated gradients and says so. An export whose input
is a string (text) has no gradient at all: explain the run folder it came from.
"""
from __future__ import annotations

import pathlib

from analysis import evaluation
from analysis.explanations import explainer, methods
from pipelines.core import runs
from serving import export

GRADCAM_FALLBACK = ("Grad-CAM needs a convolution stage's activations, which an export's signatures "
                    "do not expose; explaining with integrated-gradients over the served input instead "
                    "(the run folder gives Grad-CAM)")


def explain(model_path, files, method="saliency", target=None, out_dir=None, layer=None):
    """The lines `cnn explain` prints: per file, the prediction and the files written."""
    model_path = pathlib.Path(model_path)
    if method not in methods.METHODS:
        raise ValueError(f"--method {method}: unknown (known: {', '.join(methods.METHODS)})")
    if evaluation.is_export(model_path):
        return explain_export(model_path, files, method, target, out_dir, layer)
    if (model_path / runs.CONFIG).is_file():
        return explainer.explain_run(model_path, files, method, target, out_dir, layer)
    raise FileNotFoundError(f"{model_path}: neither a run folder nor a SavedModel export")


def export_explainer(export_path, pipeline, metadata):
    """An Explainer through the export's `serving_default` (features = the served input)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export_path))  # kept alive by `head`: it owns the variables
    function = loaded.signatures["serving_default"]
    name = metadata["input"]
    spec = function.structured_input_signature[1][name]
    if not spec.dtype.is_floating:
        source = metadata.get("run_dir") or "the run folder it was exported from"
        raise ValueError(f"{export_path}: the export's input '{name}' is {spec.dtype.name}, which has no "
                         f"gradient; explain the run folder instead ({source})")

    def head(batch, loaded=loaded):
        return function(**{name: tf.cast(batch, spec.dtype)})["probabilities"]

    return explainer.Explainer(lambda batch: tf.convert_to_tensor(batch, spec.dtype), head,
                               pipeline.explain_channels, no_stage=GRADCAM_FALLBACK)


def explain_export(export_path, files, method, target, out_dir=None, layer=None):
    metadata = export.read_metadata(export_path)
    if layer is not None:
        raise ValueError(f"{export_path}: --layer needs a run folder (an export exposes no layers)")
    class_names = metadata["class_names"]
    explainer.check_request(files, method, target, class_names)
    pipeline = runs.pipeline_from_record(metadata)
    through_export = export_explainer(export_path, pipeline, metadata)
    lines = []
    if method == "gradcam":
        lines.append(GRADCAM_FALLBACK)
        method = "integrated-gradients"
    out_dir = pathlib.Path(out_dir or "explanations")
    for file in files:
        rendering = explainer.explain_file(pipeline, through_export, file, method, class_names, out_dir, target)
        lines += rendering.lines + [f"  {f}" for f in rendering.files]
    return lines

