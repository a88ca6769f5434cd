"""A package of another project with one of our generic names (Hugging Face `datasets`) first on
the path: `cnn` must say so in one line instead of mixing the two packages or failing far away."""
import os
import subprocess
import sys
import tomllib

from tests.project import ROOT


def _cnn(tmp_path, *args, pythonpath=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    # the console script's way in: the project comes from the installed finder, not the cwd
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_foreign_datasets_package_gets_one_line_naming_it_and_the_fix(tmp_path):
    foreign = tmp_path / "elsewhere" / "datasets"
    foreign.mkdir(parents=True)
    (foreign / "__init__.py").write_text('"""another project\'s datasets"""\n')
    result = _cnn(tmp_path, "pipelines", pythonpath=foreign.parent)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"'datasets' ({foreign})" in lines[0] and "not cnn-suite's" in lines[0]
    assert ".venv/bin/cnn" in lines[0] and result.stdout == ""


def test_the_project_s_own_packages_pass_the_check(tmp_path):
    result = _cnn(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.startswith("cnn, version "), result.stderr
    code = "import cli; print(cli.foreign_packages()); print(' '.join(cli.PROJECT_PACKAGES))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    foreign, checked = out.splitlines()
    installed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert foreign == "[]"
    assert sorted(checked.split()) == sorted(name.rstrip("*") for name in installed["include"])
