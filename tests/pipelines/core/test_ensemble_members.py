"""`cnn ensemble` refuses the same run twice: by path, through a link, or as a copied folder."""
import shutil

import pytest
from click.testing import CliRunner

import cli
from cli_errors import one_line_error


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    result = CliRunner().invoke(cli.main, ["train", "digits", "--epochs", "1", "--set", "image_size=8",
                                           "--run-dir", str(root / "run"), "--export-dir", ""])
    assert result.exit_code == 0, result.output
    return root / "run"


def test_the_same_run_twice_is_refused(run, tmp_path):
    line = one_line_error(["ensemble", str(run), str(run), "--export-dir", str(tmp_path / "e")])
    assert f"{run}: the same run as {run}; an ensemble needs different runs" in line
    link = tmp_path / "link"
    link.symlink_to(run)
    line = one_line_error(["ensemble", str(run), str(link), "--export-dir", str(tmp_path / "e")])
    assert f"{link}: the same run as {run}" in line
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    line = one_line_error(["ensemble", str(run), str(copy), "--export-dir", str(tmp_path / "e")])
    assert f"{copy}: a copy of the model of {run}" in line
    assert not (tmp_path / "e").exists()
