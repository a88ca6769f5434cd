"""`cnn explain MODEL FILE...` for a run folder or an export (analysis/artifacts.py).

A run folder is explained from its model.keras, an export through its float `serving_default`
signature, where Grad-CAM falls back to integrated gradients and says so; an export whose input
is a string (text) has no gradient at all: explain the run folder it came from
(analysis/explanations/explainer.py).
"""
from __future__ import annotations

from analysis import artifacts
from analysis.explanations import explainer


def explain(model_path, files, method="saliency", target=None, out_dir=None, layer=None):
    """The lines `cnn explain` prints: per file, the prediction and the files written."""
    return explainer.explain_model(artifacts.open(model_path), files, method, target, out_dir, layer)
