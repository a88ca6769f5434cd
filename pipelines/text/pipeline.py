"""`text`: sentence/document classification from raw strings (Kim 2014 CNN).

Served model: text string [batch] -> TextVectorization (standardise, split, vocabulary from the
training split, fixed `sequence_length`) -> Embedding -> parallel Conv1D of several widths
(our layers) -> global max pooling over time -> dropout -> softmax. The vectorizer and its
lookup table live inside the SavedModel (tracked by the export), so a client sends strings.

Bytes that are not UTF-8 are repaired in the graph (U+FFFD) before standardisation, so a bad
request gets an answer, not an error; an empty string is valid and maps to all-padding.

Sources: `bundled` (generated reviews, datasets/synthetic/reviews.py), `tfds:imdb_reviews`,
`tfds:ag_news_subset`, CSV/TSV files (`--set text_column=sentence label_column=label`,
`quoting=none|minimal`, `delimiter=`), a folder with train/dev/test tables (SST-2), folders of
class folders of .txt (aclImdb: `--set classes=neg,pos`).

Pre-trained word vectors (Kim's CNN-static / CNN-non-static): `--set pretrained_embeddings=FILE`
(GloVe / word2vec / fastText text format, `.gz` too; datasets/formats/word_vectors.py) initialises the
Embedding rows of the vocabulary's words from the file (other words: random, with the vectors'
variance); `embedding_dim` is then the file's; `--set trainable_embeddings=false` keeps them
fixed; `--set pretrained_vocabulary=N` also adds the file's first N words (the most frequent)
to the vocabulary, so words never seen in training are served with their pre-trained vectors.
The vectors become the model's weights: the export does not need the file. The coverage
(training vocabulary words found in the file, words added) is printed and written to
metrics.json (`pretrained_embeddings`). The vocabulary is built from the training texts, so
choose `standardize` to match how the vectors were tokenised (GloVe 6B: `lower` keeps "n't",
"'s" and punctuation as words, as SST does).
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import re

import networks
from pipelines import register
from pipelines.core.base import Pipeline
from pipelines.core.config import BaseConfig
from pipelines.core.search_space import Between, Choice
from pipelines.core.settings import fraction, own_check, positive


@dataclasses.dataclass
class TextConfig(networks.ChosenNetwork, BaseConfig):
    NETWORKS = networks.Choice("text", ("text",))

    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 1e-3
    network: str = "kim"
    # Vectorisation (inside the model).
    max_tokens: int = positive(20000)
    sequence_length: int = positive(64)  # tokens; longer texts are cut, shorter padded
    standardize: str = "lower_and_strip_punctuation"  # or lower, strip_punctuation, none
    # Kim 2014: widths 3, 4, 5 with 100 maps each, dropout 0.5.
    embedding_dim: int = positive(128)
    kernel_sizes: tuple[int, ...] = positive((3, 4, 5))
    filters: int = positive(100)
    embedding_dropout: float = fraction(0.25)
    dropout: float = fraction(0.5)
    # Pre-trained word vectors (text format: `word v1 ... vD`); "" = random init (CNN-rand).
    pretrained_embeddings: str = ""
    trainable_embeddings: bool = True  # false: Kim's CNN-static (the vectors stay fixed)
    # Also put the file's first N words (the most frequent) into the vocabulary, beyond max_tokens,
    # so words never seen in training still get their pre-trained vector when served.
    pretrained_vocabulary: int = own_check(0)
    # Sources.
    text_column: str = "text"
    label_column: str = "label"
    delimiter: str = ""  # default: tab for .tsv, comma otherwise
    quoting: str = "auto"  # auto: none for .tsv, minimal for .csv
    classes: tuple[str, ...] = ()  # class folders to use (aclImdb: neg,pos); default all
    bundled_size: int = positive(4000)  # generated training reviews (a quarter of that for test)


@register
class Text(Pipeline):
    name = "text"
    summary = "text classification from raw strings (TextVectorization in the model, Kim 2014 CNN)"
    sources = ("bundled (generated reviews), tfds:imdb_reviews, tfds:ag_news_subset, CSV/TSV "
               "(--set text_column=... label_column=...), class folders of .txt (aclImdb)")
    Config = TextConfig
    search_space = (Between("learning_rate", 3e-4, 3e-3, log=True), Choice("batch_size", (32, 64, 128)),
                    Between("dropout", 0.3, 0.6, step=0.1), Between("embedding_dropout", 0.0, 0.4, step=0.1),
                    Choice("filters", (50, 100, 200)), Choice("embedding_dim", (64, 128, 256)))
    input_name = "text"
    source_options = ("text_column", "label_column", "delimiter", "quoting", "classes")
    file_extensions = (".txt",)
    networks = networks.ChoiceNames()
    keras_modules = ("pipelines.text.vectorisation",)
    explain_layer = "embedding"  # strings have no gradient: maps are over the token embeddings

    def __init__(self, config=None):
        super().__init__(config)
        if self.config.standardize not in ("lower_and_strip_punctuation", "lower", "strip_punctuation", "none"):
            raise ValueError(f"standardize '{self.config.standardize}': expected "
                             "lower_and_strip_punctuation, lower, strip_punctuation or none")
        self._vectorizer = None
        self.embedding_coverage = None  # datasets.formats.word_vectors.Coverage once the model is built
        self.added_words = 0  # words of the vector file added to the vocabulary (adapt)
        path = self.config.pretrained_embeddings
        if self.config.pretrained_vocabulary < 0:
            raise ValueError(f"pretrained_vocabulary={self.config.pretrained_vocabulary}: expected >= 0")
        if self.config.pretrained_vocabulary and not path:
            raise ValueError("pretrained_vocabulary needs pretrained_embeddings=FILE (the words' vectors)")

    @classmethod
    def resolve_config(cls, config):
        """embedding_dim is the vector file's (recorded in the run's config). A served model is
        rebuilt from its record without the file, and keeps the recorded dimension."""
        path = config.pretrained_embeddings
        if not (path and pathlib.Path(path).is_file()):
            return config
        from datasets.formats import word_vectors

        return dataclasses.replace(config, embedding_dim=word_vectors.dimension(path))

    # ------------------------------------------------------------------ data
    def bundled(self):
        from datasets.synthetic import reviews
        from datasets.examples import ArrayExamples, SourceData

        n = max(8, self.config.bundled_size)
        train = reviews.generate(n, seed=3000 + self.config.seed)
        test = reviews.generate(max(4, n // 4), seed=4000 + self.config.seed)
        splits = {
            "train": ArrayExamples(labels=train[1], origin="bundled reviews (train)", inputs=train[0]),
            "test": ArrayExamples(labels=test[1], origin="bundled reviews (test)", inputs=test[0]),
        }
        return SourceData(splits, list(reviews.CLASS_NAMES),
                          f"bundled generated reviews: {n} train, {len(test[1])} test, 2 classes")

    def read_path(self, path):
        from datasets.formats import text

        c = self.config
        return text.local_source(path, text_column=c.text_column, label_column=c.label_column,
                                 delimiter=c.delimiter, quoting=c.quoting, classes=c.classes)

    def check_file(self, path):
        from datasets.formats import text

        text.read_text_file(path)

    def decode_file(self, path):
        import tensorflow as tf

        return tf.io.read_file(path)

    def conform(self, x):
        import tensorflow as tf

        return tf.ensure_shape(tf.convert_to_tensor(x, tf.string), [])

    # ------------------------------------------------------ fingerprint and plan
    def fingerprint_example(self, example, measurements):
        """Length in tokens (split as the model's TextVectorization splits with `standardize`),
        the vocabulary, and the share of characters outside ASCII."""
        text = example.decode("utf-8", "replace") if isinstance(example, bytes) else str(example)
        words = split_tokens(text, self.config.standardize)
        measurements.numbers("tokens", len(words))
        measurements.vocabulary("vocabulary", words)
        outside = sum(not character.isascii() for character in text)
        measurements.share("non_ascii_characters", outside, len(text))

    def plan_settings(self, fingerprint):
        """sequence_length up to the 95th percentile of the lengths in tokens, never below the
        config's (docs/PLANNING.md, rule `sequence-p95`)."""
        lengths = fingerprint["statistics"].get("tokens")
        if not lengths:
            return []
        wanted = 8 * math.ceil(lengths["p95"] / 8)
        if wanted <= self.config.sequence_length:
            return []
        return [("sequence_length", wanted,
                 f"95% of the training texts have at most {lengths['p95']:g} tokens; {self.config.sequence_length} "
                 f"would cut {'more than 5%' if lengths['p95'] > self.config.sequence_length else 'some'} of them "
                 "(padding costs time only: max-over-time pooling ignores it)")]

    # ----------------------------------------------------------------- model
    def vectorizer(self):
        """The TextVectorization layer (one per pipeline object, adapted in `adapt`)."""
        import keras

        if self._vectorizer is None:
            c = self.config
            self._vectorizer = keras.layers.TextVectorization(
                max_tokens=c.max_tokens, output_sequence_length=c.sequence_length,
                standardize=None if c.standardize == "none" else c.standardize,
                name="vectorize",
            )
        return self._vectorizer

    def adapt(self, train):
        """Vocabulary from the training split only (its texts, not its labels)."""
        import tensorflow as tf

        from pipelines.text.vectorisation import repair_utf8

        texts = train.map(lambda x, y: repair_utf8(x), num_parallel_calls=tf.data.AUTOTUNE)
        self.vectorizer().adapt(texts.batch(1024))
        self.added_words = 0
        if self.config.pretrained_embeddings and self.config.pretrained_vocabulary > 0:
            self.extend_vocabulary()

    def extend_vocabulary(self):
        """Add the vector file's first `pretrained_vocabulary` words to the adapted vocabulary
        (after the training words, so their indices do not change). Only words that the
        vectorizer can produce are added: a word survives its standardisation and splitting
        as itself (with `lower`, "Paris" never occurs; with punctuation stripped, "n't" never)."""
        import keras
        import numpy as np

        from datasets.formats import word_vectors

        c = self.config
        vocabulary = self.vectorizer().get_vocabulary()
        known = set(vocabulary)
        candidates = [w for w in word_vectors.first_words(self.vector_file(), c.pretrained_vocabulary)
                      if w not in known and w.strip()]
        standardize = None if c.standardize == "none" else c.standardize
        if candidates:
            probe = keras.layers.TextVectorization(standardize=standardize, vocabulary=candidates)
            # Each word's tokens, padded with 0 to the longest: kept if exactly its own index.
            tokens = np.asarray(probe(np.asarray(candidates, dtype=object)))
            tokens = np.pad(tokens, [(0, 0), (0, 2 - min(tokens.shape[1], 2))])
            own = np.arange(2, len(candidates) + 2)  # the index of each candidate in `probe`
            alone = (tokens[:, 0] == own) & (tokens[:, 1] == 0)
            candidates = [w for w, keep in zip(candidates, alone) if keep]
        extended = keras.layers.TextVectorization(
            max_tokens=None, output_sequence_length=c.sequence_length, standardize=standardize,
            name="vectorize")
        # set_vocabulary (not vocabulary=): the words are saved as an asset, not in the config.
        extended.set_vocabulary(vocabulary + candidates)
        self._vectorizer = extended
        self.added_words = len(candidates)

    def input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec([], tf.string)

    def preprocess(self, x):
        from pipelines.text.vectorisation import RepairUtf8

        return self.vectorizer()(RepairUtf8(name="repair_utf8")(x))  # [B, sequence_length] int64

    def network(self, x, num_classes):
        c = self.config
        weights = self.pretrained_matrix() if c.pretrained_embeddings else None
        return networks.create(c.network, x, num_classes=num_classes,
                               vocabulary_size=self.vectorizer().vocabulary_size(),
                               embedding_dim=c.embedding_dim, kernel_sizes=c.kernel_sizes,
                               filters=c.filters, embedding_dropout=c.embedding_dropout, dropout=c.dropout,
                               embedding_weights=weights, trainable_embeddings=c.trainable_embeddings)

    def vector_file(self):
        """The `pretrained_embeddings` path, named in the error when it is not a file. Checked
        when it is read, not in __init__: a served model is rebuilt without the file."""
        path = pathlib.Path(self.config.pretrained_embeddings)
        if not path.is_file():
            raise ValueError(f"{path}: no such word vector file (--set pretrained_embeddings=FILE)")
        return path

    def pretrained_matrix(self):
        """The Embedding's initial rows from `pretrained_embeddings`, for the adapted vocabulary."""
        from datasets.formats import word_vectors

        c = self.config
        matrix, coverage = word_vectors.embedding_matrix(
            self.vector_file(), self.vectorizer().get_vocabulary(), seed=c.seed,
            added=self.added_words)
        if matrix.shape[1] != c.embedding_dim:  # the file changed since the config was made
            raise ValueError(f"{c.pretrained_embeddings}: {matrix.shape[1]}-d vectors, but the "
                             f"config says embedding_dim={c.embedding_dim}")
        self.embedding_coverage = coverage
        return matrix

    def report(self, labels, probabilities, class_names):
        metrics = super().report(labels, probabilities, class_names)
        if self.embedding_coverage is not None:
            metrics["pretrained_embeddings"] = {
                **self.embedding_coverage.as_dict(), "trainable": self.config.trainable_embeddings}
            metrics["notes"] = [self.embedding_coverage.summary()]
        return metrics

    def read_file(self, path):
        import numpy as np

        from datasets.formats import text

        return np.asarray(text.read_text_file(path), dtype=object)

    # ---------------------------------------------------------- explanations
    def explain_input(self, path):
        return self.read_file(path), None

    def render_explanation(self, path, example, context, maps, prefix, model=None):
        """Per class: importance per token as HTML and coloured in the terminal, and per
        position of the model's token sequence (`sequence_length`, padding 0) as .npy."""
        import numpy as np

        from pipelines.core import render

        if model is None:
            raise ValueError(f"{path}: drawing tokens needs the run's model (its vocabulary)")
        import tensorflow as tf

        vectorize = model.get_layer("vectorize")
        text = tf.reshape(tf.convert_to_tensor(np.asarray(example, dtype=object)), [1])
        ids = np.asarray(vectorize(model.get_layer("repair_utf8")(text)))[0]
        vocabulary = vectorize.get_vocabulary()
        real = np.flatnonzero(ids)  # padding (0) is not a token of the text
        tokens = [vocabulary[i] for i in ids[real]]
        rendering = render.Rendering()
        for label, map_ in maps.items():
            weights = render.token_weights(np.asarray(map_)[real])
            stem = f"{prefix}_{render.safe_name(label)}"
            rendering.files += [render.save_npy(f"{stem}.npy", map_),
                                render.write_text(f"{stem}.html", render.tokens_html(tokens, weights, f"{path}: {label}"))]
            rendering.lines.append(f"  {label}: {render.tokens_terminal(tokens, weights)}")
        return rendering


# keras.layers.TextVectorization's punctuation (DEFAULT_STRIP_REGEX), for counting tokens in Python
PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')


def split_tokens(text, standardize):
    """The words TextVectorization(standardize=...) makes of `text` (whitespace split)."""
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.lower()
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = PUNCTUATION.sub("", text)
    return text.split()
