"""Importing `layers` turns on TensorFlow's BFC CPU allocator, and a user's setting wins.

Where TensorFlow runs oneDNN (the default on Intel CPUs with AVX-512, or TF_ENABLE_ONEDNN_OPTS=1),
its CPU device never uses the plain allocator: with TF_CPU_ALLOCATOR_USE_BFC unset or false,
`ProcessState::GetCPUAllocator` falls back to `cpu_allocator_base()`, the highest-priority
registered factory, and `threadpool_device.cc` registers oneDNN's `MklCPUAllocator` (a
BFCAllocator inside) at priority 200 when oneDNN is on, above the default allocator's 100. So
under oneDNN the device is caching in every mode, and what the user's `false` can still be
checked on is that `layers` left the setting as the user wrote it.
"""
import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os
import layers, tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
tf.constant(1.0)
print(json.dumps({"onednn": _pywrap_util_port.IsMklEnabled(), "setting": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC"),
                  "caching": layers.allocator.caching_allocator_active()}))
"""


@pytest.mark.parametrize("setting, kept, caching_without_onednn", [
    (None, "true", True),  # layers' default
    ("false", "false", False),  # the user's opt-out wins (under oneDNN, oneDNN's own BFC allocator serves)
    ("true", "true", True),
])
def test_import_prefers_the_caching_allocator_unless_the_user_said_otherwise(setting, kept, caching_without_onednn):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if setting is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = setting
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["setting"] == kept
    assert probe["caching"] is (True if probe["onednn"] else caching_without_onednn), probe
