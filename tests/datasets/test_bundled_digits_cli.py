"""`python -m datasets.synthetic.bundled_digits OUT.png DIGIT` writes a test digit whose label is DIGIT
(issue 27: the argument was an index, so asking for a 7 wrote a 4), and refuses anything else in one line."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datasets.synthetic import bundled_digits
from project import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "datasets.synthetic.bundled_digits", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def test_split():
    return bundled_digits.load().splits["test"]


@pytest.mark.parametrize("digit", [7, 0, 4])
def test_writes_the_first_test_image_of_the_wanted_label(tmp_path, test_split, digit):
    out = tmp_path / "digit.png"
    result = run(out, digit)
    assert result.returncode == 0, result.stderr
    index = int(np.flatnonzero(test_split.labels == digit)[0])
    assert result.stdout.strip() == f"{out}: bundled test digit {index}, true label {digit}"
    np.testing.assert_array_equal(np.asarray(Image.open(out)), test_split.inputs[index][..., 0])
    assert test_split.labels[index] == digit


def test_index_seven_is_not_a_seven(test_split):
    """The finding itself: test image 7 is not a 7, so an index would have given the wrong digit."""
    assert test_split.labels[7] != 7


@pytest.mark.parametrize("argument", ["x", "12", "-1", "7.0"])
def test_refuses_a_non_digit_in_one_line(tmp_path, argument):
    out = tmp_path / "digit.png"
    result = run(out, argument)
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.strip() == f"DIGIT must be one of 0-9 (the label of the test image to write), not '{argument}'"


def test_unwritable_path_is_one_line(tmp_path):
    result = run(tmp_path / "missing" / "digit.png", 3)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"cannot write {tmp_path / 'missing' / 'digit.png'}: No such file or directory"
