"""`cnn serving-config`: the files TensorFlow Serving is started with, for the exports under ROOT.

- `models.config`: a `ModelServerConfig` text proto (tensorflow-serving-api's own message, so
  the server parses what we write) with one `config` per model folder, its `model_version_policy`
  and optional `version_labels`. TF Serving only assigns a label to a version it has loaded, so
  labelled versions are served with a `specific` policy that also keeps the latest ones.
- `batching_parameters.txt`: the CPU-only starting point of TF Serving's batching guide:
  `num_batch_threads` = CPU cores, a high `max_batch_size`, `batch_timeout_micros` 0 (then try
  1-10 ms), `max_enqueued_batches` = `num_batch_threads` for online serving.
- `monitoring.config`: Prometheus metrics at `/monitoring/prometheus/metrics` on the REST port.
"""
from __future__ import annotations

import os
import pathlib
import re

MODELS_CONFIG = "models.config"
BATCHING = "batching_parameters.txt"
MONITORING = "monitoring.config"
METRICS_PATH = "/monitoring/prometheus/metrics"


def model_versions(root):
    """{model name: sorted integer versions} of the SavedModels under `root` (what TF Serving sees)."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: no such folder of exports")
    models = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = sorted(int(v.name) for v in folder.iterdir()
                          if v.name.isdigit() and (v / "saved_model.pb").is_file())
        if versions:
            models[folder.name] = versions
    return models


def parse_labels(assignments, models):
    """["digits:stable=1", ...] -> {model: {label: version}}, checked against the exports."""
    labels = {}
    for text in assignments:
        match = re.fullmatch(r"([^:=]+):([A-Za-z_][\w-]*)=(\d+)", text.strip())
        if not match:
            raise ValueError(f"--version-label {text!r}: expected MODEL:LABEL=VERSION, e.g. digits:stable=1")
        model, label, version = match.group(1), match.group(2), int(match.group(3))
        if model not in models:
            raise ValueError(f"--version-label {text}: no model '{model}' (models: {', '.join(models) or 'none'})")
        if version not in models[model]:
            raise ValueError(f"--version-label {text}: {model} has no version {version} "
                             f"(versions: {', '.join(map(str, models[model]))})")
        labels.setdefault(model, {})[label] = version
    return labels


def models_config(models, base_path, latest=1, all_versions=False, labels=None):
    """The `ModelServerConfig` for `models` ({name: versions}), models under `base_path`/<name>."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for name, versions in models.items():
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{str(base_path).rstrip('/')}/{name}"
        entry.model_platform = "tensorflow"
        policy = entry.model_version_policy
        named = (labels or {}).get(name, {})
        if all_versions:
            policy.all.SetInParent()
        elif named:
            policy.specific.versions.extend(sorted({*versions[-latest:], *named.values()}))
        else:
            policy.latest.num_versions = latest
        for label, version in sorted(named.items()):
            entry.version_labels[label] = version
    return config


def batching_parameters(cores):
    return (f"num_batch_threads {{ value: {cores} }}\n"
            "max_batch_size { value: 1024 }\n"
            "batch_timeout_micros { value: 0 }\n"
            f"max_enqueued_batches {{ value: {cores} }}\n")


def max_batch_size(root):
    """`max_batch_size` of ROOT/batching_parameters.txt (what `cnn serve` enforces), or None."""
    path = pathlib.Path(root) / BATCHING
    match = re.search(r"max_batch_size\s*\{\s*value:\s*(\d+)", path.read_text()) if path.is_file() else None
    return int(match.group(1)) if match else None


def monitoring_config():
    return f'prometheus_config {{\n  enable: true\n  path: "{METRICS_PATH}"\n}}\n'


def write(root, base_path=None, output_dir=None, latest=1, all_versions=False, labels=(), cores=None):
    """Write the three files (into `output_dir`, default `root`); their paths."""
    from google.protobuf import text_format

    if latest < 1:
        raise ValueError(f"--latest {latest}: must be at least 1")
    models = model_versions(root)
    if not models:
        raise ValueError(f"{root}: no exported models (expected <model>/<integer version>/saved_model.pb)")
    config = models_config(models, base_path or pathlib.Path(root).resolve(), latest, all_versions,
                           parse_labels(labels, models))
    output = pathlib.Path(output_dir or root)
    output.mkdir(parents=True, exist_ok=True)
    files = {
        MODELS_CONFIG: text_format.MessageToString(config),
        BATCHING: batching_parameters(cores or os.cpu_count() or 1),
        MONITORING: monitoring_config(),
    }
    for name, text in files.items():
        (output / name).write_text(text)
    return [output / name for name in files]
