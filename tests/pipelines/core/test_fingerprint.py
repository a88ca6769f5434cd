"""`cnn fingerprint` and the plan (`cnn train --plan`): the numbers against an independent
computation on each domain's bundled data, each plan rule, and the user's settings winning."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import cli
import pipelines
from cli_errors import one_line_error
from pipelines.core import fingerprint, planning, sources
from pipelines.core.config import override


def measured(name, *settings, source="bundled"):
    cls = pipelines.get(name)
    pipeline = cls(override(cls.Config(), list(settings)))
    return pipeline, fingerprint.measure(pipeline, source)


def training_split(pipeline, source="bundled"):
    return sources.load_splits(pipeline, source).train


# ------------------------------------------------------------------ streaming statistics
def test_stream_is_exact_for_small_data_and_bounded_for_large():
    stream = fingerprint.Stream()
    values = np.arange(101, dtype=np.float64)
    stream.add(values)
    summary = stream.summary()
    assert (summary["min"], summary["max"], summary["mean"], summary["median"]) == (0, 100, 50, 50)
    assert summary["p5"] == pytest.approx(5) and summary["p95"] == pytest.approx(95)
    big = fingerprint.Stream()
    for _ in range(200):  # 200 x 256 values offered: more than the reservoir holds
        big.add(np.random.default_rng(1).uniform(0, 1, 1000))
    assert len(big.sample) == fingerprint.RESERVOIR and big.count == 200_000
    assert big.summary()["median"] == pytest.approx(0.5, abs=0.03)


def test_stream_mean_and_std_are_exact_over_uneven_batches():
    rng = np.random.default_rng(2)
    batches = [1e6 + rng.normal(0, 0.5, size) for size in (1, 7, 4000, 3)]  # a large mean, a small spread
    stream = fingerprint.Stream()
    for batch in batches:
        stream.add(batch)
    every = np.concatenate(batches)
    assert stream.summary()["mean"] == pytest.approx(every.mean(), rel=1e-15)
    assert stream.summary()["std"] == pytest.approx(every.std(), rel=1e-9)  # float64 E[x^2]-E[x]^2: ~1e-4 off here


def test_values_tell_binary_integer_and_many():
    binary, labels, many = fingerprint.Values(), fingerprint.Values(), fingerprint.Values()
    binary.add(np.array([0, 255, 255], np.uint8))
    labels.add(np.array([0.0, 1.0, 2.0]))
    many.add(np.linspace(0, 1, 1000))
    assert binary.summary() == {"distinct": [0.0, 255.0], "integer": True, "binary": True}
    assert labels.summary() == {"distinct": [0.0, 1.0, 2.0], "integer": True, "binary": False}
    assert many.summary() == {"distinct": None, "integer": False, "binary": False}


# ------------------------------------------------------------------ each domain's bundled data
def test_class_counts_and_imbalance_match_the_training_split():
    pipeline, result = measured("objects", "bundled_per_class=6")
    train = training_split(pipeline)
    counts = np.bincount(train.labels)
    assert list(result["classes"].values()) == counts.tolist() and result["examples"] == len(train)
    assert result["imbalance"] == pytest.approx(counts.max() / counts[counts > 0].min())


def test_images_sizes_channels_intensity():
    pipeline, result = measured("digits")
    inputs = np.asarray(training_split(pipeline).inputs)
    stats = result["statistics"]
    assert stats["size"] == {f"{inputs.shape[1]}x{inputs.shape[2]}": len(inputs)}
    assert stats["channels"] == {str(inputs.shape[3] if inputs.ndim == 4 else 1): len(inputs)}
    assert stats["aspect_ratio"]["median"] == pytest.approx(inputs.shape[2] / inputs.shape[1])
    assert (stats["intensity"]["min"], stats["intensity"]["max"]) == (inputs.min(), inputs.max())
    assert stats["intensity"]["mean"] == pytest.approx(inputs.mean())


def test_images_from_files_are_measured_at_their_own_size(tmp_path):
    from PIL import Image

    for label, size in (("a", (20, 10)), ("b", (30, 12))):
        for index in range(3):
            folder = tmp_path / label
            folder.mkdir(exist_ok=True)
            Image.new("RGB", size, (index * 40, 0, 0)).save(folder / f"{index}.png")
    _, result = measured("objects", "test_fraction=0.34", source=str(tmp_path))
    stats = result["statistics"]
    assert stats["size"] == {"10x20": 2, "12x30": 2}  # height x width; the decode for training resizes
    assert stats["channels"] == {"3": 4}


def test_audio_durations_and_silence():
    pipeline, result = measured("audio", "bundled_per_class=2")
    clips = np.asarray(training_split(pipeline).inputs, np.float64)
    rate = pipeline.config.sample_rate
    stats = result["statistics"]
    assert stats["duration_seconds"]["median"] == pytest.approx(clips.shape[1] / rate)
    loud = [np.flatnonzero(np.abs(c) > np.abs(c).max() / 1000) for c in clips]  # -60 dB
    assert stats["leading_silence_seconds"]["mean"] == pytest.approx(np.mean([x[0] for x in loud]) / rate)
    assert stats["trailing_silence_seconds"]["max"] == pytest.approx(
        max(len(c) - 1 - x[-1] for c, x in zip(clips, loud)) / rate)
    assert stats["channels"] == {"1": len(clips)}


def test_text_token_lengths_vocabulary_and_non_ascii(tmp_path):
    texts = ["Good film, truly good!", "bad", "très bien ça", "an awful, awful plot here"] * 3
    manifest = tmp_path / "texts.csv"
    manifest.write_text("text,label\n" + "".join(f"\"{t}\",{'pos' if i % 2 else 'neg'}\n"
                                                  for i, t in enumerate(texts)), encoding="utf-8")
    pipeline, result = measured("text", "test_fraction=0.25", source=str(manifest))
    train = [t.decode() if isinstance(t, bytes) else t for t in training_split(pipeline, str(manifest)).inputs]
    words = [t.lower().replace(",", "").replace("!", "").split() for t in train]
    stats = result["statistics"]
    assert stats["tokens"]["median"] == pytest.approx(np.median([len(w) for w in words]))
    assert stats["tokens"]["p95"] == pytest.approx(np.percentile([len(w) for w in words], 95))
    assert stats["vocabulary"] == {"size": len({w for ws in words for w in ws}), "at_least": False}
    characters = "".join(train)
    assert stats["non_ascii_characters"]["share"] == pytest.approx(
        sum(not c.isascii() for c in characters) / len(characters))


def test_volumes_shapes_values_and_segmentation_foreground():
    pipeline, result = measured("segment", "bundled_count=4", "test_fraction=0.25")
    cases = training_split(pipeline).inputs  # (D, H, W, 2) each: image, label
    stats = result["statistics"]
    assert sum(stats["shape"].values()) == len(cases)
    assert stats["foreground_fraction"]["mean"] == pytest.approx(np.mean([np.mean(c[..., 1] > 0) for c in cases]))
    labels = sorted(set(np.unique(np.concatenate([np.unique(c[..., 1]) for c in cases])).tolist()))
    assert stats["label_values"]["distinct"] == labels and stats["label_values"]["integer"]
    assert stats["intensity"]["min"] == pytest.approx(min(c[..., 0].min() for c in cases))


def test_segmentation_counts_classes_by_voxel_not_by_case():
    pipeline, result = measured("segment", "bundled_count=4", "test_fraction=0.25")
    splits = sources.load_splits(pipeline, "bundled")
    voxels = np.concatenate([np.rint(c[..., 1]).ravel() for c in splits.train.inputs]).astype(int)
    expected = np.bincount(voxels, minlength=len(splits.class_names))  # background, organ, lesion
    assert result["classes_counted"] == "voxels" and "voxels" not in result["statistics"]
    assert result["classes"] == dict(zip(splits.class_names, expected.tolist()))
    assert min(expected) > 0 and result["imbalance"] == pytest.approx(expected.max() / expected.min())
    assert "classes (voxels): background=" in fingerprint.render(result)


def test_classification_counts_classes_by_example(tmp_path):
    _, result = measured("volumes", "shape=8,8,8", source=str(binary_npz(tmp_path / "masks.npz", count=12)))
    assert result["classes_counted"] == "examples" and sum(result["classes"].values()) == result["examples"]


# ------------------------------------------------------------------ the rules
def binary_npz(path, low=0, high=255, count=12):
    rng = np.random.default_rng(0)
    images = np.where(rng.uniform(size=(count, 8, 8, 8)) > 0.7, high, low).astype(np.uint8)
    np.savez(path, train_images=images, train_labels=(np.arange(count) % 2)[:, None])
    return path


def test_with_test_data_the_whole_source_is_the_training_split(tmp_path):
    source = str(binary_npz(tmp_path / "masks.npz"))
    volumes = pipelines.get("volumes")()
    assert fingerprint.measure(volumes, source)["examples"] < 12  # a stratified test hold-out
    assert fingerprint.measure(volumes, source, test_data=source)["examples"] == 12


def test_volumes_plan_no_change_binary_or_not(tmp_path):
    """No volume rule measured not worse than the defaults (docs/PLANNING.md: binary-window,
    binary-dataset, binary-mask-depth and median-spacing were each below them)."""
    pipeline, result = measured("volumes", "bundled_count=8", "shape=8,8,8")
    assert not result["statistics"]["values"]["binary"]
    assert pipeline.plan_settings(result) == []
    _, masks = measured("volumes", "shape=8,8,8", source=str(binary_npz(tmp_path / "masks.npz")))
    assert masks["statistics"]["values"]["binary"] and pipeline.plan_settings(masks) == []


def long_texts_csv(path, count=16):
    """Half the texts 10 tokens long, half 90 (median 50, p95 90), each length in both classes.
    Passed as --test-data too, so that the whole file is the training split."""
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(50)]
    rows = [" ".join(rng.choice(vocabulary, size=(10, 90)[i // 2 % 2])) + f",{'pos' if i % 2 else 'neg'}"
            for i in range(count)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def text_fingerprint(p95):
    return {"statistics": {"tokens": {"p95": p95}}}


def test_sequence_length_rises_to_the_95th_percentile_and_never_falls():
    text = pipelines.get("text")(override(pipelines.get("text").Config(), ["sequence_length=64"]))
    assert [(k, v) for k, v, _ in text.plan_settings(text_fingerprint(100.0))] == [("sequence_length", 104)]
    assert [(k, v) for k, v, _ in text.plan_settings(text_fingerprint(65.0))] == [("sequence_length", 72)]
    assert text.plan_settings(text_fingerprint(64.0)) == []
    assert text.plan_settings(text_fingerprint(20.0)) == []


def test_the_users_settings_win_over_the_plan(tmp_path, monkeypatch):
    source = str(long_texts_csv(tmp_path / "long.csv"))
    cls = pipelines.get("text")
    kept = planning.user_keys(["filters=8", " sequence_length =40"], epochs=None, batch_size=4, seed=None)
    assert kept == {"filters", "sequence_length", "batch_size"}
    planned = planning.apply(cls(override(cls.Config(), ["filters=8", "sequence_length=40"])), source, kept=kept,
                             test_data=source)
    assert planned.config.sequence_length == 40
    assert planned.plan["settings"] == [] and planned.plan["overridden_by_user"] == ["sequence_length"]
    rules = [("dropout", 0.25, "a"), ("batch_size", 32, "b")]  # a rule of two settings, one the user's
    monkeypatch.setattr(cls, "plan_settings", lambda self, fingerprint: rules)
    planned = planning.apply(cls(override(cls.Config(), ["filters=8"])), source, kept=kept, test_data=source)
    assert planned.config.dropout == 0.25 and planned.config.batch_size == cls.Config().batch_size
    assert [item["key"] for item in planned.plan["settings"]] == ["dropout"]
    assert planned.plan["overridden_by_user"] == ["batch_size"]


# ------------------------------------------------------------------ the commands
def test_cnn_fingerprint_prints_and_writes_json(tmp_path):
    source = str(binary_npz(tmp_path / "masks.npz"))
    out = tmp_path / "fp.json"
    result = CliRunner().invoke(cli.main, ["fingerprint", "volumes", "--data", source, "--set", "shape=8,8,8",
                                           "--json", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    trained_on = len(training_split(pipelines.get("volumes")(), source))  # 12 less the test hold-out
    assert written["examples"] == trained_on < 12 and written["statistics"]["values"]["distinct"] == [0.0, 255.0]
    assert f"{trained_on} training examples" in result.output
    assert "plan: the fingerprint calls for no change to the defaults" in result.output
    texts = str(long_texts_csv(tmp_path / "long.csv"))
    long = CliRunner().invoke(cli.main, ["fingerprint", "text", "--data", texts, "--test-data", texts])
    assert long.exit_code == 0, long.output
    assert "sequence_length=96: 95% of the training texts have at most 90 tokens" in long.output


def test_cnn_fingerprint_with_test_data_measures_all_of_data(tmp_path):
    source = str(binary_npz(tmp_path / "masks.npz"))
    result = CliRunner().invoke(cli.main, ["fingerprint", "volumes", "--data", source, "--test-data", source,
                                           "--set", "shape=8,8,8"])
    assert result.exit_code == 0, result.output
    assert "12 training examples" in result.output and "classes (examples): 0=6, 1=6" in result.output


def test_cnn_fingerprint_bad_source_is_one_line(tmp_path):
    line = one_line_error(["fingerprint", "volumes", "--data", str(tmp_path / "missing.npz")])
    assert "missing.npz" in line and "no such file" in line


def test_train_with_plan_records_it_and_recipe_means_no_plan(tmp_path):
    source = str(long_texts_csv(tmp_path / "long.csv"))
    tiny = ["--set", "filters=4", "--set", "embedding_dim=8", "--epochs", "1", "--batch-size", "8",
            "--test-data", source]
    result = CliRunner().invoke(cli.main, ["train", "text", "--data", source, "--plan", *tiny,
                                           "--run-dir", str(tmp_path / "run"), "--export-dir", ""])
    assert result.exit_code == 0, result.output
    assert "sequence_length=96" in result.output
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["config"]["sequence_length"] == 96
    assert [item["key"] for item in record["plan"]["settings"]] == ["sequence_length"]
    assert "at most 90 tokens" in record["plan"]["settings"][0]["reason"]
    assert record["plan"]["fingerprint"]["examples"] == record["splits"]["counts"]["train"] == 16
    plain = CliRunner().invoke(cli.main, ["train", "text", "--data", source, *tiny,
                                          "--run-dir", str(tmp_path / "plain"), "--export-dir", ""])
    assert plain.exit_code == 0, plain.output
    record = json.loads((tmp_path / "plain" / "config.json").read_text())
    assert "plan" not in record and record["config"]["sequence_length"] == 64
    recipe = CliRunner().invoke(cli.main, ["train", "text", "--data", source, "--plan", "--recipe", "sst2", *tiny,
                                           "--set", "text_column=text",
                                           "--run-dir", str(tmp_path / "recipe"), "--export-dir", ""])
    assert recipe.exit_code == 0, recipe.output
    record = json.loads((tmp_path / "recipe" / "config.json").read_text())
    assert "plan" not in record and record["config"]["sequence_length"] == 64  # long texts, but a recipe


def test_a_resumed_run_keeps_its_plan_record(tmp_path):
    from pipelines.core import runs
    from pipelines.engine import training

    source = str(long_texts_csv(tmp_path / "long.csv"))
    cls = pipelines.get("text")
    planned = planning.apply(cls(override(cls.Config(), ["filters=4"])), source, test_data=source)
    assert [(item["key"], item["value"]) for item in planned.plan["settings"]] == [("sequence_length", "96")]
    run_dir, record, _ = training.prepare(planned, runs.RunOptions(data=source, run_dir=str(tmp_path / "run")))
    assert record["plan"] == planned.plan
    resumed = cls(planned.config)  # `--resume` rebuilds the pipeline from the recorded config, with no plan
    _, record, _ = training.prepare(resumed, runs.RunOptions(data=source, run_dir=str(run_dir), resume=True))
    assert json.loads((run_dir / "config.json").read_text())["plan"]["settings"] == planned.plan["settings"]
