"""The Makefile's first-run promises (issue 27): it picks a supported Python (or says which versions
work), the versions it accepts are pyproject's requires-python, and `make demo` ends by saying how to
go on: how to reach cnn, the report, the export, and next commands that exist."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from packaging.specifiers import SpecifierSet

from project import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="no `make` on this machine")
SUPPORTED = "cnn-suite needs Python 3.11, 3.12, 3.13"


def make(*args, path=None):
    env = dict(os.environ, PATH=path) if path is not None else None
    return subprocess.run([MAKE, "-s", "--no-print-directory", "-C", str(ROOT), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def fake_python(folder, name, body):
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_supported_versions_are_requires_python():
    makefile = (ROOT / "Makefile").read_text()
    versions = re.search(r"^PYTHON_VERSIONS := (.+)$", makefile, re.M).group(1).split()
    requires = re.search(r'^requires-python = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    allowed = [f"3.{minor}" for minor in range(8, 20) if f"3.{minor}.0" in SpecifierSet(requires)]
    assert sorted(versions) == allowed


def test_picks_the_first_interpreter_that_runs(tmp_path):
    fake_python(tmp_path, "python3.13", "exit 127  # found but does not run, like a pyenv shim without 3.13")
    fake_python(tmp_path, "python3.12", f'exec {sys.executable} "$@"')
    result = make("which-python", path=str(tmp_path))
    assert result.returncode == 0 and result.stdout.strip() == "python3.12", result.stderr


def test_says_which_versions_work_when_none_is_found(tmp_path):
    fake_python(tmp_path, "python3", "exit 1  # an unsupported version fails the check")
    result = make("which-python", path=str(tmp_path))
    assert result.returncode != 0 and result.stdout == ""
    assert f"no supported Python found: {SUPPORTED}; install one, or name it: make PYTHON=/path/to/python3.X" \
        in result.stderr


def test_refuses_a_named_python_outside_the_range(tmp_path):
    unsupported = fake_python(tmp_path, "python3.10", "exit 1")
    result = make("which-python", f"PYTHON={unsupported}")
    assert result.returncode != 0 and f"PYTHON={unsupported} does not run or is not a supported version" \
        in result.stderr
    assert make("which-python", f"PYTHON={sys.executable}").stdout.strip() == sys.executable


def test_demo_ends_by_saying_how_to_go_on(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"export": "saved_models/digits/3"}))
    result = make("demo-next", f"DEMO_RUN={run}", f"VENV={sys.prefix}")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"source {sys.prefix}/bin/activate" in text and f"{sys.prefix}/bin/cnn" in text
    assert f"report: {run}/report.html" in text and "export: saved_models/digits/3" in text
    suggested = re.findall(r"^  cnn (\S+)(.*?)(?:#|$)", text, re.M)
    assert len(suggested) >= 3
    for command, arguments in suggested:
        for sample in re.findall(r"samples/\S+", arguments):
            assert (ROOT / sample).is_file(), f"make demo suggests {sample}, which is not shipped"
        help_run = subprocess.run([f"{sys.prefix}/bin/cnn", command, "--help"], capture_output=True, text=True,
                                  timeout=120)
        assert help_run.returncode == 0, f"make demo suggests `cnn {command}`: {help_run.stderr}"
