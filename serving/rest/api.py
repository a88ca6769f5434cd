"""TF Serving's REST API formats, as documented (tensorflow.org/tfx/serving/api_rest): URL paths,
predict request bodies to tensors, tensors to response bodies, and its `{"error": ...}` replies.

Row format: `{"instances": [...]}`, one element per example (a value if the signature has one
input, else an object of named inputs), answered with `{"predictions": [...]}`. Columnar:
`{"inputs": value or {name: value}}`, answered with `{"outputs": ...}`. `{"b64": ...}` is only
valid for DT_STRING inputs and is decoded here, never in the graph; string outputs come back as
UTF-8 text, or as `{"b64": ...}` when the output name ends in `_bytes`.
"""
from __future__ import annotations

import base64
import json
import re

import numpy as np

PATH = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?/?$"
)


class ApiError(Exception):
    """An error answered as `{"error": message}` with HTTP `status` (400 bad request, 404 not found)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message, self.status = message, status


def parse_path(path):
    """`/v1/models/M[/versions/V|/labels/L][/metadata|:predict]` -> (model, version, label, action)."""
    match = PATH.match(path.split("?", 1)[0])
    if not match:
        raise ApiError(f"Malformed request: {path}", 404)
    version = match["version"]
    # ASCII digits within int64, as TF Serving parses it ("²".isdigit() is True, int("²") fails)
    if version is not None and not (re.fullmatch(r"[0-9]{1,19}", version) and int(version) < 2**63):
        raise ApiError(f"Failed to convert version: {version} to numeric.", 400)
    action = (match["action"] or "status").lstrip("/:")
    return match["model"], int(version) if version else None, match["label"], action


def _as_string(value):
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise ApiError(f"JSON Value: {json.dumps(value)} not formatted correctly for base64 data")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise ApiError(f"Unable to base64 decode: {value['b64'][:40]}") from None
    if isinstance(value, str):
        return value.encode()
    raise ApiError(f"JSON Value: {json.dumps(value)} Type: {type(value).__name__} is not of expected type: string")


def _strings(value):
    return [_strings(item) for item in value] if isinstance(value, list) else _as_string(value)


def _find_object(value):
    """The first JSON object inside nested lists, or None."""
    if isinstance(value, dict):
        return value
    for item in value if isinstance(value, list) else ():
        found = _find_object(item)
        if found is not None:
            return found
    return None


def to_tensor(value, spec, where):
    """A JSON value -> NumPy array of `spec`'s dtype and a compatible shape (without batch checks
    beyond the spec); ApiError in TF Serving's words otherwise."""
    dtype = spec.dtype
    try:
        if dtype.name == "string":
            array = np.array(_strings(value), dtype=object)
        else:
            array = np.array(value, dtype=dtype.as_numpy_dtype)
    except (TypeError, ValueError) as error:
        found = _find_object(value)
        if isinstance(found, dict):
            raise ApiError(f"{where}: JSON Value: {json.dumps(found)[:80]} Type: Object is not of "
                           f"expected type: {dtype.name}") from None
        if "inhomogeneous" in str(error) or "sequence" in str(error):
            raise ApiError(f"{where}: Expecting tensors of one shape (all rows the same length); "
                           "ragged rows must use the columnar 'inputs' format or padding") from None
        raise ApiError(f"{where}: JSON Value is not of expected type: {dtype.name}") from None
    if array.dtype == object and dtype.name == "string" and array.ndim and any(
            isinstance(item, list) for item in array.ravel()):
        raise ApiError(f"{where}: Expecting tensors of one shape (all rows the same length)")
    if not spec.shape.is_compatible_with(array.shape):
        raise ApiError(f"{where}: Expected shape {_shape(spec.shape)} but got {list(array.shape)}")
    return array


def _shape(shape):
    return [-1 if d is None else d for d in shape.as_list()]


def batch_size(request):
    """The batch a predict request asks for: its rows, or the first dimension of its inputs."""
    if "instances" in request:
        value = request["instances"]
        return len(value) if isinstance(value, list) else 1
    value = request.get("inputs")
    values = value.values() if isinstance(value, dict) and "b64" not in value else [value]
    return max((len(v) if isinstance(v, list) else 1 for v in values), default=0)


def request_tensors(body, inputs_of, max_batch_size=None):
    """The predict request `body` (bytes) -> ({input name: array}, row format?, signature name);
    `inputs_of(signature name)` gives that signature's {input name: TensorSpec}. A batch above
    `max_batch_size` is refused with TF Serving's batching error, before any tensor is built."""
    try:
        request = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(f"JSON Parse error: {error}") from None
    except RecursionError:
        raise ApiError("JSON Parse error: the request nests too deeply") from None
    if not isinstance(request, dict):
        raise ApiError("JSON Parse error: the request body must be a JSON object")
    signature = request.get("signature_name", "serving_default")
    if not isinstance(signature, str):
        raise ApiError(f"'signature_name' must be a string, not: {json.dumps(signature)[:80]}")
    if "instances" in request and "inputs" in request:
        raise ApiError("Not allowed to have both 'inputs' and 'instances' keys")
    if "instances" not in request and "inputs" not in request:
        raise ApiError("Missing 'inputs' or 'instances' key")
    size = batch_size(request)
    if max_batch_size is not None and size > max_batch_size:
        raise ApiError(f"Task size {size} is larger than maximum input batch size {max_batch_size}")
    if "instances" in request:
        return _rows(request["instances"], inputs_of(signature)), True, signature
    return _columns(request["inputs"], inputs_of(signature)), False, signature


def _check_names(given, inputs, where):
    unknown = sorted(set(given) - set(inputs))
    if unknown:
        raise ApiError(f"{where}: JSON object: does not have named input: {unknown[0]} "
                       f"(inputs: {', '.join(sorted(inputs))})")
    missing = sorted(set(inputs) - set(given))
    if missing:
        raise ApiError(f"{where}: missing named input: {missing[0]}")


def _rows(instances, inputs):
    if not isinstance(instances, list) or not instances:
        raise ApiError("'instances' must be a non-empty JSON list")
    named = all(isinstance(row, dict) and "b64" not in row for row in instances)
    if not named:
        if len(inputs) != 1:
            raise ApiError(f"'instances' must hold objects naming the inputs ({', '.join(sorted(inputs))})")
        (name, spec), = inputs.items()
        return {name: to_tensor(instances, spec, "instances")}
    for index, row in enumerate(instances):
        _check_names(row, inputs, f"Failed to process element: {index} of 'instances' list")
    return {name: to_tensor([row[name] for row in instances], spec, f"instances, input {name}")
            for name, spec in inputs.items()}


def _columns(value, inputs):
    if isinstance(value, dict) and "b64" not in value:
        _check_names(value, inputs, "'inputs'")
        return {name: to_tensor(value[name], spec, f"inputs, input {name}") for name, spec in inputs.items()}
    if len(inputs) != 1:
        raise ApiError(f"'inputs' must be an object naming the inputs ({', '.join(sorted(inputs))})")
    (name, spec), = inputs.items()
    return {name: to_tensor(value, spec, "inputs")}


def _json_value(name, array):
    if array.dtype == object:
        if name.endswith("_bytes"):
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(array).tolist()
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(array).tolist()
    return array.tolist()


def response_body(outputs, row_format):
    """Serving outputs ({name: array, batch first}) -> the predict response object."""
    values = {name: _json_value(name, np.asarray(array)) for name, array in sorted(outputs.items())}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    count = len(next(iter(values.values())))
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{name: value[i] for name, value in values.items()} for i in range(count)]}
