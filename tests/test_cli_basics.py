"""The `cnn` command's contract: fast help, one-line user errors, gradcheck exit codes."""
import os
import subprocess
import sys

from click.testing import CliRunner

import cli
from cli_errors import one_line_error

CNN = [sys.executable, "-c", "import cli; cli.main()"]


def test_help_does_not_import_tensorflow():
    code = "import sys, cli; cli.main(['--help'], standalone_mode=False); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_help_and_version_load_no_framework():
    """`cnn --help`, `--version` and each command's `--help` answer without TensorFlow or Keras
    (what made them take seconds); a wall-clock bound would measure the machine's load instead."""
    code = ("import sys, cli\n"
            "for args in (['--help'], ['--version'], *([name, '--help'] for name in cli.main.commands)):\n"
            "    try:\n"
            "        cli.main(args)\n"
            "    except SystemExit as stop:\n"
            "        assert stop.code in (0, None), (args, stop.code)\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_version_names_the_program():
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("cnn, version ")


def test_gradcheck_passes_and_prints_a_table():
    result = CliRunner().invoke(cli.main, ["gradcheck", "--quick", "Conv1D", "MaxPooling1D"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["layer", "fwd<1e-05", "dx<1e-05", "dW<1e-05", "fd<1e-06"]
    assert sum(line.startswith("Conv1D ") for line in lines) == 2
    assert sum(line.startswith("MaxPooling1D ") for line in lines) == 2
    assert lines[-1] == "All cases within tolerance."


def test_gradcheck_unknown_layer_is_one_line_without_traceback():
    result = subprocess.run(CNN + ["gradcheck", "Conv9D"], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error: No registered layer named 'Conv9D'. Registered: " in result.stderr


WRONG_LAYER = '''
import keras, tensorflow as tf
import layers

@layers.register(cases=[layers.Case({}, (2, 5, 3))], reference=lambda config: keras.layers.ReLU())
class WrongReLU(layers.HandWrittenLayer):
    def forward(self, x):
        return tf.nn.relu(x), x

    def backward(self, dy, x):
        return dy  # forgets the x > 0 mask
'''


def test_gradcheck_module_registers_user_layers_and_fails_a_wrong_one(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(WRONG_LAYER)
    result = CliRunner().invoke(cli.main, ["gradcheck", "--module", str(path), "WrongReLU"])
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if line.startswith("WrongReLU"))
    assert "FAIL dx,fd" in row
    assert result.output.splitlines()[-1] == "1 failing case(s)."


def test_tensorflow_start_up_lines_are_not_printed():
    """absl's InitializeLog warning and the oneDNN/CUDA notices are C++ lines written before
    TF_CPP_MIN_LOG_LEVEL applies; commands that load TensorFlow keep them off the terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("CNN_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    result = subprocess.run(CNN + ["gradcheck", "--list"], capture_output=True, text=True, env=env, check=True)
    assert "Conv2D" in result.stdout
    for noise in ("absl::InitializeLog", "oneDNN", "cuda", "cuInit"):
        assert noise not in result.stderr, result.stderr


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from pipelines.engine import training

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert training.progress_verbosity() == 1  # Keras's progress bar
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert training.progress_verbosity() == 2  # one line per epoch in logs and pipes


def test_gradcheck_module_that_is_missing_is_one_line(tmp_path):
    missing = tmp_path / "my_layers.py"
    assert one_line_error(["gradcheck", "--module", str(missing)]) == \
        f"Error: --module {missing}: no such file"
