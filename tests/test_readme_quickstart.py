"""The README's quickstart, run as written: its bash blocks are taken from README.md and run by bash
in a temporary folder holding a copy of samples/ and a `.venv` link to this Python's environment
(so the block's own `source .venv/bin/activate` puts the installed `cnn` on PATH). A change of the
product that the README does not follow, or of the README that the product does not do, fails here.

What is not run literally, and why:
- the later blocks run after the first block's `source .venv/bin/activate` line, as they would in the
  reader's shell;
- the serving block's port 8501 is replaced by a free port (a fixed port may be taken by another
  test or program on the machine); its `cnn serve` runs in the block's own process group, which
  is killed at the end even when the block fails before its `kill %1`;
- the last block (the other domains) trains three pipelines for minutes: its commands are checked
  to exist (`cnn COMMAND --help`) and its sample files to be there, and it is not run.
"""
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from project import ROOT

README = ROOT / "README.md"
VENV = pathlib.Path(sys.prefix)


def quickstart_blocks():
    """The ```bash blocks of the README's "## Quickstart" section, in order."""
    section = re.split(r"^## Quickstart$", README.read_text(), maxsplit=1, flags=re.M)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def activation(block):
    """The first block's `source ...activate` line, which the reader's shell keeps for the later blocks."""
    return re.search(r"^source \S+/activate\b.*$", block, re.M).group(0)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_block(block, cwd, timeout):
    """Run one README block with `bash -e` in its own process group; the group is killed afterwards,
    so a background `cnn serve` never outlives the test."""
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    process = subprocess.Popen(["bash", "-e", "-c", block], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, f"README block failed (exit {process.returncode}):\n{block}\n--- output:\n{output}"
    return output


@pytest.fixture(scope="module")
def quickstart_folder(tmp_path_factory):
    """A folder where the first block (train, explain, predict) has run; its output beside it."""
    if not (VENV / "bin" / "activate").exists() or not (VENV / "bin" / "cnn").exists():
        pytest.skip(f"{VENV} is not a virtual environment with cnn installed: run `make dev`")
    folder = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(ROOT / "samples", folder / "samples")
    (folder / ".venv").symlink_to(VENV, target_is_directory=True)
    blocks = quickstart_blocks()
    assert len(blocks) == 3, "README's Quickstart: expected the first steps, the serving and the other-domains blocks"
    return folder, run_block(blocks[0], folder, timeout=600)


def test_first_block_trains_explains_predicts(quickstart_folder):
    folder, output = quickstart_folder
    run = folder / "runs" / "quickstart"  # the README's --run-dir, whose report.html it tells the reader to open
    assert (run / "report.html").stat().st_size > 0
    assert (run / "config.json").exists() and (folder / "saved_models" / "digits" / "1").is_dir()
    assert list((run / "explanations").glob("digit-7_saliency_*.png")), output
    assert re.search(r"^samples/digit-7\.png\s", output, re.M), f"no prediction line for the sample:\n{output}"


def test_serving_block_answers_through_the_server(quickstart_folder):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the README's serving block waits for the server with it")
    folder, _ = quickstart_folder
    block = quickstart_blocks()[1]
    assert "8501" in block and "cnn serve" in block and "kill %1" in block
    script = activation(quickstart_blocks()[0]) + "\n" + block.replace("8501", str(free_port()))
    output = run_block(script, folder, timeout=300)
    assert re.search(r"^samples/digit-7\.png\s", output, re.M), f"no answer from the server:\n{output}"


def test_other_domains_block_names_real_commands_and_samples():
    block = quickstart_blocks()[2]
    commands = set(re.findall(r"\bcnn (\w[\w-]*)", block))
    samples = re.findall(r"\bsamples/\S+", block)
    assert commands >= {"train", "predict"} and len(samples) == 3, block
    for sample in samples:
        assert (ROOT / sample).is_file(), f"README names {sample}, which is not shipped"
    cnn = VENV / "bin" / "cnn"
    for command in sorted(commands):
        result = subprocess.run([str(cnn), command, "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"README uses `cnn {command}`: {result.stdout}{result.stderr}"
    for pipeline in re.findall(r"cnn train (\w+)", block):
        assert re.search(rf"^\| `{pipeline}` \|", README.read_text(), re.M), f"{pipeline} is not in the pipelines table"
