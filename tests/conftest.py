import os

import session_cache

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the xdist controller, or a run without workers
        session_cache.start()


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        session_cache.finish()
