"""Test metrics from labels and predicted probabilities, and the report files of a run.

Metrics are computed from probabilities alone, so a run folder (Keras model) and an exported
SavedModel evaluated on the same data give the same numbers. Keys follow Keras: `loss`,
`accuracy`, and `auc` for two-class tasks.
"""
from __future__ import annotations

import json

import numpy as np

from pipelines.core import files


def classification_report(labels, probabilities, class_names):
    """loss, accuracy, (auc), per-class precision/recall/support, confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    labels = np.asarray(labels, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    count = len(class_names)
    predicted = probabilities.argmax(axis=-1)
    chosen = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    report = {
        "loss": float(-np.log(chosen).mean()),
        "accuracy": float((predicted == labels).mean()),
    }
    if count == 2 and len(np.unique(labels)) == 2:
        report["auc"] = float(roc_auc_score(labels, probabilities[:, 1]))
    precision, recall, _, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(count)), zero_division=0
    )
    report["per_class"] = {
        name: {"precision": float(p), "recall": float(r), "support": int(s)}
        for name, p, r, s in zip(class_names, precision, recall, support)
    }
    report["confusion_matrix"] = confusion_matrix(labels, predicted, labels=list(range(count))).tolist()
    report["class_names"] = list(class_names)
    report["examples"] = int(len(labels))
    return report


def prediction_line(path, label, probabilities):
    """The `cnn predict` line of one file: path, label and the top probability, tab-separated."""
    label = label.decode() if isinstance(label, bytes) else str(label)
    return f"{path}\t{label}\t{float(np.max(probabilities)):.4f}"


def headline(metrics):
    """The scalar metrics, for printing."""
    return {key: value for key, value in metrics.items() if isinstance(value, (int, float))}


def write_json(metrics, path):
    files.write_text(path, json.dumps(metrics, indent=2))


def plot_confusion_matrix(matrix, class_names, path, title):
    """A PNG of the confusion matrix (rows: true class, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    size = max(4.0, 0.5 * len(class_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=90 if len(class_names) > 6 else 0)
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(class_names) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, column), value in np.ndenumerate(matrix):
            axes.text(column, row, str(value), ha="center", va="center", fontsize=8,
                      color="white" if value > threshold else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
