"""`cnn serve` and `cnn predict --server` against TF Serving's documented REST API, and
`cnn serving-config`: requests shaped like the documentation's examples, both formats, versions
and labels, and malformed requests answered with TF Serving's kind of error."""
import base64
import concurrent.futures
import http.client
import json
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from project import ROOT
from click.testing import CliRunner

import cli
from serving_exports import TINY, saved_models_root, trained


@pytest.fixture(scope="module")
def server():
    """The dev server over every tiny export, digits in versions 1 and 2 (labels stable, canary)."""
    from serving.rest import dev_server
    from serving import export, model_config as serving_config

    root = saved_models_root()
    if not (root / "digits" / "2").exists():
        export.export_run(trained()["digits"].run_dir, root)
    serving_config.write(root, labels=["digits:stable=1", "digits:canary=2"])
    running, url = dev_server.serve_in_thread(root)
    yield url
    running.shutdown()
    running.server_close()


def send(url, method, path, body=None):
    """(status, JSON reply) of a raw HTTP request, as curl would send it."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    reply = json.loads(response.read())
    connection.close()
    return response.status, reply


def served_example(name, signature="serving_default"):
    from serving import warmup

    return next(v for s, v in warmup.read(trained()[name].export_path) if s == signature)


def b64(data):
    return {"b64": base64.b64encode(data).decode()}


def test_status_and_metadata(server):
    status, reply = send(server, "GET", "/v1/models/digits")
    assert status == 200
    assert [v["version"] for v in reply["model_version_status"]] == ["1", "2"]
    assert reply["model_version_status"][0] == {
        "version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert send(server, "GET", "/v1/models/digits/versions/1")[1]["model_version_status"][0]["version"] == "1"
    assert send(server, "GET", "/v1/models/digits/labels/canary")[1]["model_version_status"][0]["version"] == "2"
    assert [v["version"] for v in send(server, "GET", "/v1/models/objects")[1]["model_version_status"]] == ["1"]

    status, reply = send(server, "GET", "/v1/models/digits/metadata")
    assert status == 200 and reply["model_spec"] == {"name": "digits", "signature_name": "", "version": "2"}
    signatures = reply["metadata"]["signature_def"]["signature_def"]
    image = signatures["serving_default"]["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT" and image["tensor_shape"]["dim"][0]["size"] == "-1"
    assert signatures["image_bytes"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert signatures["image_bytes"]["method_name"] == "tensorflow/serving/predict"
    assert set(signatures["serving_default"]["outputs"]) == {"probabilities", "class_id", "label"}
    stable = send(server, "GET", "/v1/models/digits/labels/stable/metadata")[1]
    assert stable["model_spec"]["version"] == "1"


def test_predict_row_and_columnar_formats(server):
    import tensorflow as tf

    png = served_example("digits", "image_bytes")["image_bytes"][0]
    image = served_example("digits")["image"][0]
    loaded = tf.saved_model.load(str(saved_models_root() / "digits" / "2"))
    expected = loaded.signatures["serving_default"](image=tf.constant(image[None]))["probabilities"].numpy()

    requests = [
        {"signature_name": "image_bytes", "instances": [b64(png), b64(png)]},  # documented b64 rows
        {"signature_name": "image_bytes", "instances": [{"image_bytes": b64(png)}]},  # named rows
        {"instances": [image.tolist()]},  # a list of values for the only input
        {"instances": [{"image": image.tolist()}]},
    ]
    for request in requests:
        status, reply = send(server, "POST", "/v1/models/digits:predict", request)
        assert status == 200, reply
        for row in reply["predictions"]:
            assert set(row) == {"probabilities", "class_id", "label"}
            np.testing.assert_allclose(row["probabilities"], expected[0], atol=1e-5)
            assert row["label"] == str(int(np.argmax(expected[0]))) and row["class_id"] == int(np.argmax(expected[0]))

    for request in ({"signature_name": "image_bytes", "inputs": {"image_bytes": [b64(png)]}},
                    {"signature_name": "image_bytes", "inputs": [b64(png)]},
                    {"inputs": {"image": [image.tolist()]}}):
        status, reply = send(server, "POST", "/v1/models/digits/versions/2:predict", request)
        assert status == 200, reply
        np.testing.assert_allclose(reply["outputs"]["probabilities"], expected, atol=1e-5)
        assert reply["outputs"]["class_id"] == [int(np.argmax(expected[0]))]

    status, reply = send(server, "POST", "/v1/models/text:predict", {"instances": ["a great film", b64(b"\xff bad")]})
    assert status == 200 and len(reply["predictions"]) == 2  # invalid UTF-8 is repaired in the graph


def test_versions_and_labels_in_the_path(server):
    png = served_example("digits", "image_bytes")["image_bytes"][0]
    request = {"signature_name": "image_bytes", "instances": [b64(png)]}
    replies = {path: send(server, "POST", path, request) for path in (
        "/v1/models/digits/versions/1:predict", "/v1/models/digits/labels/stable:predict",
        "/v1/models/digits/labels/canary:predict", "/v1/models/digits:predict")}
    assert all(status == 200 for status, _ in replies.values())
    assert replies["/v1/models/digits/versions/1:predict"] == replies["/v1/models/digits/labels/stable:predict"]
    assert replies["/v1/models/digits/labels/canary:predict"] == replies["/v1/models/digits:predict"]


MALFORMED = [  # (method, path, body, status, message pattern)
    ("POST", "/v1/models/digits:predict", {"instances": [{"img": [[[0.0]]]}]}, 400, "does not have named input: img"),
    ("POST", "/v1/models/digits:predict", {"inputs": {"img": [[[[0.0]]]]}}, 400, "does not have named input: img"),
    ("POST", "/v1/models/digits:predict", {"instances": [[[[0.0]], [[1.0]]], [[[0.0]]]]}, 400, "one shape"),
    ("POST", "/v1/models/text:predict", {"instances": [["a", "b"], ["c"]]}, 400, "one shape"),
    ("POST", "/v1/models/digits:predict", {"instances": [b64(b"\x89PNG")]}, 400, "is not of expected type: float"),
    ("POST", "/v1/models/digits:predict", {"signature_name": "image_bytes", "instances": [b64(b"not a png")]},
     400, "Unknown image file format|decode"),
    ("POST", "/v1/models/digits:predict", {"instances": [[[1.0, 2.0]]]}, 400, "Expected shape"),
    ("POST", "/v1/models/digits:predict", {"signature_name": "classify_x", "instances": [1]}, 400,
     'Serving signature name: "classify_x" not found'),
    ("POST", "/v1/models/digits:predict", b"{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/digits:predict", {"examples": []}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/digits:predict", {"instances": [1], "inputs": [1]}, 400, "both 'inputs' and 'instances'"),
    ("POST", "/v1/models/digits:classify", {"examples": [{}]}, 400, "predict-only"),
    ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, r"Servable not found for request: Latest\(nope\)"),
    ("POST", "/v1/models/digits/versions/7:predict", {"instances": [1]}, 404, r"Specific\(digits, 7\)"),
    ("GET", "/v1/models/digits/versions/7", None, 404, r"Specific\(digits, 7\)"),
    ("GET", "/v1/models/digits/versions/x", None, 400, "Failed to convert version"),
    ("GET", "/v1/models/digits/labels/beta", None, 400, "Unrecognized servable version label: beta"),
    ("GET", "/v2/models/digits", None, 404, "Malformed request"),
    ("POST", "/v1/models/volumes:predict", {"signature_name": "volume_bytes", "instances": [b64(b"\0" * 8)]},
     400, "must be 16384 bytes"),
]


@pytest.mark.parametrize("method, path, body, status, pattern", MALFORMED,
                         ids=[f"{m} {p} {i}" for i, (m, p, *_) in enumerate(MALFORMED)])
def test_malformed_requests_get_tf_serving_errors(server, method, path, body, status, pattern):
    code, reply = send(server, method, path, body)
    assert code == status and set(reply) == {"error"}, reply
    assert re.search(pattern, reply["error"]), reply["error"]


def _files(tmp_path):
    """One file per pipeline, as a client would have it: PNG, WAV, text, .npy and raw float32."""
    files = {}
    for name in ("digits", "objects"):
        files[name] = tmp_path / f"{name}.png"
        files[name].write_bytes(served_example(name, "image_bytes")["image_bytes"][0])
    files["audio"] = tmp_path / "tone.wav"
    files["audio"].write_bytes(served_example("audio", "waveform_bytes")["waveform_bytes"][0])
    files["text"] = tmp_path / "review.txt"
    files["text"].write_bytes(served_example("text")["text"][0])
    for name in ("volumes", "segment"):
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], served_example(name)["volume"][0])
    files["volumes.raw"] = tmp_path / "volume.f32"
    files["volumes.raw"].write_bytes(served_example("volumes")["volume"][0].astype("<f4").tobytes())
    return files


def _keras_answer(name):
    """(class names, probabilities) of the run's model.keras on the example `_files` encodes."""
    from pipelines.core import runs

    record = runs.read_record(trained()[name].run_dir)
    model = trained()[name].keras_model()
    (example,) = served_example(name).values()
    return record["class_names"], model.predict_on_batch(example[:1])[0]


def test_cnn_predict_server_for_every_pipeline(server, tmp_path):
    """Each file's label and probability are those of the run's Keras model on the same example
    (PNG and 16-bit WAV round the example, hence the tolerance)."""
    files = _files(tmp_path)
    assert set(TINY) <= set(files)
    answers = {name: _keras_answer(name) for name in TINY if name != "segment"}
    for key, file in files.items():
        name = key.split(".")[0]
        for extra in ([], ["--columnar"]):
            result = CliRunner().invoke(cli.main, ["predict", "--server", server, *extra, name, str(file)])
            assert result.exit_code == 0, result.output
            line = result.output.strip()
            if name == "segment":
                assert line == f"{file}\tprobabilities=[16, 16, 16, 3] segmentation=[16, 16, 16]"
            else:
                path, label, probability = line.split("\t")
                class_names, expected = answers[name]
                assert path == str(file) and float(probability) == pytest.approx(expected.max(), abs=2e-3)
                top, second = np.sort(expected)[-2:][::-1]
                if top - second > 5e-3:  # a clear winner: rounding the input cannot change it
                    assert label == class_names[int(expected.argmax())], (key, expected)
                else:
                    assert label in [class_names[i] for i in np.argsort(expected)[-2:]]


def test_cnn_predict_server_versions_labels_and_errors(server, tmp_path):
    files = _files(tmp_path)
    runner = CliRunner()
    stable = runner.invoke(cli.main, ["predict", "--server", server, "--label", "stable", "digits", str(files["digits"])])
    first = runner.invoke(cli.main, ["predict", "--server", server, "--version", "1", "digits", str(files["digits"])])
    assert stable.exit_code == first.exit_code == 0 and stable.output == first.output

    result = runner.invoke(cli.main, ["predict", "--server", server, "nope", str(files["digits"])])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {server}/v1/models/nope/metadata: HTTP 404: Servable not found for request: Latest(nope)"]
    result = runner.invoke(cli.main, ["predict", "--server", server, "digits", str(files["audio"])])
    assert result.exit_code == 1 and result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"Error: {files['audio']}: ") and "HTTP 400" in result.stderr
    result = runner.invoke(cli.main, ["predict", "--server", "http://127.0.0.1:9", "digits", str(files["digits"])])
    assert result.exit_code == 2 and "cannot reach the server" in result.output
    result = runner.invoke(cli.main, ["predict", "--version", "1", str(tmp_path), str(files["digits"])])
    assert result.exit_code == 2 and "need --server" in result.output


def test_concurrent_requests_all_answer(server):
    png = served_example("digits", "image_bytes")["image_bytes"][0]
    request = {"signature_name": "image_bytes", "instances": [b64(png)]}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: send(server, "POST", "/v1/models/digits:predict", request), range(24)))
    assert all(status == 200 for status, _ in replies)
    assert all(reply == replies[0][1] for _, reply in replies)


def test_cnn_serve_command(tmp_path):
    root = tmp_path / "saved_models"
    shutil.copytree(trained()["text"].export_path, root / "reviews" / "3")
    process = subprocess.Popen([str(pathlib.Path(sys.executable).with_name("cnn")), "serve", str(root), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert lines[0].strip() == "reviews: versions 3", (lines, process.stderr.read() if process.poll() else "")
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[1]).group(0)
        status, reply = send(url, "POST", "/v1/models/reviews/versions/3:predict", {"inputs": {"text": ["fine"]}})
        assert status == 200 and len(reply["outputs"]["probabilities"][0]) == 2
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serving_config_files(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    root = saved_models_root()
    result = CliRunner().invoke(cli.main, [
        "serving-config", str(root), "--output-dir", str(tmp_path), "--base-path", "/models",
        "--label", "digits:stable=1", "--cores", "4"])
    assert result.exit_code == 0, result.output
    config = text_format.Parse((tmp_path / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {entry.name: entry for entry in config.model_config_list.config}
    assert set(TINY) <= set(entries)
    digits = entries["digits"]
    assert digits.base_path == "/models/digits" and digits.model_platform == "tensorflow"
    versions = sorted(int(p.name) for p in (root / "digits").iterdir() if p.name.isdigit())
    assert list(digits.model_version_policy.specific.versions) == sorted({1, versions[-1]})
    assert dict(digits.version_labels) == {"stable": 1}
    assert entries["text"].model_version_policy.latest.num_versions == 1
    assert (tmp_path / "batching_parameters.txt").read_text().splitlines() == [
        "num_batch_threads { value: 4 }", "max_batch_size { value: 1024 }",
        "batch_timeout_micros { value: 0 }", "max_enqueued_batches { value: 4 }"]
    assert 'path: "/monitoring/prometheus/metrics"' in (tmp_path / "monitoring.config").read_text()

    for bad, message in ((["--label", "digits:stable=99"], "digits has no version 99"),
                         (["--label", "stable=1"], "expected MODEL:LABEL=VERSION"),
                         (["--latest", "0"], "must be at least 1")):
        result = CliRunner().invoke(cli.main, ["serving-config", str(root), "--output-dir", str(tmp_path), *bad])
        assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli.main, ["serving-config", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no such folder" in result.output
