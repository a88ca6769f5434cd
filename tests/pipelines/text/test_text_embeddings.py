"""Pre-trained word vectors for the text pipeline (`--set pretrained_embeddings=FILE`)."""
import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

import cli
import pipelines
from datasets.formats import word_vectors
from pipelines.core.config import override
from serving_exports import assert_core_tensorflow_only

# 4-d vectors for a few words of the bundled reviews (and one that is never used).
VECTORS = {
    "great": [0.5, -0.25, 1.0, 0.125],
    "superb": [0.75, 0.5, 0.9, -0.1],
    "dull": [-0.6, 0.3, -1.0, 0.2],
    "tedious": [-0.7, 0.4, -0.8, 1e-3],
    "the": [0.01, 0.02, 0.03, 0.04],
    "zeppelin": [9.0, 9.0, 9.0, 9.0],
}


def write_vectors(path, header=False, vectors=VECTORS):
    lines = [f"{len(vectors)} {len(next(iter(vectors.values())))}"] if header else []
    lines += [w + " " + " ".join(repr(v) for v in vec) for w, vec in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected(word):
    return np.asarray(VECTORS[word], np.float32)


@pytest.mark.parametrize("header", [False, True], ids=["glove", "word2vec_header"])
def test_read_with_and_without_a_word2vec_header(tmp_path, header):
    path = write_vectors(tmp_path / "v.txt", header=header)
    assert word_vectors.dimension(path) == 4
    dim, vectors, count = word_vectors.read(path, {"great", "the", "absent"})
    assert dim == 4 and count == len(VECTORS) and sorted(vectors) == ["great", "the"]
    np.testing.assert_array_equal(vectors["great"], expected("great"))


def test_matrix_rows_coverage_and_random_rest(tmp_path):
    path = tmp_path / "v.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:  # .gz is read through gzip
        handle.write(write_vectors(tmp_path / "plain.txt").read_text())
    vocabulary = ["", "[UNK]", "the", "Great", "dull", "unseen", "words"]
    matrix, coverage = word_vectors.embedding_matrix(path, vocabulary, seed=1)
    assert matrix.shape == (7, 4) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0)  # padding
    np.testing.assert_array_equal(matrix[2], expected("the"))
    np.testing.assert_array_equal(matrix[3], expected("great"))  # by its lower-case form
    np.testing.assert_array_equal(matrix[4], expected("dull"))
    assert (coverage.vocabulary, coverage.covered, coverage.lowercased) == (5, 3, 1)
    assert coverage.fraction == pytest.approx(0.6) and "3 of 5 training vocabulary words" in coverage.summary()
    random = matrix[[1, 5, 6]]  # [UNK] and the uncovered words: random, bounded, distinct
    assert np.all(random != 0) and np.all(np.abs(random) < 1.2) and len(np.unique(random[:, 0])) == 3


@pytest.mark.parametrize("content,message", [
    (b"", r"v\.txt: empty word vector file"),
    (b"3 4\n", r"v\.txt: no word vectors after the header"),
    (b"the 1 2 3\nof 1 2 3\nand 1 2\n", r"v\.txt line 3: word 'and' has 2 values, line 1 has 3: inconsistent dimension"),
    (b"2 4\nthe 1 2 3\n", r"v\.txt line 2: word 'the' has 3 values, the header \(line 1\) says 4"),
    (b"the 1 2\ngreat 1 x\n", r"v\.txt line 2: value 'x' of word 'great' is not a number"),
    (b"the 1 2\ngreat 1 nan\n", r"v\.txt line 2: word 'great' has a value that is not finite"),
    (b"the 1 2\ngr\xffeat 1 2\n", r"v\.txt line 2: not UTF-8 text \(byte 0xff\)"),
    (b"lonely\n", r"v\.txt line 1: a word without values"),
])
def test_bad_files_are_one_line_errors_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "v.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        word_vectors.embedding_matrix(path, ["", "[UNK]", "the", "great"])
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"nothing\.txt: cannot read the word vector file"):
        word_vectors.read(tmp_path / "nothing.txt")
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"bad\.gz: cannot read the word vector file"):
        word_vectors.read(tmp_path / "bad.gz")


@pytest.mark.parametrize("trainable", [True, False])
def test_pipeline_embedding_rows_are_the_files_vectors(tmp_path, trainable):
    import tensorflow as tf

    path = write_vectors(tmp_path / "v.txt", header=True)
    cls = pipelines.get("text")
    pipeline = cls(override(cls.Config(), [f"pretrained_embeddings={path}",
                                           f"trainable_embeddings={trainable}"]))
    assert pipeline.config.embedding_dim == 4  # from the file, not the default 128
    texts = ["the plot was great", "the acting was dull and tedious", "a superb cast"]
    pipeline.adapt(tf.data.Dataset.from_tensor_slices((texts, [1, 0, 1])))
    model = pipeline.build_model(2)
    layer = model.get_layer("embedding")
    weights = layer.get_weights()[0]
    vocabulary = pipeline.vectorizer().get_vocabulary()
    for word in ("great", "superb", "dull", "tedious", "the"):
        np.testing.assert_array_equal(weights[vocabulary.index(word)], expected(word))
    assert layer.trainable is trainable
    assert bool(layer.trainable_weights) is trainable
    assert pipeline.embedding_coverage.covered == 5


def test_pretrained_vocabulary_needs_a_file():
    cls = pipelines.get("text")
    with pytest.raises(ValueError, match="pretrained_vocabulary needs pretrained_embeddings"):
        cls(override(cls.Config(), ["pretrained_vocabulary=100"]))


def test_missing_file_at_training_is_named(tmp_path):
    import tensorflow as tf

    cls = pipelines.get("text")
    pipeline = cls(override(cls.Config(), [f"pretrained_embeddings={tmp_path / 'gone.txt'}"]))
    pipeline.adapt(tf.data.Dataset.from_tensor_slices((["a b"], [1])))
    with pytest.raises(ValueError, match=r"gone\.txt: no such word vector file"):
        pipeline.build_model(2)


def test_cli_trains_and_exports_static_vectors_and_serves_without_the_file(tmp_path):
    import keras
    import tensorflow as tf

    path = write_vectors(tmp_path / "v.txt")
    outcome = CliRunner().invoke(cli.main, [
        "train", "text", "--data", "bundled", "--epochs", "1",
        "--set", "bundled_size=64", "--set", "sequence_length=24", "--set", "filters=8",
        "--set", f"pretrained_embeddings={path}", "--set", "trainable_embeddings=false",
        "--set", "pretrained_vocabulary=10",
        "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exp"),
    ])
    assert outcome.exit_code == 0, outcome.output
    assert f"pre-trained embeddings {path}: 4-d, 5 of " in outcome.output
    assert "1 more of its words added to the vocabulary" in outcome.output
    run = tmp_path / "run"
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["embedding_dim"] == 4 and record["config"]["pretrained_embeddings"] == str(path)
    report = json.loads((run / "metrics.json").read_text())["pretrained_embeddings"]
    assert report["covered"] == 6 and report["dimension"] == 4 and report["trainable"] is False
    # Static: after training the rows are still the file's vectors.
    model = keras.models.load_model(run / "model.keras")
    vocabulary = model.get_layer("vectorize").get_vocabulary()
    weights = model.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(weights[vocabulary.index("superb")], expected("superb"))
    # "zeppelin" is in no review: added from the file, with its vector, and saved with the model.
    np.testing.assert_array_equal(weights[vocabulary.index("zeppelin")], expected("zeppelin"))
    assert report["added"] == 1
    # The export needs neither the file nor the project's Python.
    path.unlink()
    export = json.loads((run / "config.json").read_text())["export"]
    served = tf.saved_model.load(export).signatures["serving_default"](
        text=tf.constant(["the plot was superb .", "dull and tedious .", "a zeppelin"]))
    assert served["probabilities"].shape == (3, 2)
    np.testing.assert_allclose(served["probabilities"].numpy(), model.predict(
        tf.constant(["the plot was superb .", "dull and tedious .", "a zeppelin"]), verbose=0), atol=1e-5)
    assert_core_tensorflow_only(export)


def test_first_words_and_vocabulary_extension(tmp_path):
    import tensorflow as tf

    vectors = {"the": [0.1, 0.2], "Paris": [1.0, 1.0], "n't": [0.3, -0.3], "great": [0.5, 0.5],
               "zeppelin": [2.0, -2.0], "airship": [1.5, -1.5]}
    path = write_vectors(tmp_path / "v.txt", header=True, vectors=vectors)
    assert word_vectors.first_words(path, 3) == ["the", "Paris", "n't"]
    cls = pipelines.get("text")
    pipeline = cls(override(cls.Config(), [f"pretrained_embeddings={path}", "pretrained_vocabulary=5",
                                           "standardize=lower_and_strip_punctuation", "max_tokens=4"]))
    pipeline.adapt(tf.data.Dataset.from_tensor_slices((["the plot the plot was great"], [1])))
    vocabulary = pipeline.vectorizer().get_vocabulary()
    # The training words first (max_tokens=4), then the file's first 5 words that the vectorizer
    # can produce: not "Paris" (lower-cased), not "n't" (punctuation stripped), not "airship" (6th).
    assert vocabulary == ["", "[UNK]", "the", "plot", "great", "zeppelin"]  # "great": cut by max_tokens
    assert pipeline.added_words == 2
    model = pipeline.build_model(2)
    weights = model.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(weights[4], np.float32([0.5, 0.5]))
    np.testing.assert_array_equal(weights[5], np.float32([2.0, -2.0]))
    coverage = pipeline.embedding_coverage
    assert (coverage.vocabulary, coverage.covered, coverage.added) == (4, 3, 2)
    assert "1 of 2 training vocabulary words covered" in coverage.summary()
    tokens = model.get_layer("vectorize")(tf.constant(["The zeppelin, the AIRSHIP"]))
    assert tokens.numpy()[0, :4].tolist() == [2, 5, 2, 1]
