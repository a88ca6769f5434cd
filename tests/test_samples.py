"""samples/ (the quickstart's inputs) holds what its file names say: digit-7.png is a bundled test 7,
dtmf-5.wav is key 5's two tones, and samples/make_samples.py makes exactly the shipped files."""
import importlib.util
import wave

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from datasets.synthetic import bundled_digits, dtmf
from project import ROOT

SAMPLES = ROOT / "samples"
NAMES = ["digit-7.png", "dtmf-5.wav", "phantom-lesion.nii.gz", "review-positive.txt"]


def read_wav(path):
    with wave.open(str(path)) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, 16000)
        return np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float64)


def test_the_digit_is_the_first_bundled_test_image_of_its_label():
    test = bundled_digits.load().splits["test"]
    index = int(np.flatnonzero(test.labels == 7)[0])
    np.testing.assert_array_equal(np.asarray(Image.open(SAMPLES / "digit-7.png")), test.inputs[index][..., 0])


def test_the_tone_is_the_key_in_its_name():
    """Of the 4 low-group and 3 high-group DTMF frequencies, the strongest of each are key 5's."""
    samples = read_wav(SAMPLES / "dtmf-5.wav")
    times = np.arange(len(samples)) / 16000

    def energy(hz):
        return abs(np.sum(samples * np.exp(-2j * np.pi * hz * times)))

    low = max(dtmf.LOW, key=energy)
    high = max(dtmf.HIGH, key=energy)
    assert (low, high) == dtmf.key_frequencies("5")


def test_the_volume_is_a_3d_nifti_and_the_review_one_line():
    volume = nib.load(SAMPLES / "phantom-lesion.nii.gz")
    assert len(volume.shape) == 3 and all(20 <= n <= 28 for n in volume.shape)
    assert np.isfinite(volume.get_fdata()).all()
    text = (SAMPLES / "review-positive.txt").read_text()
    assert text.endswith("\n") and text.count("\n") == 1 and len(text) > 20


def test_make_samples_writes_the_shipped_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(NAMES)
    assert np.array_equal(np.asarray(Image.open(tmp_path / NAMES[0])), np.asarray(Image.open(SAMPLES / NAMES[0])))
    assert np.array_equal(read_wav(tmp_path / NAMES[1]), read_wav(SAMPLES / NAMES[1]))
    made, shipped = nib.load(tmp_path / NAMES[2]), nib.load(SAMPLES / NAMES[2])
    assert np.array_equal(made.get_fdata(), shipped.get_fdata()) and np.allclose(made.affine, shipped.affine)
    assert (tmp_path / NAMES[3]).read_text() == (SAMPLES / NAMES[3]).read_text()


@pytest.mark.parametrize("name", NAMES)
def test_samples_are_small(name):
    assert (SAMPLES / name).stat().st_size < 100_000
