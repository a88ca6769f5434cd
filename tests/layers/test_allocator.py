"""Importing `layers` turns on TensorFlow's BFC CPU allocator, and a user's setting wins."""
import os
import subprocess
import sys

import pytest

PROBE = "import layers, tensorflow as tf; tf.constant(1.0); print(layers.allocator.caching_allocator_active())"


@pytest.mark.parametrize("setting, active", [(None, "True"), ("false", "False"), ("true", "True")])
def test_import_prefers_the_caching_allocator_unless_the_user_said_otherwise(setting, active):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if setting is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = setting
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == active
