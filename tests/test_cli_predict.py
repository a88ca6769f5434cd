"""`cnn predict MODEL FILES...` (issue 27, item 6): a run folder or an export; files, folders and
quoted globs; --top-k and --json, locally and through a server; one stderr line per bad file, the
others still predicted, exit status 1. Uses the cnn-suite 0.1.0 digits run and export
(tests/fixtures/digits_0_1), whose run and export give the same probabilities."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from cli_errors import one_line_error
from datasets.synthetic import bundled_digits
from project import ROOT

OLD = ROOT / "tests" / "fixtures" / "digits_0_1"
RUN, EXPORT = OLD / "run", OLD / "export" / "digits" / "1"


def invoke(*args):
    result = CliRunner().invoke(cli.main, ["predict", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """imgs/d0.png, d1.png, sub/d9.png (each a bundled test digit), notes.txt (no image) and an empty folder."""
    folder = tmp_path_factory.mktemp("predict") / "imgs"
    (folder / "sub").mkdir(parents=True)
    (folder.parent / "empty").mkdir()
    for name, digit in (("d1.png", 1), ("d0.png", 0), ("sub/d9.png", 9)):
        bundled_digits.write_png(folder / name, digit)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def expected(images):
    """{file: probabilities} from the run's Keras model, on the same pixels."""
    from analysis import artifacts

    model = artifacts.open(RUN)
    files = [images / "d0.png", images / "d1.png", images / "sub" / "d9.png"]
    batch = np.stack([model.pipeline.read_file(str(file)) for file in files]).astype(np.float32)
    return dict(zip(map(str, files), model.predict(batch)))


def columns(line):
    path, *rest = line.split("\t")
    return path, [(label, float(p)) for label, p in zip(rest[::2], rest[1::2])]


@pytest.mark.parametrize("model", [RUN, EXPORT], ids=["run folder", "export"])
def test_a_folder_is_every_image_in_it_recursively_sorted_with_the_top_classes(model, images, expected):
    code, out, err = invoke(model, images, "--top-k", "3")
    assert (code, err) == (0, "")
    lines = [columns(line) for line in out.splitlines()]
    assert [path for path, _ in lines] == sorted(expected)  # notes.txt is not an image: not read
    for path, top in lines:
        probabilities = expected[path]
        best = np.argsort(-probabilities)[:3]
        assert [label for label, _ in top] == [str(i) for i in best]
        np.testing.assert_allclose([p for _, p in top], probabilities[best], atol=2e-4)


def test_a_quoted_glob_is_expanded_and_json_gives_one_object_per_file(images, expected):
    code, out, err = invoke(EXPORT, f"{images}/*.png", "--json", "--top-k", "2")
    assert (code, err) == (0, "")
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["file"] for o in objects] == [str(images / "d0.png"), str(images / "d1.png")]
    for o in objects:
        probabilities = expected[o["file"]]
        best = np.argsort(-probabilities)[:2]
        assert set(o) == {"file", "label", "probability", "top_k"}
        assert o["label"] == str(best[0]) == o["top_k"][0]["label"]
        assert o["probability"] == pytest.approx(float(probabilities[best[0]]), abs=2e-4)
        assert [item["label"] for item in o["top_k"]] == [str(i) for i in best]
        assert [item["probability"] for item in o["top_k"]] == pytest.approx(probabilities[best].tolist(), abs=2e-4)


@pytest.mark.parametrize("model", [RUN, EXPORT], ids=["run folder", "export"])
def test_bad_files_are_named_on_stderr_and_the_good_ones_still_predicted(model, images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    code, out, err = invoke(model, broken, images / "d0.png", tmp_path / "missing.png", images.parent / "empty",
                            f"{tmp_path}/*.jpg", images / "d1.png")
    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(images / "d0.png"), str(images / "d1.png")]
    errors = err.splitlines()
    assert len(errors) == 4 and "Traceback" not in err
    assert f"Error: {images.parent / 'empty'}: the folder holds no file to predict (.png" in err
    assert f"Error: {tmp_path}/*.jpg: the pattern holds no file to predict" in err
    assert f"Error: {tmp_path / 'missing.png'}: no such file" in errors
    assert any(line.startswith(f"Error: {broken}: ") and "Error:" not in line[7:] for line in errors)


@pytest.mark.parametrize("top_k", ["0", "11"])
def test_top_k_beyond_the_classes_is_one_line(images, top_k):
    line = one_line_error(["predict", str(EXPORT), str(images / "d0.png"), "--top-k", top_k])
    assert "--top-k" in line and (top_k == "0" or line.endswith("--top-k 11: must be between 1 and 10 (the model's classes)"))


def test_the_server_answers_with_top_k_and_json_and_goes_past_a_file_it_refuses(images, tmp_path, expected):
    from serving.rest import dev_server

    root = tmp_path / "models"
    shutil.copytree(EXPORT, root / "digits" / "1")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    running, url = dev_server.serve_in_thread(root)
    try:
        code, out, err = invoke("--server", url, "digits", images / "d0.png", broken, images / "d1.png",
                                "--json", "--top-k", "2")
        too_many = one_line_error(["predict", "--server", url, "digits", str(images / "d0.png"), "--top-k", "11"])
        label = one_line_error(["predict", "--server", url, "digits", str(images / "d0.png"), "--label", "stable"])
    finally:
        running.shutdown()
        running.server_close()
    assert code == 1
    assert err.startswith(f"Error: {broken}: ") and len(err.splitlines()) == 1
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["file"] for o in objects] == [str(images / "d0.png"), str(images / "d1.png")]
    for o in objects:
        probabilities = expected[o["file"]]
        best = np.argsort(-probabilities)[:2]
        assert o["label"] == str(best[0])  # the server names the top class; the next by their index
        assert [item["label"] for item in o["top_k"]] == [str(best[0]), f"class {best[1]}"]
        assert [item["probability"] for item in o["top_k"]] == pytest.approx(probabilities[best].tolist(), abs=2e-4)
    assert too_many.endswith("--top-k 11: must be between 1 and 10 (the model's classes)")
    assert "stable" in label  # the old --label still asks for a version label


def test_version_options_need_a_server_by_their_new_and_old_names(images):
    for option in ("--version-label", "--label"):
        line = one_line_error(["predict", str(EXPORT), str(images / "d0.png"), option, "stable"])
        assert line == "Error: --version, --version-label and --columnar need --server"
