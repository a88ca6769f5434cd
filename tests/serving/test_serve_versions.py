"""README promises about `cnn serve` (issue 19), over two tiny exports with fixed weights:
without models.config only the latest of several versions is served; `cnn serving-config
--all-versions` and `--latest N` choose what it serves; a version whose warmup fails is logged and
not served while the others are; `cnn predict --server` sends several files in one request and
prints each file's own answer; a corrupt newest version (at start, or appearing while the server
runs) leaves the one before it served, and a model's own folder serves as its root does. Version 1
(and its copy, version 2) answers class 1 whatever the image; version 3 answers by where the bright
pixels are, so a reply shows which version served it."""
import base64
import io
import json
import shutil
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli
from datasets.examples import ArrayExamples
from factories import make_pipeline
from fixed_models import mean_pixel_classifier, resized_dense_classifier

CLASSES = [str(c) for c in range(10)]
GREY = np.full((8, 8), 100, np.uint8)  # the image every version is asked about


def answering_one():
    """A digits model whose bias makes class 1 win for any image (the pixel terms stay < 255)."""
    model = mean_pixel_classifier()
    dense = next(layer for layer in model.layers if layer.name.startswith("dense"))
    kernel, _ = dense.get_weights()
    dense.set_weights([kernel, np.eye(10, dtype=np.float32)[1] * 1000])
    return model


def warmup_examples():
    """Held-out-like examples, for real warmup records (replayed when a version loads)."""
    rng = np.random.default_rng(0)
    return ArrayExamples(labels=np.arange(4), origin="test", inputs=rng.integers(0, 256, (4, 8, 8, 1), np.uint8))


def break_warmup(export_path):
    """Replace the warmup records by one that fails as a bad request fails: bytes that are no image."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "image_bytes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(np.array([b"GIF89a but truncated"], object)))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(str(export_path / "assets.extra" / "tf_serving_warmup_requests")) as writer:
        writer.write(log.SerializeToString())


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """({version: export folder}, {version: the label it answers for GREY}): versions 1 and 2 (a
    copy) answer 1, version 3 answers by its Dense weights (label computed with Keras), version 4
    is a copy of version 1 whose warmup fails."""
    from serving import export

    root = tmp_path_factory.mktemp("exports")
    pipeline = make_pipeline("digits", "image_size=8")
    pictures = resized_dense_classifier(8, 1, scale=0.3)
    first = export.export(answering_one(), pipeline, CLASSES, root, name="one", examples=warmup_examples())
    third = export.export(pictures, pipeline, CLASSES, root, name="pictures", examples=warmup_examples())
    fourth = shutil.copytree(first, root / "broken")
    break_warmup(fourth)
    grey_label = CLASSES[int(np.argmax(pictures.predict(GREY[None, ..., None].astype(np.float32), verbose=0)))]
    assert grey_label != "1"  # the two models tell themselves apart
    return {1: first, 2: first, 3: third, 4: fourth}, {1: "1", 2: "1", 3: grey_label, 4: "1"}


def repository_of(tmp_path, exports, versions):
    """A serving ROOT holding `versions` of the model digits (links to the module's exports)."""
    folders, _ = exports
    root = tmp_path / "saved_models"
    (root / "digits").mkdir(parents=True)
    for k in versions:
        (root / "digits" / str(k)).symlink_to(folders[k], target_is_directory=True)
    return root


@pytest.fixture
def serve():
    """serve(root) -> (base URL, log lines) of a dev server over root, shut down afterwards."""
    from serving.rest import dev_server

    running = []

    def start(root, **options):
        log = []
        server, url = dev_server.serve_in_thread(root, log=log.append, **options)
        running.append(server)
        return url, log

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


def get(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def answer(url, path=""):
    """The label digits answers for GREY at `path` (a version, or none: the latest served)."""
    png = io.BytesIO()
    Image.fromarray(GREY).save(png, "PNG")
    body = json.dumps({"signature_name": "image_bytes",
                       "instances": [{"b64": base64.b64encode(png.getvalue()).decode()}]}).encode()
    request = urllib.request.Request(f"{url}/v1/models/digits{path}:predict", data=body)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["predictions"][0]["label"]


def served_states(url):
    return [(s["version"], s["state"]) for s in get(f"{url}/v1/models/digits")["model_version_status"]]


def serving_config(root, *options):
    result = CliRunner().invoke(cli.main, ["serving-config", str(root), *options])
    assert result.exit_code == 0, result.output


def test_without_models_config_the_latest_version_is_served(tmp_path, exports, serve):
    _, labels = exports
    url, log = serve(repository_of(tmp_path, exports, (1, 3, 2)))
    assert served_states(url) == [("3", "AVAILABLE")] and log == []
    assert get(f"{url}/v1/models/digits/metadata")["model_spec"]["version"] == "3"
    assert answer(url) == labels[3]
    with pytest.raises(urllib.error.HTTPError, match="404"):
        answer(url, "/versions/1")


def test_all_versions_serves_every_version(tmp_path, exports, serve):
    _, labels = exports
    root = repository_of(tmp_path, exports, (1, 2, 3))
    serving_config(root, "--all-versions")
    url, _ = serve(root)
    assert served_states(url) == [("1", "AVAILABLE"), ("2", "AVAILABLE"), ("3", "AVAILABLE")]
    assert [answer(url, f"/versions/{k}") for k in (1, 2, 3)] == [labels[k] for k in (1, 2, 3)]
    assert answer(url) == labels[3]


def test_latest_n_serves_the_n_newest(tmp_path, exports, serve):
    _, labels = exports
    root = repository_of(tmp_path, exports, (1, 2, 3))
    serving_config(root, "--latest", "2")
    url, _ = serve(root)
    assert served_states(url) == [("2", "AVAILABLE"), ("3", "AVAILABLE")]
    assert [answer(url, f"/versions/{k}") for k in (2, 3)] == [labels[2], labels[3]]
    with pytest.raises(urllib.error.HTTPError, match="404"):
        answer(url, "/versions/1")


def test_a_version_whose_warmup_fails_is_logged_and_the_others_served(tmp_path, exports, serve):
    _, labels = exports
    root = repository_of(tmp_path, exports, (1, 3, 4))
    serving_config(root, "--all-versions")
    url, log = serve(root)
    assert len(log) == 1 and log[0].startswith("cnn serve: not serving digits version 4 "), log
    assert "image" in log[0].lower() and "\n" not in log[0]  # the decoder's own words, on one line
    assert served_states(url)[:2] == [("1", "AVAILABLE"), ("3", "AVAILABLE")]
    assert served_states(url)[2][0] == "4" and served_states(url)[2][1] == "END"
    assert answer(url) == labels[3]  # the latest version that loaded
    with pytest.raises(urllib.error.HTTPError, match="404"):
        answer(url, "/versions/4")


def test_several_files_in_one_server_request(tmp_path, exports, serve, monkeypatch):
    """Each printed line is that file's own answer (the export's answer for the file alone), in
    the order given, from ONE predict request, in both formats."""
    import tensorflow as tf

    from serving.rest import client

    folders, _ = exports
    url, _ = serve(repository_of(tmp_path, exports, (3,)))
    files = []
    for index, kind in enumerate(["PNG", "JPEG", "GIF", "BMP", "PNG"]):
        picture = np.zeros((12, 10), np.uint8)  # a bright block in a different place in each file
        picture[(index % 2) * 6:(index % 2) * 6 + 6, (index // 2) * 3:(index // 2) * 3 + 5] = 255
        path = tmp_path / f"{index}.{kind.lower()}"
        Image.fromarray(picture).save(path, kind)
        files.append(path)
    loaded = tf.saved_model.load(str(folders[3]))
    alone = [loaded.signatures["image_bytes"](image_bytes=tf.constant([f.read_bytes()])) for f in files]
    expected = [(str(f), CLASSES[int(a["class_id"][0])], float(a["probabilities"][0].numpy().max()))
                for f, a in zip(files, alone)]
    assert len({label for _, label, _ in expected}) > 2  # the files differ in their answers

    posts, original = [], client.call

    def counted(address, body=None, **options):  # the client's own call, its POSTs counted
        if body is not None:
            posts.append(address)
        return original(address, body, **options)

    monkeypatch.setattr(client, "call", counted)
    for extra in ([], ["--columnar"]):
        result = CliRunner().invoke(cli.main, ["predict", "--server", url, *extra, "digits", *map(str, files)])
        assert result.exit_code == 0, result.output
        lines = [line.split("\t") for line in result.output.strip().splitlines()]
        assert [(path, label) for path, label, _ in lines] == [(path, label) for path, label, _ in expected]
        for (_, _, probability), (_, _, wanted) in zip(lines, expected):
            assert float(probability) == pytest.approx(wanted, abs=1e-3)
    assert posts == [f"{url}/v1/models/digits:predict"] * 2


def corrupt_copy(source, destination, part):
    """A copy of the export `source` at `destination` with `part` cut to half its bytes, as an
    interrupted copy leaves it: "saved_model.pb" or "variables" (the weights' data file)."""
    staging = destination.parent / f".staging-{destination.name}"
    shutil.copytree(source, staging)  # the links' targets, not the links
    file = staging / part if part != "variables" else next((staging / "variables").glob("variables.data-*"))
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    staging.rename(destination)  # whole, so only the cut file is wrong
    return destination


def wait_until(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server did not pick up the change"
        time.sleep(0.1)


def status_of(url, path=""):
    return get(f"{url}/v1/models/digits{path}")["model_version_status"]


@pytest.mark.parametrize("part", ["saved_model.pb", "variables"])
def test_a_corrupt_newest_version_leaves_the_one_before_it_served(tmp_path, exports, serve, part):
    folders, labels = exports
    root = repository_of(tmp_path, exports, (1, 3))
    corrupt_copy(folders[3], root / "digits" / "4", part)
    url, log = serve(root)
    assert len(log) == 1 and "\n" not in log[0], log
    assert log[0].startswith("cnn serve: not serving digits version 4 ") and log[0].endswith(
        "; serving version 3 instead"), log[0]
    assert answer(url) == labels[3] and answer(url, "/versions/3") == labels[3]
    available, failed = status_of(url)
    assert available == {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert failed["version"] == "4" and failed["state"] == "END" and failed["status"]["error_code"] != "OK"
    assert failed["status"]["error_message"] and failed["status"]["error_message"] in log[0]
    assert status_of(url, "/versions/4") == [failed]
    with pytest.raises(urllib.error.HTTPError, match="404"):
        answer(url, "/versions/4")


def test_a_version_appearing_while_serving_is_swapped_in_only_if_it_loads(tmp_path, exports, serve):
    folders, labels = exports
    root = repository_of(tmp_path, exports, (3,))
    url, log = serve(root, poll_seconds=0.2)
    assert served_states(url) == [("3", "AVAILABLE")]
    corrupt_copy(folders[1], root / "digits" / "4", "saved_model.pb")
    wait_until(lambda: len(served_states(url)) == 2)
    assert served_states(url) == [("3", "AVAILABLE"), ("4", "END")]
    assert answer(url) == labels[3]
    assert len(log) == 1 and log[0].endswith("; serving version 3 instead"), log
    time.sleep(0.6)  # polls pass: the failed version is not loaded again, nor logged again
    assert len(log) == 1

    (root / "digits" / "5").symlink_to(folders[1], target_is_directory=True)  # a good one replaces 3
    wait_until(lambda: ("5", "AVAILABLE") in served_states(url))
    assert served_states(url) == [("4", "END"), ("5", "AVAILABLE")]
    assert answer(url) == labels[1] != labels[3]


def test_a_model_folder_serves_as_the_root_above_it_does(tmp_path, exports, serve):
    """TF Serving's --model_base_path: ROOT/digits serves digits, with ROOT's models.config."""
    _, labels = exports
    root = repository_of(tmp_path, exports, (1, 3))
    url, _ = serve(root / "digits")
    assert served_states(url) == [("3", "AVAILABLE")] and answer(url) == labels[3]

    serving_config(root, "--all-versions", "--label", "digits:stable=1")
    url, _ = serve(root / "digits")
    assert served_states(url) == [("1", "AVAILABLE"), ("3", "AVAILABLE")]
    assert answer(url, "/labels/stable") == labels[1] and answer(url) == labels[3]
