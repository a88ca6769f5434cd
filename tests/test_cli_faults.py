"""The machine's faults at the CLI: a full or read-only disk is one line, exit 2; a programming
error keeps its traceback."""
import click
import pytest
from click.testing import CliRunner

import cli


def _invoke(body):
    @click.command()
    @cli.user_errors
    def command():
        body()

    return CliRunner().invoke(command, [])


def _write_python():
    with open("/dev/full", "wb") as stream:  # every write: ENOSPC, as on a full disk
        stream.write(b"x" * 100_000)
        stream.flush()


def _write_tensorflow():
    import tensorflow as tf

    tf.io.write_file("/dev/full", b"x" * 100_000)  # TF's own writer: ResourceExhaustedError


@pytest.mark.parametrize("body", [_write_python, _write_tensorflow])
def test_full_disk_is_one_line(body):
    result = _invoke(body)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("Error: ") and "No space left on device" in lines[0]


def test_read_only_file_system_is_one_line():
    def body():
        raise OSError(30, "Read-only file system", "/exports/digits/.tmp-1")

    result = _invoke(body)
    assert result.exit_code == 2
    assert result.output.strip() == "Error: [Errno 30] Read-only file system: '/exports/digits/.tmp-1'"


@pytest.mark.parametrize("error", [TypeError("bug"), AttributeError("bug"), KeyError("bug")])
def test_programming_errors_keep_their_traceback(error):
    def body():
        raise error

    result = _invoke(body)
    assert result.exit_code == 1 and result.exception is error  # not turned into a user error


def test_other_tensorflow_errors_keep_their_traceback():
    import tensorflow as tf

    def body():
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    result = _invoke(body)
    assert result.exit_code == 1 and isinstance(result.exception, tf.errors.ResourceExhaustedError)
