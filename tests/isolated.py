"""Run Python where this project is NOT importable, as a TF Serving host would be.

The project is installed in editable mode, and its `.pth` finder would make `layers` importable
from anywhere; `python -S` skips `.pth` processing, and site-packages is put back on the path
plainly, so TensorFlow imports but the project does not.
"""
import os
import subprocess
import sys
import sysconfig

GUARD = """
import importlib.util, sys
for _name in ("layers", "pipelines", "datasets", "cli"):
    if importlib.util.find_spec(_name) is not None:
        sys.exit(f"the project module {_name!r} is importable here: the check would prove nothing")
"""


def run_without_project(script, cwd, timeout=300):
    """Run `script` in a fresh interpreter without the project; returns CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run(
        [sys.executable, "-S", "-c", GUARD + script], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=timeout,
    )
