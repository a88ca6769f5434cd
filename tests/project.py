"""Where the project and the shared data sets are, for tests in any folder of tests/."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # absent in a user's clone: tests skip


def shared_data(*parts):
    """The path of a file or folder in ../shared/data; when it is absent the test is skipped,
    or fails when the CI environment variable is set (CI has the data: a skip would hide that
    the test never ran)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"../shared/data/{'/'.join(parts)} is not present"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the shared data must be there)")
        pytest.skip(message)
    return path
