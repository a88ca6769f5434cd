"""One model prepared for explanations, and `cnn explain` on a run folder or an export.

An `Explainer` holds what the methods need: `features` (served input batch -> the tensor the
maps are over, `Pipeline.explain_layer`), `head` (those features -> probabilities) and, when the
graph has one, a Grad-CAM `stage` (served input -> (activations, probabilities)). A run's Keras
model gives all three; an export gives only its float signature (`export_explainer`).
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from analysis import artifacts
from analysis.explanations import METHODS, methods, stages
from pipelines.core import render

# Grad-CAM needs a convolution stage's activations, which no signature of an export exposes (and
# adding outputs would change what TF Serving serves).
GRADCAM_FALLBACK = ("Grad-CAM needs a convolution stage's activations, which an export's signatures "
                    "do not expose; explaining with integrated-gradients over the served input instead "
                    "(the run folder gives Grad-CAM)")


@dataclasses.dataclass
class Explainer:
    features: object  # served input batch -> features (B, ...)
    head: object  # features -> probabilities (B, ..., K)
    channels: bool  # the features' last axis is channels (reduced in the maps)
    stage: object = None  # served input batch -> (activations, probabilities), for Grad-CAM
    no_stage: str = "this model has no Grad-CAM stage"  # why, when `stage` is None
    model: object = None  # the Keras model, when there is one (text tokens, visualisation)

    def maps(self, batch, method, target):
        """(B, *features spatial) maps of `method` for class index `target` (an int, or one
        per example)."""
        features = self.features(batch)
        if method == "gradcam":
            if self.stage is None:
                raise ValueError(self.no_stage)
            cam = methods.gradcam(self.stage, batch, target)
            shape = np.asarray(features).shape[1:-1] if self.channels else np.asarray(features).shape[1:]
            return methods.resize(cam, shape)
        if method == "saliency":
            return methods.saliency(self.head, features, target, self.channels)
        if method == "smoothgrad":
            return methods.smoothgrad(self.head, features, target, self.channels)
        if method == "integrated-gradients":
            return methods.integrated_gradients(self.head, features, target, self.channels)
        raise ValueError(f"--method {method}: unknown (known: {', '.join(METHODS)})")

    def probabilities(self, batch):
        return np.asarray(self.head(self.features(batch)), np.float32)


def for_model(model, pipeline, layer=None):
    """The Explainer of a Keras model of `pipeline` (maps over `pipeline.explain_layer`);
    `layer` names the Grad-CAM stage (default: `stages.default_stage`)."""
    cut = stages.at_layer(model, pipeline.explain_layer)
    explainer = Explainer(cut.front, cut.back, pipeline.explain_channels, model=model)
    try:
        explainer.stage, _ = stages.conv_stage(model, layer)
    except ValueError as error:
        if layer is not None:
            raise
        explainer.no_stage = str(error)
    return explainer


def target_index(target, class_names):
    """The class index of `--target CLASS` (a name, or an index when no name matches)."""
    names = [str(name) for name in class_names]
    if str(target) in names:
        return names.index(str(target))
    if str(target).isdigit() and int(target) < len(names):
        return int(target)
    raise ValueError(f"--target {target}: not a class of this model (classes: {', '.join(names)})")


def explain_file(pipeline, explainer, path, method, class_names, out_dir, target=None):
    """Explain one file: maps for `target` (default: the pipeline's `explain_targets`) drawn by
    the pipeline's `render_explanation`; the `Rendering`, with a headline line first."""
    example, context = pipeline.explain_input(str(path))
    batch = np.asarray(example)[None]
    probabilities = explainer.probabilities(batch)[0]
    targets = ([target_index(target, class_names)] if target is not None
               else pipeline.explain_targets(probabilities, class_names))
    maps = {class_names[t]: explainer.maps(batch, method, t)[0] for t in targets}
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / f"{render.safe_name(pathlib.Path(path).name.split('.')[0])}_{method}"
    rendering = pipeline.render_explanation(str(path), example, context, maps, str(prefix), explainer.model)
    classes = probabilities.reshape(-1, len(class_names)).mean(axis=0)
    best = int(classes.argmax())
    headline = f"{path}\tpredicted {class_names[best]} ({classes[best]:.4f})\tmaps: {', '.join(map(str, maps))}"
    return render.Rendering([], [headline]).extend(rendering)


def check_request(files, method, target, class_names):
    """Refuse an unknown method, a missing file or a class the model lacks, by name, before
    any model is loaded."""
    if method not in METHODS:
        raise ValueError(f"--method {method}: unknown (known: {', '.join(METHODS)})")
    for file in files:
        if not pathlib.Path(file).is_file():
            raise FileNotFoundError(f"{file}: no such file")
    if target is not None:
        target_index(target, class_names)


def explain_run(run_dir, files, method="saliency", target=None, out_dir=None, layer=None):
    """`cnn explain RUN FILE...`: every file explained with the run's model.keras; the lines to
    print."""
    return explain_model(artifacts.open(run_dir, artifacts.RUN), files, method, target, out_dir, layer)


def explain_model(artifact, files, method="saliency", target=None, out_dir=None, layer=None):
    """Every file explained with an opened run folder or export (analysis/artifacts.py); the
    lines to print. Files are checked to exist before the model is loaded. Default `out_dir`:
    the run's explanations/, or ./explanations for an export."""
    if artifact.kind == artifacts.EXPORT and layer is not None:
        raise ValueError(f"{artifact.path}: --layer needs a run folder (an export exposes no layers)")
    class_names = artifact.class_names
    check_request(files, method, target, class_names)
    lines = []
    if artifact.kind == artifacts.RUN:
        explaining = for_model(artifact.model, artifact.pipeline, layer)
        if method == "gradcam" and explaining.stage is None:
            raise ValueError(f"{artifact.path}: {explaining.no_stage}")
        out_dir = pathlib.Path(out_dir or artifact.path / "explanations")
    else:
        explaining = export_explainer(artifact)
        if method == "gradcam":
            lines.append(GRADCAM_FALLBACK)
            method = "integrated-gradients"
        out_dir = pathlib.Path(out_dir or "explanations")
    for file in files:
        rendering = explain_file(artifact.pipeline, explaining, file, method, class_names, out_dir, target)
        lines += rendering.lines + [f"  {f}" for f in rendering.files]
    return lines


def export_explainer(artifact):
    """An Explainer through an export's `serving_default` (features = the served input): the
    signature is differentiable, our layers' custom gradients saved with it, so the gradient
    methods run over the raw input, preprocessing included. A string input (text) has none."""
    import tensorflow as tf

    function = artifact.saved_model.signatures["serving_default"]
    name = artifact.record["input"]
    spec = function.structured_input_signature[1][name]
    if not spec.dtype.is_floating:
        source = artifact.record.get("run_dir") or "the run folder it was exported from"
        raise ValueError(f"{artifact.path}: the export's input '{name}' is {spec.dtype.name}, which has no "
                         f"gradient; explain the run folder instead ({source})")

    def head(batch):
        return artifact.probabilities(tf.cast(batch, spec.dtype))

    return Explainer(lambda batch: tf.convert_to_tensor(batch, spec.dtype), head,
                     artifact.pipeline.explain_channels, no_stage=GRADCAM_FALLBACK)
