"""`cnn serve`: a development server speaking TF Serving's REST API over the exports in ROOT.

For laptops without TensorFlow Serving; production uses TF Serving (README, "Serving"). It keeps
TF Serving's rules so that what works here works there: a model is a folder of integer versions;
the versions served are those `ROOT/models.config` (from `cnn serving-config`) names, else the
latest one (TF Serving's default policy); labels come from that file; each version is loaded
with `tf.saved_model.load` and its warmup records are replayed before it is served. Standard
library HTTP (ThreadingHTTPServer, one thread per connection); request formats in rest_api.py.
"""
from __future__ import annotations

import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving.rest import api as rest_api
from serving import model_config as serving_config
from serving.rest.api import ApiError


class Version:
    """One loaded SavedModel version: its signatures and TF Serving's metadata of them."""

    def __init__(self, name, number, path):
        import tensorflow as tf
        from google.protobuf import json_format
        from tensorflow.core.protobuf import saved_model_pb2

        self.name, self.number, self.path = name, number, pathlib.Path(path)
        self.loaded = tf.saved_model.load(str(path))
        model = saved_model_pb2.SavedModel.FromString((self.path / "saved_model.pb").read_bytes())
        self.signature_defs = json_format.MessageToDict(
            model.meta_graphs[0], preserving_proto_field_name=True)["signature_def"]
        self.warmup()

    def warmup(self):
        """Replay `assets.extra/tf_serving_warmup_requests` as TF Serving does (a failure fails the load)."""
        from serving import warmup

        if (self.path / warmup.WARMUP_FILE).is_file():
            for signature, inputs in warmup.read(self.path):
                self.predict(signature, inputs)

    def inputs(self, signature):
        if signature not in self.loaded.signatures:
            raise ApiError(f'Serving signature name: "{signature}" not found in signature def')
        return self.loaded.signatures[signature].structured_input_signature[1]

    def predict(self, signature, arrays):
        import tensorflow as tf

        function = self.loaded.signatures[signature]
        try:
            outputs = function(**{key: tf.constant(value) for key, value in arrays.items()})
        except tf.errors.InvalidArgumentError as error:
            raise ApiError(op_message(error.message)) from None
        return {key: value.numpy() for key, value in outputs.items()}


def op_message(text):
    """The op's own words from an eager "Graph execution error" (no node traces), as TF Serving
    reports a failed op."""
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    lines = [line.strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(noise)) or text.strip()


class Repository:
    """The served versions of every model under `root`, loaded up front, with their labels."""

    def __init__(self, root):
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        self.root = pathlib.Path(root)
        versions = serving_config.model_versions(self.root)
        config_file = self.root / serving_config.MODELS_CONFIG
        policies = {}
        if config_file.is_file():
            config = text_format.Parse(config_file.read_text(), model_server_config_pb2.ModelServerConfig())
            policies = {entry.name: entry for entry in config.model_config_list.config}
        self.models, self.labels = {}, {}
        for name, numbers in versions.items():
            if policies and name not in policies:
                continue  # TF Serving serves only the models its config lists
            chosen = _served(numbers, policies.get(name))
            self.models[name] = {n: Version(name, n, self.root / name / str(n)) for n in chosen}
            self.labels[name] = dict(policies[name].version_labels) if name in policies else {}

    def versions(self, model, version=None, label=None):
        """The requested versions of `model` (all served ones when neither version nor label)."""
        if model not in self.models:
            raise ApiError(f"Servable not found for request: Latest({model})", 404)
        served = self.models[model]
        if label is not None:
            if label not in self.labels[model]:
                raise ApiError(f"Unrecognized servable version label: {label}", 400)
            version = self.labels[model][label]
        if version is None:
            return [served[n] for n in sorted(served)]
        if version not in served:
            raise ApiError(f"Servable not found for request: Specific({model}, {version})", 404)
        return [served[version]]

    def latest(self, model, version=None, label=None):
        return self.versions(model, version, label)[-1]


def _served(numbers, policy):
    """The versions a `model_version_policy` (or TF Serving's default, the latest) selects."""
    if policy is None or policy.model_version_policy.WhichOneof("policy_choice") is None:
        return numbers[-1:]
    choice = policy.model_version_policy
    kind = choice.WhichOneof("policy_choice")
    if kind == "all":
        return numbers
    if kind == "latest":
        return numbers[-max(1, choice.latest.num_versions):]
    return [n for n in numbers if n in set(choice.specific.versions)]


def status(versions):
    return {"model_version_status": [
        {"version": str(v.number), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        for v in versions
    ]}


def metadata(version):
    return {"model_spec": {"name": version.name, "signature_name": "", "version": str(version.number)},
            "metadata": {"signature_def": {"signature_def": version.signature_defs}}}


def predict(version, body):
    arrays, row_format, signature = rest_api.request_tensors(body, version.inputs)
    return rest_api.response_body(version.predict(signature, arrays), row_format)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    repository: Repository = None
    verbose = False

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post)

    def _get(self):
        model, version, label, action = rest_api.parse_path(self.path)
        if action == "status":
            return status(self.repository.versions(model, version, label))
        if action == "metadata":
            return metadata(self.repository.latest(model, version, label))
        raise ApiError(f"Unsupported method GET for {self.path}", 405)

    def _post(self):
        model, version, label, action = rest_api.parse_path(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if action == "predict":
            return predict(self.repository.latest(model, version, label), body)
        if action in ("classify", "regress"):
            raise ApiError(f"Expected {action} signature method_name to be tensorflow/serving/{action}. "
                           "Was: tensorflow/serving/predict (these exports are predict-only)")
        raise ApiError(f"Unsupported method POST for {self.path}", 405)

    def _answer(self, handle):
        try:
            code, reply = 200, handle()
        except ApiError as error:
            code, reply = error.status, {"error": error.message}
        except Exception as error:  # a bug must still answer, as TF Serving's 500 does
            code, reply = 500, {"error": f"{type(error).__name__}: {error}"}
        data = json.dumps(reply).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        if self.verbose:
            super().log_message(format, *args)


def make_server(root, host="127.0.0.1", port=8501, verbose=False):
    """A ThreadingHTTPServer (not yet serving) over the exports in `root`; port 0 picks a free one."""
    repository = Repository(root)
    if not repository.models:
        raise ValueError(f"{root}: no exported models to serve")
    handler = type("BoundHandler", (Handler,), {"repository": repository, "verbose": verbose})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(root, host="127.0.0.1", port=0):
    """Start a server on a background thread (tests, benchmarks); returns (server, base URL)."""
    server = make_server(root, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
