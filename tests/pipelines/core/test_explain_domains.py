"""Each domain draws its maps in its natural form (through `render_explanation`), and every map
is also a .npy at the input's resolution; run folders and exports alike."""
import nibabel as nib
import numpy as np
import pytest

from explain_runs import TEXTS, exported, scans, untrained_run
from analysis.explanations import explainer as explaining
from analysis.explanations import explain as serving_explain


def _names(lines):
    return sorted(line.strip().rsplit("/", 1)[-1] for line in lines if line.startswith("  /"))


def test_audio_maps_are_over_the_log_mel_spectrogram(tmp_path):
    pipeline, run_dir, _ = untrained_run("audio")
    t = np.arange(pipeline.config.num_samples) / pipeline.config.sample_rate
    wav = tmp_path / "tone.wav"
    wav.write_bytes(pipeline.encode_bytes(0.5 * np.sin(2 * np.pi * 697 * t) * (t > 0.1)))
    lines = explaining.explain_run(run_dir, [wav], "gradcam", target="1", out_dir=tmp_path / "run")
    stem = "tone_gradcam_1"
    assert _names(lines) == sorted([f"{stem}.npy", f"{stem}.png", f"{stem}_frames.npy", f"{stem}_samples.npy"])
    frames = 1 + pipeline.config.num_samples // pipeline.config.hop_length
    over_mel = np.load(tmp_path / "run" / f"{stem}.npy")
    assert over_mel.shape == (frames, pipeline.config.n_mels)
    assert np.load(tmp_path / "run" / f"{stem}_frames.npy").shape == (frames,)
    assert np.load(tmp_path / "run" / f"{stem}_samples.npy").shape == (pipeline.config.num_samples,)
    # a map over the waveform (what an export's signature gives) is summed into its frames
    waveform_map = np.zeros(pipeline.config.num_samples, np.float32)
    waveform_map[800] = 1.0  # sample 800 falls in the frame centred at 800 (hop 160)
    rendering = pipeline.render_explanation("tone", np.zeros_like(waveform_map), None, {"1": waveform_map},
                                            str(tmp_path / "waveform"))
    per_frame = np.load(tmp_path / "waveform_1_frames.npy")
    assert per_frame.shape == (frames,) and per_frame.argmax() == 800 // pipeline.config.hop_length
    assert per_frame.sum() == pytest.approx(1.0) and len(rendering.files) == 4


def test_text_maps_are_per_token_in_html_and_the_terminal(tmp_path):
    pipeline, run_dir, _ = untrained_run("text")
    review = tmp_path / "review.txt"
    review.write_text(TEXTS[0])
    lines = explaining.explain_run(run_dir, [review], "integrated-gradients", target="positive", out_dir=tmp_path)
    assert lines[0].endswith("maps: positive")
    page = (tmp_path / "review_integrated-gradients_positive.html").read_text()
    for token in ("film", "not", "great", "wonderful"):
        assert f">{token}</span>" in page
    assert "\x1b[48;5;" in "\n".join(lines)  # coloured tokens for the terminal
    per_token = np.load(tmp_path / "review_integrated-gradients_positive.npy")
    assert per_token.shape == (pipeline.config.sequence_length,)
    # magnitudes; an untrained (randomly initialised) max-over-time network may leave a token
    # at exactly 0, so: some weight on the review's 10 tokens, none negative
    assert per_token.min() >= 0 and per_token[:10].max() > 0
    assert page.count("<span ") == 10
    with pytest.raises(ValueError, match="input 'text' is string, which has no gradient"):
        serving_explain.explain(exported("text"), [review], "saliency", out_dir=tmp_path)


def test_volume_maps_are_nifti_on_the_scans_grid(tmp_path):
    scan = scans()["volumes"]
    _, run_dir, _ = untrained_run("volumes")
    explaining.explain_run(run_dir, [scan], "gradcam", target="lesion", out_dir=tmp_path)
    stem = tmp_path / f"{scan.name.split('.')[0]}_gradcam_lesion"
    original = nib.load(scan)
    written = nib.load(f"{stem}.nii.gz")
    assert written.shape == original.shape and np.allclose(written.affine, original.affine)
    assert written.get_data_dtype() == np.float32 and np.asarray(written.dataobj).max() > 0
    assert np.load(f"{stem}.npy").shape == original.shape
    assert (tmp_path / f"{stem.name}.png").is_file()
    # read back as the scan is read (reoriented, fitted), the map is the network-grid map
    pipeline, _, model = untrained_run("volumes")
    example, _ = pipeline.explain_input(str(scan))
    expected = explaining.for_model(model, pipeline).maps(example[None], "gradcam", 1)[0]
    read_back, _ = pipeline.explain_input(f"{stem}.nii.gz")
    inside = tuple(slice(max(0, p), min(w, p + s))
                   for p, s, w in zip(_placement(pipeline, scan), original.shape, pipeline.shape))
    assert np.allclose(read_back[..., 0][inside], expected[inside], atol=1e-6 * expected.max())


def _placement(pipeline, scan):
    """Where the scan's voxels sit in the network's window (its centre padding)."""
    _, (volume, (pad_before, offsets)) = pipeline.explain_input(str(scan))
    return [p - o for p, o in zip(pad_before, offsets)]


def test_segment_gives_one_map_per_class(tmp_path):
    scan = scans()["segment"]
    _, run_dir, _ = untrained_run("segment")
    lines = serving_explain.explain(run_dir, [scan], "saliency", out_dir=tmp_path)
    classes = ["background", "organ", "lesion"]
    assert lines[0].endswith("maps: " + ", ".join(classes))
    for name in classes:
        written = nib.load(tmp_path / f"{scan.name.split('.')[0]}_saliency_{name}.nii.gz")
        assert written.shape == nib.load(scan).shape and np.allclose(written.affine, nib.load(scan).affine)
