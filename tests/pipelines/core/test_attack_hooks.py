"""Each domain's attack hooks: the raw input range that epsilon is measured in, and adversarial
examples written in the domain's own format, read back unchanged (up to the format's rounding)."""
import nibabel
import numpy as np
import pytest
import soundfile
from PIL import Image

from factories import make_pipeline


def test_input_ranges_per_domain():
    assert make_pipeline("digits").input_range() == (0.0, 255.0)
    assert make_pipeline("objects").input_range() == (0.0, 255.0)
    assert make_pipeline("audio").input_range() == (-1.0, 1.0)
    assert make_pipeline("volumes").input_range() == (None, None)  # each volume's own
    assert make_pipeline("segment", "normalization=window").input_range() == (-1024.0, 3071.0)
    assert make_pipeline("text").input_range() is None


def test_examples_are_written_in_the_domain_format(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
    path = make_pipeline("objects").write_example(image, tmp_path / "image")
    assert path.name == "image.png"
    np.testing.assert_allclose(np.asarray(Image.open(path), np.float32), image, atol=0.5)

    waveform = rng.uniform(-1, 1, 800).astype(np.float32)
    path = make_pipeline("audio", "sample_rate=8000").write_example(waveform, tmp_path / "clip")
    read, rate = soundfile.read(path, dtype="float32")
    assert path.name == "clip.wav" and rate == 8000
    np.testing.assert_allclose(read, waveform, atol=1 / 32767 + 1e-6)

    volume = rng.normal(100, 30, (8, 9, 10, 1)).astype(np.float32)
    path = make_pipeline("volumes").write_example(volume, tmp_path / "scan")
    assert path.name == "scan.nii.gz"
    np.testing.assert_array_equal(np.asarray(nibabel.load(path).dataobj), volume[..., 0])


def test_adversarial_settings_are_checked():
    with pytest.raises(ValueError, match="--set adversarial=cw: expected one of none, fgsm, pgd"):
        make_pipeline("digits", "adversarial=cw")
    with pytest.raises(ValueError, match="--set adversarial_steps=0: must be greater than 0"):
        make_pipeline("digits", "adversarial_steps=0")
    with pytest.raises(ValueError, match="adversarial_fraction=0.0: must be in \\(0, 1\\]"):
        make_pipeline("digits", "adversarial=fgsm", "adversarial_epsilon=8", "adversarial_fraction=0")
