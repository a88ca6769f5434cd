"""`cnn serve`: a development server speaking TF Serving's REST API over the exports in ROOT.

For laptops without TensorFlow Serving; production uses TF Serving (README, "Serving"). It keeps
TF Serving's rules so that what works here works there: a model is a folder of integer versions;
the versions served are those `ROOT/models.config` (from `cnn serving-config`) names, else the
latest one (TF Serving's default policy); labels come from that file; each version is loaded
with `tf.saved_model.load` and its warmup records are replayed before it is served; a version
that fails to load is logged (one line) and the others are served, as TF Serving does.

HTTP is waitress (a production WSGI server), with TF Serving's limits (`Limits`): a fixed pool of
`--rest_api_num_threads` workers (4 per core), idle and slow connections closed after
`--rest_api_timeout_in_ms` (30 s), request bodies capped before they are read (413), and the
batch cap of `batching_parameters.txt` (`max_batch_size`) enforced with TF Serving's error.
Waitress reads every request's body (Content-Length, chunked, GET) before the next request on the
connection, so a rejected request cannot leave its body to run as the next one. The standard
library's http.server did not hold these (see tests/serving/test_dev_server_limits.py).
Request formats in api.py.
"""
from __future__ import annotations

import dataclasses
import http
import json
import os
import pathlib
import sys
import threading

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

    def __init__(self, root, log=None):
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        self.root = pathlib.Path(root)
        versions = serving_config.model_versions(self.root)
        config_file = self.root / serving_config.MODELS_CONFIG
        policies = {}
        if config_file.is_file():
            config = text_format.Parse(config_file.read_text(), model_server_config_pb2.ModelServerConfig())
            policies = {entry.name: entry for entry in config.model_config_list.config}
        self.models, self.labels, self.failed = {}, {}, {}
        log = log or _log
        for name, numbers in versions.items():
            if policies and name not in policies:
                continue  # TF Serving serves only the models its config lists
            self.models[name], self.failed[name] = {}, {}
            for number in _served(numbers, policies.get(name)):
                try:
                    self.models[name][number] = Version(name, number, self.root / name / str(number))
                except Exception as error:  # TF Serving logs a failed load and serves the rest
                    message = " ".join(f"{type(error).__name__}: {error}".split())[:300]
                    self.failed[name][number] = message
                    log(f"cnn serve: not serving {name} version {number} ({self.root / name / str(number)}): {message}")
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
            if version in self.failed.get(model, {}):
                raise ApiError(f"Servable not found for request: Specific({model}, {version}) "
                               f"(failed to load: {self.failed[model][version]})", 404)
            raise ApiError(f"Servable not found for request: Specific({model}, {version})", 404)
        return [served[version]]

    def latest(self, model, version=None, label=None):
        versions = self.versions(model, version, label)
        if not versions:
            raise ApiError(f"Servable not found for request: Latest({model})", 404)
        return versions[-1]

    def status(self, model, version=None, label=None):
        """TF Serving's status: the served versions AVAILABLE, those that failed to load END."""
        served = status(self.versions(model, version, label))
        if version is None and label is None:
            for number, message in sorted(self.failed.get(model, {}).items()):
                served["model_version_status"].append({"version": str(number), "state": "END", "status": {
                    "error_code": "UNKNOWN", "error_message": message}})
        return served


def _log(line):
    print(line, file=sys.stderr, flush=True)


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


def predict(version, body, max_batch_size=None):
    arrays, row_format, signature = rest_api.request_tensors(body, version.inputs, max_batch_size)
    return rest_api.response_body(version.predict(signature, arrays), row_format)


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass
class Limits:
    """The server's limits, with TF Serving's defaults.

    timeout_ms: `--rest_api_timeout_in_ms` (30 s): an idle or stalled connection (a request that
      stops arriving, a client that stops reading) is closed after it.
    threads: `--rest_api_num_threads` (4 per core): the fixed pool that answers requests; more
      connections wait in line (up to `connection_limit`), they do not get a thread each.
    max_body_bytes: the largest request body, 2 GiB - 1 (the 2^31 - 1 byte message limit TF
      Serving sets); a larger Content-Length is answered 413 before any of the body is read.
    max_batch_size: the batch cap; None reads `max_batch_size` from ROOT/batching_parameters.txt
      (`cnn serving-config`), else 1024, the value that file holds by default.
    """
    timeout_ms: int = 30_000
    threads: int = dataclasses.field(default_factory=lambda: 4 * _cores())
    max_body_bytes: int = 2**31 - 1
    max_batch_size: int | None = None
    connection_limit: int = 100

    def check(self):
        for name in ("timeout_ms", "threads", "max_body_bytes", "connection_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise ValueError(f"max-batch-size {self.max_batch_size}: must be at least 1")


class App:
    """The WSGI application: TF Serving's REST API over a Repository."""

    def __init__(self, repository, max_batch_size, verbose=False):
        self.repository, self.max_batch_size, self.verbose = repository, max_batch_size, verbose

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        # waitress has read the whole body already (Content-Length or chunked, any method)
        body = environ["wsgi.input"].read()
        try:
            code, reply = 200, self.handle(method, path, body)
        except ApiError as error:
            code, reply = error.status, {"error": error.message}
        except RecursionError:
            code, reply = 400, {"error": "JSON Parse error: the request nests too deeply"}
        except Exception as error:  # a bug must still answer, as TF Serving's 500 does
            code, reply = 500, {"error": f"{type(error).__name__}: {error}"}
        data = json.dumps(reply).encode()
        if self.verbose:
            _log(f'{environ.get("REMOTE_ADDR", "-")} "{method} {path}" {code} {len(data)}')
        start_response(f"{code} {http.HTTPStatus(code).phrase}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def handle(self, method, path, body):
        model, version, label, action = rest_api.parse_path(path)
        if method == "GET":
            if action == "status":
                return self.repository.status(model, version, label)
            if action == "metadata":
                return metadata(self.repository.latest(model, version, label))
        elif method == "POST":
            if action == "predict":
                return predict(self.repository.latest(model, version, label), body, self.max_batch_size)
            if action in ("classify", "regress"):
                raise ApiError(f"Expected {action} signature method_name to be tensorflow/serving/{action}. "
                               "Was: tensorflow/serving/predict (these exports are predict-only)")
        raise ApiError(f"Unsupported method {method} for {path}", 405)


class Server:
    """The running server: waitress over App, `serve_forever` / `shutdown` / `server_close` as
    socketserver has them; `server_address` is (host, port)."""

    def __init__(self, repository, host, port, limits, verbose=False):
        from waitress import wasyncore
        from waitress.server import create_server

        self.repository, self.limits, self._loop = repository, limits, wasyncore.loop
        self.max_batch_size = limits.max_batch_size or serving_config.max_batch_size(repository.root) or 1024
        self.app = App(repository, self.max_batch_size, verbose)
        seconds = max(1, round(limits.timeout_ms / 1000))
        self._map = {}
        self._server = create_server(
            self.app, map=self._map, host=host, port=port, threads=limits.threads,
            channel_timeout=seconds, cleanup_interval=max(1, min(seconds, 30) // 2),
            max_request_body_size=limits.max_body_bytes, connection_limit=limits.connection_limit,
            expose_tracebacks=False, ident="cnn-serve", clear_untrusted_proxy_headers=False)
        self.server_address = (host, int(self._server.effective_port))
        self._stop = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self):
        try:
            while not self._stop.is_set():
                self._loop(timeout=1.0, map=self._map, count=1)
        finally:
            self._stopped.set()

    def shutdown(self):
        """Stop serve_forever (from another thread) and wait for it."""
        self._stop.set()
        self._server.pull_trigger()
        self._stopped.wait(30)

    def server_close(self):
        for channel in list(self._map.values()):
            try:
                channel.close()
            except OSError:
                pass
        self._server.task_dispatcher.shutdown(timeout=5)


def make_server(root, host="127.0.0.1", port=8501, verbose=False, limits=None, log=None):
    """The server (not yet serving) over the exports in `root`; port 0 picks a free one."""
    limits = limits or Limits()
    limits.check()
    repository = Repository(root, log)
    if not any(repository.models.values()):
        raise ValueError(f"{root}: no exported models to serve")
    return Server(repository, host, port, limits, verbose)


def serve_in_thread(root, host="127.0.0.1", port=0, limits=None, log=None):
    """Start a server on a background thread (tests, benchmarks); returns (server, base URL)."""
    server = make_server(root, host, port, limits=limits, log=log)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
