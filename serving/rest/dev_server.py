"""`cnn serve`: a development server speaking TF Serving's REST API over the exports in ROOT.

For laptops without TensorFlow Serving; production uses TF Serving (README, "Serving"). It keeps
TF Serving's rules so that what works here works there: a model is a folder of integer versions;
the versions served are those `ROOT/models.config` (from `cnn serving-config`) names, else the
latest one (TF Serving's default policy); labels come from that file; each version is loaded
with `tf.saved_model.load` and its warmup records are replayed before it is served; a version
that fails to load is logged (one line), shown END with its error in the model's status, and the
others are served, as TF Serving does (the newest one that loads, under the latest policy). ROOT
may also be one model's folder of versions (TF Serving's `--model_base_path`). Like TF Serving
(`--file_system_poll_wait_seconds`, 1 s), the server polls ROOT for new versions, and swaps one in
only once it has loaded.

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
import errno
import http
import json
import os
import pathlib
import sys
import threading

from serving.rest import api as rest_api
from serving import model_config as serving_config
from serving.rest.api import ApiError

POLL_SECONDS = 1.0  # TF Serving's --file_system_poll_wait_seconds


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
    """The served versions of every model under `root` (or of the one model folder `root` is),
    with their labels and the versions that failed to load.

    Availability first, as TF Serving's availability-preserving policy: a version is loaded
    before the one it replaces is dropped, and a version that fails to load never takes a served
    one offline. Under the `latest` policy (the default) the newest versions that load are
    served, so a corrupt newest version leaves the one before it served (TF Serving keeps the
    version it has; at start it would serve nothing). A failed version is not retried until its
    folder goes away: write versions atomically (`cnn export` does)."""

    def __init__(self, root, log=None):
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        self.given = pathlib.Path(root)
        self.root, self.only = model_base(root)
        config_file = self.root / serving_config.MODELS_CONFIG
        self.policies = {}
        if config_file.is_file():
            config = text_format.Parse(config_file.read_text(), model_server_config_pb2.ModelServerConfig())
            self.policies = {entry.name: entry for entry in config.model_config_list.config}
        if self.only is not None:  # a model folder: its entry in the root's config, if it has one
            self.policies = {k: v for k, v in self.policies.items() if k == self.only}
        self.models, self.labels, self.failed = {}, {}, {}
        self.log = log or _log
        self._refreshing = threading.Lock()
        self.refresh()

    def refresh(self):
        """Load the versions the policies ask for that are not loaded yet, then swap them in:
        what `cnn serve` does at start and on every file-system poll."""
        with self._refreshing:
            on_disk = serving_config.model_versions(self.root)
            if self.only is not None:
                on_disk = {k: v for k, v in on_disk.items() if k == self.only}
            for name, numbers in on_disk.items():
                if self.policies and name not in self.policies:
                    continue  # TF Serving serves only the models its config lists
                self._refresh_model(name, numbers, self.policies.get(name))
            for name in set(self.models) - set(on_disk):
                self.models[name], self.failed[name] = {}, {}  # its folder went away: TF Serving unloads it

    def _refresh_model(self, name, numbers, policy):
        served, failed = self.models.get(name, {}), dict(self.failed.get(name, {}))
        failed = {n: message for n, message in failed.items() if n in numbers}
        candidates, wanted = _candidates(numbers, policy)
        loaded, new_failures = {}, {}
        for number in candidates:
            if wanted is not None and len(loaded) == wanted:
                break
            if number in served:
                loaded[number] = served[number]
            elif number not in failed:
                try:
                    loaded[number] = Version(name, number, self.root / name / str(number))
                except Exception as error:  # TF Serving logs a failed load and serves the rest
                    new_failures[number] = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        failed.update(new_failures)
        self.models[name], self.failed[name] = dict(sorted(loaded.items())), failed
        self.labels[name] = dict(policy.version_labels) if policy is not None else {}
        for number, message in sorted(new_failures.items()):
            self.log(f"cnn serve: not serving {name} version {number} ({self.root / name / str(number)}): "
                     f"{message}{_instead(number, loaded, wanted)}")

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
        """TF Serving's status: the served versions AVAILABLE, those that failed to load END with
        their error (all of them, or the one asked for)."""
        failed = self.failed.get(model, {})
        if label is None and version in failed:
            return {"model_version_status": [_failed_status(version, failed[version])]}
        served = status(self.versions(model, version, label))
        if version is None and label is None:
            served["model_version_status"] += [_failed_status(n, message) for n, message in failed.items()]
            served["model_version_status"].sort(key=lambda entry: int(entry["version"]))
        return served


def model_base(path):
    """(serving root, model name or None): a folder of integer versions (TF Serving's
    `--model_base_path`, e.g. saved_models/digits) is served as that one model of the root above
    it (its models.config and batching_parameters.txt); any other folder is a root of models."""
    path = pathlib.Path(path)
    if path.is_dir() and any(v.name.isdigit() and (v / "saved_model.pb").is_file() for v in path.iterdir()):
        return path.parent, path.name
    return path, None


def _candidates(numbers, policy):
    """(versions in the order they are tried, how many to serve or None for all of them): the
    `latest` policy (TF Serving's default) takes the newest N that load."""
    choice = policy.model_version_policy.WhichOneof("policy_choice") if policy is not None else None
    if choice is None:
        return numbers[::-1], 1
    if choice == "latest":
        return numbers[::-1], max(1, policy.model_version_policy.latest.num_versions)
    if choice == "all":
        return numbers, None
    return [n for n in numbers if n in set(policy.model_version_policy.specific.versions)], None


def _instead(number, loaded, wanted):
    """What a failed newest version leaves served, for its log line."""
    if wanted is None or any(n > number for n in loaded):
        return ""
    older = sorted(n for n in loaded if n < number)
    return f"; serving version {older[-1]} instead" if older else "; no version of it loads"


def _failed_status(number, message):
    return {"version": str(number), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": message}}


def _log(line):
    print(line, file=sys.stderr, flush=True)


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

    def __init__(self, repository, host, port, limits, verbose=False, poll_seconds=POLL_SECONDS):
        from waitress import wasyncore
        from waitress.server import create_server

        self.repository, self.limits, self._loop = repository, limits, wasyncore.loop
        self.max_batch_size = limits.max_batch_size or serving_config.max_batch_size(repository.root) or 1024
        self.app = App(repository, self.max_batch_size, verbose)
        seconds = max(1, round(limits.timeout_ms / 1000))
        self._map = {}
        try:
            self._server = create_server(
                self.app, map=self._map, host=host, port=port, threads=limits.threads,
                channel_timeout=seconds, cleanup_interval=max(1, min(seconds, 30) // 2),
                max_request_body_size=limits.max_body_bytes, connection_limit=limits.connection_limit,
                expose_tracebacks=False, ident="cnn-serve", clear_untrusted_proxy_headers=False)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise OSError(f"--port {port}: {host}:{port} is already in use; "
                          "choose another port, or --port 0 for a free one") from None
        self.server_address = (host, int(self._server.effective_port))
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self.poll_seconds = poll_seconds

    def poll(self):
        """Look for new or removed versions every `poll_seconds` until the server stops."""
        while not self._stop.wait(self.poll_seconds):
            try:
                self.repository.refresh()
            except Exception as error:  # e.g. ROOT removed: keep serving what is loaded
                _log(f"cnn serve: cannot poll {self.repository.given}: {' '.join(str(error).split())[:300]}")

    def serve_forever(self):
        if self.poll_seconds and self.poll_seconds > 0:
            threading.Thread(target=self.poll, daemon=True, name="cnn-serve-poll").start()
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


def make_server(root, host="127.0.0.1", port=8501, verbose=False, limits=None, log=None,
                poll_seconds=POLL_SECONDS):
    """The server (not yet serving) over the exports in `root` (a root of model folders, or one
    model folder); port 0 picks a free one; `poll_seconds` <= 0 never looks for new versions."""
    limits = limits or Limits()
    limits.check()
    repository = Repository(root, log)
    if not any(repository.models.values()):
        raise ValueError(f"{root}: no exported models to serve")
    return Server(repository, host, port, limits, verbose, poll_seconds)


def serve_in_thread(root, host="127.0.0.1", port=0, limits=None, log=None, poll_seconds=POLL_SECONDS):
    """Start a server on a background thread (tests, benchmarks); returns (server, base URL)."""
    server = make_server(root, host, port, limits=limits, log=log, poll_seconds=poll_seconds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
