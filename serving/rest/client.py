"""`cnn predict --server URL MODEL FILE...`: a client of TF Serving's REST API (standard library only).

It asks the model's metadata which signature takes encoded files (a DT_STRING input named
`*_bytes`, or a DT_STRING `serving_default` input such as `text`) and sends the files' bytes as
`{"b64": ...}`, which TF Serving decodes itself; `.npy` files go to `serving_default` as JSON
numbers. One request for all files, in the row (`instances`) or columnar (`inputs`) format;
`version` or `label` pick the version in the URL. Error bodies become one-line ValueErrors.
"""
from __future__ import annotations

import base64
import json
import pathlib
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from pipelines.core import predictions, scoring


class Refused(ValueError):
    """The server answered a request with an error (HTTP 4xx/5xx): the request, not the connection."""


def model_url(server, model, version=None, label=None):
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    url = f"{server.rstrip('/')}/v1/models/{urllib.parse.quote(model, safe='')}"
    if version is not None:
        url += f"/versions/{int(version)}"
    elif label is not None:
        url += f"/labels/{urllib.parse.quote(label, safe='')}"
    return url


def call(url, body=None, timeout=60):
    """GET (or POST `body` as JSON) and decode the JSON answer; TF Serving's errors as ValueError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            message = text.strip() or error.reason
        raise Refused(f"{url}: HTTP {error.code}: {' '.join(str(message).split())}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise ValueError(f"{url}: cannot reach the server ({reason})") from None


def choose_signature(signature_defs):
    """(signature name, input name) of the signature that takes encoded files, or None."""
    for name, definition in sorted(signature_defs.items()):
        inputs = definition.get("inputs", {})
        if len(inputs) == 1:
            (key, tensor), = inputs.items()
            if key.endswith("_bytes") and tensor.get("dtype") == "DT_STRING":
                return name, key
    inputs = signature_defs.get("serving_default", {}).get("inputs", {})
    if len(inputs) == 1 and next(iter(inputs.values())).get("dtype") == "DT_STRING":
        return "serving_default", next(iter(inputs))
    return None


def request_body(files, signature_defs, columnar=False):
    """The predict request for `files`: encoded files as b64, `.npy` arrays as numbers."""
    arrays = [f for f in files if f.suffix.lower() == ".npy"]
    if arrays and len(arrays) != len(files):
        raise ValueError("give either .npy arrays or encoded files in one call, not both")
    if arrays:
        inputs = signature_defs.get("serving_default", {}).get("inputs", {})
        if len(inputs) != 1:
            raise ValueError("serving_default does not have exactly one input")
        signature, key = "serving_default", next(iter(inputs))
        values = [np.load(f, allow_pickle=False).tolist() for f in files]
    else:
        chosen = choose_signature(signature_defs)
        if chosen is None:
            raise ValueError("this model has no signature for encoded files (a DT_STRING *_bytes input); "
                             "send .npy arrays instead")
        signature, key = chosen
        values = [{"b64": base64.b64encode(f.read_bytes()).decode()} for f in files]
    if columnar:
        return {"signature_name": signature, "inputs": {key: values}}
    return {"signature_name": signature, "instances": values}


def describe(path, outputs):
    """One line per file: path, label, probability; or the shape of each output (segmentation)."""
    if "label" in outputs and "probabilities" in outputs:
        return scoring.prediction_line(path, outputs["label"], outputs["probabilities"])
    shapes = " ".join(f"{key}={list(np.shape(value))}" for key, value in sorted(outputs.items()))
    return f"{path}\t{shapes}"


def per_file(reply, count):
    """The response (row or columnar) as one {output: value} dict per file."""
    if "predictions" in reply:
        rows = reply["predictions"]
        return [row if isinstance(row, dict) else {"output": row} for row in rows]
    outputs = reply["outputs"]
    outputs = outputs if isinstance(outputs, dict) else {"output": outputs}
    return [{key: value[i] for key, value in outputs.items()} for i in range(count)]


def _names(label, probabilities):
    """Class names as far as the reply gives them: TF Serving's API carries only the top class's
    label, so the others are named by their class id."""
    label = label.decode() if isinstance(label, bytes) else str(label)
    top = int(np.argmax(probabilities))
    return lambda class_id: label if class_id == top else f"class {class_id}"


def _prediction(file, outputs, top_k):
    """A `predictions.Prediction` from one file's outputs (a line of shapes for segmentation)."""
    if "label" in outputs and "probabilities" in outputs:
        probabilities = np.asarray(outputs["probabilities"], np.float64)
        predictions.check_top_k(top_k, probabilities.shape[-1])
        return predictions.Prediction.of(file, probabilities, _names(outputs["label"], probabilities), top_k)
    return predictions.Prediction(str(file), line=describe(file, outputs))


def predict(server, model, inputs, version=None, label=None, columnar=False, timeout=60, top_k=1):
    """A `predictions.Prediction` per file of `inputs` (files, folders, glob patterns), in order.
    One request for all files; when the server refuses it, one request per file, so that each
    bad file is named and the others are still answered. A missing file is named without asking."""
    files, empty = predictions.expand(inputs)
    results = [predictions.Prediction(given, error=predictions.nothing_found(given)) for given in empty]
    present = [file for file in files if file.is_file()]
    results += [predictions.Prediction.failed(file, "no such file") for file in files if not file.is_file()]
    if not present:
        return results
    url = model_url(server, model, version, label)
    signature_defs = call(f"{url}/metadata", timeout=timeout)["metadata"]["signature_def"]["signature_def"]

    def ask(batch):
        reply = call(f"{url}:predict", request_body(batch, signature_defs, columnar), timeout=timeout)
        return [_prediction(file, outputs, top_k) for file, outputs in zip(batch, per_file(reply, len(batch)))]

    try:
        return results + ask(present)
    except Refused as refused:
        if len(present) == 1:
            return results + [predictions.Prediction.failed(present[0], refused)]
    for file in present:
        try:
            results += ask([file])
        except Refused as refused:
            results.append(predictions.Prediction.failed(file, refused))
    return results
