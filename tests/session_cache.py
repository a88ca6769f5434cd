"""Work done once per test session and shared by the pytest-xdist workers: a folder per
session (made by the controller, removed when the session ends) and file locks, so each trained
run is built by one worker and read by the others."""
import contextlib
import fcntl
import os
import pathlib
import shutil
import tempfile

ENV = "CNN_TESTS_SESSION_DIR"


def start():
    """Called by the controller (or the only process) before any worker starts: the workers
    inherit the variable."""
    os.environ[ENV] = tempfile.mkdtemp(prefix="cnn-tests-session-")


def finish():
    shutil.rmtree(os.environ.pop(ENV), ignore_errors=True)


def folder(name):
    """`<session folder>/<name>`, created."""
    path = pathlib.Path(os.environ[ENV]) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(lock_file, wait=True):
    """Holds an exclusive lock on `lock_file` across processes; yields False (and holds nothing)
    when another process has it and `wait` is False."""
    with open(lock_file, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
