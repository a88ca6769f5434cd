"""Hostile and broken files: each is refused with one line naming the file, before training."""
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cli_errors import one_line_error
from datasets.formats import images


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width, height, idat):
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def corrupt_png(path):
    """A 16x16 PNG whose every CRC is valid but whose compressed pixel data is not deflate."""
    rows = b"".join(b"\0" + bytes(range(i, i + 16)) for i in range(16))
    data = bytearray(zlib.compress(rows))
    data[2:-4] = bytes(b ^ 0x5A for b in data[2:-4])  # the deflate stream garbled, zlib header kept
    path.write_bytes(_png(16, 16, bytes(data)))
    return path


def bomb_png(path, side=16384):
    """A small PNG whose header claims side x side pixels."""
    path.write_bytes(_png(side, side, zlib.compress(b"\0" * 1024)))
    return path


def test_corrupt_compressed_data_with_valid_crcs_is_named(tmp_path):
    path = corrupt_png(tmp_path / "garbled.png")
    with Image.open(path) as image:
        image.verify()  # what the old up-front check did: it passes
    with pytest.raises(ValueError, match=r"garbled.png: not a readable image"):
        images.check_file(path)


@pytest.mark.parametrize("side", [16384, 9000])  # Pillow's own bomb error; our lower cap
def test_decompression_bomb_is_named(tmp_path, side):
    path = bomb_png(tmp_path / "bomb.png", side)
    with pytest.raises(ValueError, match=r"bomb.png: .*(decompression bomb|pixels)"):
        images.check_file(path)
    with pytest.raises(ValueError, match=r"bomb.png: "):
        images.read(path, "L")  # what `cnn predict` reads


def _folders(tmp_path, bad):
    root = tmp_path / "data"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / label / f"{i}.png")
    bad(root / "b" / "9.png")
    return root


@pytest.mark.parametrize("bad, message", [(corrupt_png, "9.png: not a readable image"),
                                          (bomb_png, "9.png: too many pixels")])
def test_train_names_the_bad_image_in_one_line(tmp_path, bad, message):
    root = _folders(tmp_path, bad)
    line = one_line_error(["train", "digits", "--data", str(root), "--run-dir", str(tmp_path / "run"),
                           "--export-dir", str(tmp_path / "exports"), "--epochs", "1"])
    assert message in line and str(root / "b" / "9.png") in line, line


def test_good_images_still_pass(tmp_path):
    path = tmp_path / "ok.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(path)
    images.check_file(path)
    assert images.read(path, "RGB").shape == (8, 8, 3)


# ------------------------------------------------------------------------------ NIfTI
def _nifti_claiming(path, shape):
    """A small 4x4x4 float32 NIfTI file whose header's dims are rewritten to claim `shape`."""
    import gzip

    import nibabel as nib

    plain = path.with_name("plain.nii")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(plain))
    data = bytearray(plain.read_bytes())
    data[40:56] = struct.pack("<8h", 3, *shape, 1, 1, 1, 1)  # dim[0..7] at offset 40
    data = bytes(data)
    path.write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["huge.nii", "huge.nii.gz"])
def test_nifti_header_claiming_more_than_its_file_is_refused_before_allocating(tmp_path, name, monkeypatch):
    from datasets.formats import nifti

    path = _nifti_claiming(tmp_path / name, (512, 512, 512))
    assert path.stat().st_size < 3000
    allocated = []
    monkeypatch.setattr(np, "asanyarray", lambda *a, **k: allocated.append(a) or np.zeros(1))
    with pytest.raises(nifti.VolumeError, match=rf"{name}: the header claims 512x512x512"):
        nifti.read_image(path)
    assert allocated == []  # refused from the header, before the voxels were read


def test_nifti_over_the_voxel_cap_is_refused(tmp_path):
    from datasets.formats import nifti

    path = _nifti_claiming(tmp_path / "cap.nii.gz", (2048, 2048, 1024))
    with pytest.raises(nifti.VolumeError, match=r"cap.nii.gz: the header claims 2048x2048x1024 = .* voxels, more than"):
        nifti.read_image(path)


def test_nifti_that_fits_its_file_still_loads(tmp_path):
    from datasets.formats import nifti

    image, data = nifti.read_image(_nifti_claiming(tmp_path / "ok.nii", (4, 4, 4)))
    assert data.shape == (4, 4, 4)


# ------------------------------------------------------------------------------ .npz
def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _digits_npz(path, x):
    return _npz(path, x_train=x, y_train=np.arange(len(x)) % 2)


@pytest.mark.parametrize("make, message", [
    (lambda p: (p.write_bytes(b""), p)[1], "empty file (0 bytes)"),
    (lambda p: (p.write_bytes(_digits_npz(p, np.zeros((6, 8, 8), np.uint8)).read_bytes()[:300]), p)[1],
     "not a readable .npz, truncated or corrupt"),
    (lambda p: (p.write_bytes(b"PK\x03\x04" + b"\0" * 50), p)[1], "not a readable .npz"),
])
def test_empty_and_truncated_npz_are_one_line_naming_the_file(tmp_path, make, message):
    from datasets.formats import npz

    path = make(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=re.escape(f"bad.npz: {message}")):
        npz.load(path)
    line = one_line_error(["train", "digits", "--data", str(path), "--run-dir", str(tmp_path / "run"),
                           "--export-dir", str(tmp_path / "exports")])
    assert str(path) in line and message in line, line


def test_npz_nan_and_inf_are_named(tmp_path):
    from datasets.formats import npz

    x = np.zeros((6, 4), np.float32)
    x[1, 2], x[3, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"nan.npz \(x_train\): 2 NaN/Inf value\(s\) of 24"):
        npz.load(_digits_npz(tmp_path / "nan.npz", x))


def test_float_pixels_in_unit_range_are_refused_not_rounded_to_black(tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (6, 8, 8)).astype(np.float32)
    path = _digits_npz(tmp_path / "unit.npz", x)
    line = one_line_error(["train", "digits", "--data", str(path), "--run-dir", str(tmp_path / "run"),
                           "--export-dir", str(tmp_path / "exports")])
    assert "unit.npz (x_train): float pixels in 0" in line and "multiply by 255" in line, line


def test_pixels_outside_0_255_are_refused_and_0_255_floats_accepted(tmp_path):
    from datasets.formats import images, npz

    with pytest.raises(ValueError, match=r"outside 0..255"):
        images.check_pixels(np.full((2, 4, 4), 300.0), "x")
    source = npz.load(_digits_npz(tmp_path / "ok.npz", np.full((6, 8, 8), 200.0, np.float32)))
    images.check_pixels(source.splits["train"].inputs, "ok")  # floats 0..255 are fine


# ------------------------------------------------------------------------------ CSV manifests
BOM = "\ufeff"  # Excel's "CSV UTF-8" starts the file with it


def _save_volume(path, value, dtype=np.float32):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.full((3, 4, 5), value, dtype), np.eye(4)), str(path))


def test_a_manifest_with_a_byte_order_mark_reads_in_every_domain(tmp_path):
    from datasets import folders, volumes
    from datasets.formats import decathlon

    for i, label in enumerate("abab"):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
        _save_volume(tmp_path / f"{i}.nii.gz", float(i))
        _save_volume(tmp_path / f"{i}_lab.nii.gz", i % 2, np.uint8)
    images_csv = tmp_path / "images.csv"
    images_csv.write_text(BOM + "path,label\n" + "".join(f"{i}.png,{label}\n" for i, label in enumerate("abab")),
                          encoding="utf-8")
    data = folders.load(images_csv, (".png",), images.check_file)
    assert data.class_names == ["a", "b"] and len(data.split("all")) == 4
    volumes_csv = tmp_path / "volumes.csv"
    volumes_csv.write_text(BOM + "image,label\n" + "".join(f"{i}.nii.gz,{label}\n" for i, label in enumerate("abab")),
                           encoding="utf-8")
    assert volumes.nifti_manifest(volumes_csv).class_names == ["a", "b"]
    pairs_csv = tmp_path / "pairs.csv"
    pairs_csv.write_text(BOM + "image,label,split\n0.nii.gz,0_lab.nii.gz,train\n1.nii.gz,1_lab.nii.gz,test\n",
                         encoding="utf-8")
    assert decathlon.read_source(pairs_csv) is not None


def test_a_split_typo_is_an_error_in_the_decathlon_pairs(tmp_path):
    from datasets.formats import decathlon
    from datasets.formats.nifti import VolumeError

    for i in range(2):
        _save_volume(tmp_path / f"{i}.nii.gz", float(i))
        _save_volume(tmp_path / f"{i}_lab.nii.gz", 1, np.uint8)
    table = tmp_path / "pairs.csv"
    table.write_text("image,label,split\n0.nii.gz,0_lab.nii.gz,train\n1.nii.gz,1_lab.nii.gz,tset\n")
    with pytest.raises(VolumeError, match=r"pairs\.csv:3: split 'tset' is not one of train, val, test"):
        decathlon.read_source(table)


# ------------------------------------------------------------------------------ class names
def _pngs(folder, count=2):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(folder / f"{i}.png")


@pytest.mark.parametrize("layout", ["folders", "csv", "npz"])
def test_a_class_name_with_a_line_break_is_refused_in_one_line(tmp_path, layout):
    if layout == "folders":
        data = tmp_path / "data"
        _pngs(data / "cat")
        _pngs(data / "big\ndog")
    elif layout == "csv":
        _pngs(tmp_path)
        data = tmp_path / "m.csv"
        data.write_text('path,label\n0.png,cat\n1.png,"big\ndog"\n0.png,cat\n1.png,"big\ndog"\n')
    else:
        data = _npz(tmp_path / "d.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 0, 1]),
                    class_names=np.array(["cat", "big\ndog"]))
    line = one_line_error(["train", "digits", "--data", str(data), "--run-dir", str(tmp_path / "run"),
                           "--export-dir", str(tmp_path / "exports")])
    assert "class name 'big\\ndog' contains a line break" in line, line
    assert not (tmp_path / "run").exists()  # bad data leaves no run folder behind


def test_the_export_refuses_a_class_name_with_a_line_break_too(tmp_path):
    """The last guard, for class names from any source (TFDS metadata, a config)."""
    import pipelines
    from serving import export

    with pytest.raises(ValueError, match=r"class name 'a\\nb' contains a line break"):
        export.export(None, pipelines.get("digits")(), ["x", "a\nb"], tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


# ------------------------------------------------------------------------------ audio
@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_audio_over_the_sample_cap_is_refused_before_decoding(tmp_path, monkeypatch, suffix):
    import soundfile

    from datasets.formats import audio

    path = tmp_path / f"long.{suffix}"
    tone = (0.5 * np.sin(np.arange(4000) / 5.0)).astype(np.float32)
    soundfile.write(path, tone, 8000, subtype="PCM_16")
    assert audio.load_clip(path, 8000).shape == (4000,)
    monkeypatch.setattr(audio, "MAX_SAMPLES", 1000)
    with pytest.raises(ValueError, match=rf"long.{suffix}: .* more than the 1000"):
        audio.load_clip(path, 8000)
