"""Where the project and the shared data sets are, for tests in any folder of tests/."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # absent in a user's clone: tests skip
