"""The export contract TF Serving relies on, for every pipeline: named signatures with batch None,
a `*_bytes` signature, core TensorFlow ops only, warmup records that replay, the same predictions
without the project as in-process, `saved_model_cli` listing it all, and atomic versions."""
import collections
import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from project import ROOT

from serving_exports import TINY, assert_core_tensorflow_only, trained
from isolated import run_without_project

INPUTS = {"digits": "image", "objects": "image", "audio": "waveform", "text": "text",
          "volumes": "volume", "segment": "volume"}

CHECK = """
import json, numpy as np, tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

report, arrays = {}, {}
for name, path in EXPORTS.items():
    loaded = tf.saved_model.load(path)
    signatures = {
        key: {"inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in f.structured_input_signature[1].items()},
              "outputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in f.structured_outputs.items()}}
        for key, f in loaded.signatures.items()}
    records = []
    for index, raw in enumerate(tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests")):
        request = prediction_log_pb2.PredictionLog.FromString(raw.numpy()).predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
        records.append([request.model_spec.name, request.model_spec.signature_name])
        arrays[f"{name}/{index}"] = outputs["probabilities"].numpy()
    report[name] = {"signatures": signatures, "records": records,
                    "class_names": open(path + "/assets/class_names.txt").read().split()}
np.savez("outputs.npz", **arrays)
json.dump(report, open("report.json", "w"))
"""


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """One fresh interpreter without the project loads every export and replays its warmup."""
    exports = {name: str(result.export_path) for name, result in trained().items()}
    folder = tmp_path_factory.mktemp("isolated")
    result = run_without_project(f"EXPORTS = {exports!r}\n" + CHECK, cwd=folder, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((folder / "report.json").read_text())
    with np.load(folder / "outputs.npz") as outputs:
        return report, dict(outputs)


@pytest.mark.parametrize("name", list(TINY))
def test_signatures_follow_the_contract(isolated, name):
    report = isolated[0][name]
    key = INPUTS[name]
    default = report["signatures"]["serving_default"]
    (input_name, (dtype, shape)), = default["inputs"].items()
    assert input_name == key and shape[0] is None
    expected = {"probabilities", "segmentation"} if name == "segment" else {"probabilities", "class_id", "label"}
    assert set(default["outputs"]) == expected
    assert all(shape[0] is None for _, shape in default["outputs"].values())
    if name == "text":  # already DT_STRING: {"b64": ...} goes to `text` itself
        assert dtype == "string" and set(report["signatures"]) == {"serving_default"}
    else:
        assert report["signatures"][f"{key}_bytes"]["inputs"] == {f"{key}_bytes": ["string", [None]]}
        assert report["signatures"][f"{key}_bytes"]["outputs"] == default["outputs"]
    from pipelines.core import runs

    assert report["class_names"] == runs.read_record(trained()[name].run_dir)["class_names"]


@pytest.mark.parametrize("name", list(TINY))
def test_only_core_tensorflow_ops(name):
    assert_core_tensorflow_only(trained()[name].export_path)


@pytest.mark.parametrize("name", list(TINY))
def test_warmup_records_replay_and_match_the_keras_model(isolated, name):
    import tensorflow as tf

    from serving import warmup

    report, outputs = isolated
    result = trained()[name]
    records = warmup.read(result.export_path)
    per_signature = min(4, result.held_out_count)  # README: 4 held-out examples per signature
    assert collections.Counter(s for s, _ in records) == {s: per_signature for s in report[name]["signatures"]}
    assert [list(r) for r in report[name]["records"]] == [[name, s] for s, _ in records]
    signatures = {s for s, _ in records}
    assert signatures == set(report[name]["signatures"])  # every signature is warmed up

    model = result.keras_model()
    default = [i for i, (s, _) in enumerate(records) if s == "serving_default"]
    for index in default:
        batch = next(iter(records[index][1].values()))
        expected = model(tf.constant(batch), training=False).numpy()
        np.testing.assert_allclose(outputs[f"{name}/{index}"], expected, atol=1e-5)
    encoded = [i for i, (s, _) in enumerate(records) if s != "serving_default"]
    for index, same in zip(encoded, default):  # the same examples, encoded as clients send them
        np.testing.assert_allclose(outputs[f"{name}/{index}"], outputs[f"{name}/{same}"], atol=2e-3)


SAVED_MODEL_CLI = """
import sys
from tensorflow.python.tools import saved_model_cli  # what the saved_model_cli script runs
for folder in sys.argv[1:]:
    sys.argv = ["saved_model_cli", "show", "--dir", folder, "--all"]
    print("=== " + folder, flush=True)
    try:
        saved_model_cli.main()
    except SystemExit as stop:
        assert not stop.code, stop.code
"""


def test_saved_model_cli_lists_the_signatures():
    """`saved_model_cli show --dir D --all` for every export, in one interpreter (one TF import)."""
    exports = {name: str(result.export_path) for name, result in trained().items()}
    process = subprocess.run([sys.executable, "-c", SAVED_MODEL_CLI, *exports.values()],
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    shown = dict(part.split("\n", 1) for part in process.stdout.split("=== ")[1:])
    for name, folder in exports.items():
        out, key = shown[folder], INPUTS[name]
        assert "signature_def['serving_default']:" in out
        assert f"inputs['{key}'] tensor_info:" in out
        assert "outputs['probabilities'] tensor_info:" in out
        if name != "text":
            assert f"signature_def['{key}_bytes']:" in out
            assert f"inputs['{key}_bytes'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in out


KILLED_EXPORT = """
import os, signal, sys
import pipelines
from pipelines.core import config
from serving import export, signatures

cls = pipelines.get("digits")
pipeline = cls(config.override(cls.Config(), ["image_size=8", "filters=4,4,4", "dense_units=8"]))
written = signatures.write_archive

def write_then_die(*args, **kwargs):
    written(*args, **kwargs)  # a complete SavedModel in the temporary folder: the worst moment
    os.kill(os.getpid(), signal.SIGKILL)

signatures.write_archive = write_then_die
export.export(pipeline.build_model(3), pipeline, ["a", "b", "c"], sys.argv[1])
"""


def _servable_versions(folder):
    return [p for p in folder.iterdir() if p.name.isdigit()]


def test_a_killed_export_leaves_no_version(tmp_path):
    from serving import export

    process = subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    folder = tmp_path / "digits"
    leftovers = list(folder.iterdir())
    assert [p.name.startswith(".tmp-") for p in leftovers] == [True]  # hidden, non-integer
    assert (leftovers[0] / "model" / "saved_model.pb").is_file()  # it was killed after writing
    assert _servable_versions(folder) == [] and export.next_version(folder) == 1


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    import pipelines
    from pipelines.core import config
    from serving import export, signatures

    cls = pipelines.get("digits")
    pipeline = cls(config.override(cls.Config(), ["image_size=8", "filters=4,4,4", "dense_units=8"]))
    written = signatures.write_archive

    def write_then_fail(*args, **kwargs):
        written(*args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(signatures, "write_archive", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export.export(pipeline.build_model(3), pipeline, ["a", "b", "c"], tmp_path)
    assert list((tmp_path / "digits").iterdir()) == []


def test_raw_bytes_signature_checks_the_size(isolated):
    import tensorflow as tf

    from serving import warmup

    path = trained()["volumes"].export_path
    loaded = tf.saved_model.load(str(path))
    volume = next(v for s, v in warmup.read(path) if s == "serving_default")["volume"][0]
    outputs = loaded.signatures["volume_bytes"](volume_bytes=tf.constant([volume.astype("<f4").tobytes()]))
    expected = loaded.signatures["serving_default"](volume=tf.constant(volume[None]))
    np.testing.assert_array_equal(outputs["probabilities"].numpy(), expected["probabilities"].numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="each element must be 16384 bytes"):
        loaded.signatures["volume_bytes"](volume_bytes=tf.constant([b"\0" * 100]))
    metadata = json.loads((path / "assets.extra" / "cnn_suite.json").read_text())
    assert metadata["bytes_input"] == "raw little-endian float32, C order"
    assert metadata["class_names"] == (path / "assets" / "class_names.txt").read_text().split()


def test_export_of_a_run_gets_warmup_from_its_data(tmp_path):
    from serving import export, warmup

    result = trained()["text"]
    path = export.export_run(result.run_dir, tmp_path)
    assert path == tmp_path / "text" / "1"
    records = warmup.read(path)
    assert [s for s, _ in records] == ["serving_default"] * warmup.PER_SIGNATURE
    assert all(v["text"].dtype == object and v["text"].shape == (1,) for _, v in records)
