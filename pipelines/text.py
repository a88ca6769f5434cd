"""`text`: sentence/document classification from raw strings (Kim 2014 CNN).

Served model: text string [batch] -> TextVectorization (standardise, split, vocabulary from the
training split, fixed `sequence_length`) -> Embedding -> parallel Conv1D of several widths
(our layers) -> global max pooling over time -> dropout -> softmax. The vectorizer and its
lookup table live inside the SavedModel (tracked by the export), so a client sends strings.

Bytes that are not UTF-8 are repaired in the graph (U+FFFD) before standardisation, so a bad
request gets an answer, not an error; an empty string is valid and maps to all-padding.

Sources: `bundled` (generated reviews, datasets/reviews.py), `tfds:imdb_reviews`,
`tfds:ag_news_subset`, CSV/TSV files (`--set text_column=sentence label_column=label`,
`quoting=none|minimal`, `delimiter=`), a folder with train/dev/test tables (SST-2), folders of
class folders of .txt (aclImdb: `--set classes=neg,pos`).
"""
from __future__ import annotations

import dataclasses

from pipelines import register
from pipelines.base import Pipeline
from pipelines.config import BaseConfig


@dataclasses.dataclass
class TextConfig(BaseConfig):
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 1e-3
    network: str = "kim"
    # Vectorisation (inside the model).
    max_tokens: int = 20000
    sequence_length: int = 64  # tokens; longer texts are cut, shorter padded
    standardize: str = "lower_and_strip_punctuation"  # or lower, strip_punctuation, none
    # Kim 2014: widths 3, 4, 5 with 100 maps each, dropout 0.5.
    embedding_dim: int = 128
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    filters: int = 100
    embedding_dropout: float = 0.25
    dropout: float = 0.5
    # Sources.
    text_column: str = "text"
    label_column: str = "label"
    delimiter: str = ""  # default: tab for .tsv, comma otherwise
    quoting: str = "auto"  # auto: none for .tsv, minimal for .csv
    classes: tuple[str, ...] = ()  # class folders to use (aclImdb: neg,pos); default all
    bundled_size: int = 4000  # generated training reviews (a quarter of that for test)


@register
class Text(Pipeline):
    name = "text"
    summary = "text classification from raw strings (TextVectorization in the model, Kim 2014 CNN)"
    sources = ("bundled (generated reviews), tfds:imdb_reviews, tfds:ag_news_subset, CSV/TSV "
               "(--set text_column=... label_column=...), class folders of .txt (aclImdb)")
    Config = TextConfig
    input_name = "text"
    file_extensions = (".txt",)
    networks = ("kim",)

    def __init__(self, config=None):
        super().__init__(config)
        if self.config.standardize not in ("lower_and_strip_punctuation", "lower", "strip_punctuation", "none"):
            raise ValueError(f"standardize '{self.config.standardize}': expected "
                             "lower_and_strip_punctuation, lower, strip_punctuation or none")
        self._vectorizer = None

    # ------------------------------------------------------------------ data
    def bundled(self):
        from datasets import reviews
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
        from datasets import text

        c = self.config
        return text.local_source(path, text_column=c.text_column, label_column=c.label_column,
                                 delimiter=c.delimiter, quoting=c.quoting, classes=c.classes)

    def check_file(self, path):
        from datasets import text

        text.read_text_file(path)

    def decode_file(self, path):
        import tensorflow as tf

        return tf.io.read_file(path)

    def conform(self, x):
        import tensorflow as tf

        return tf.ensure_shape(tf.convert_to_tensor(x, tf.string), [])

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

        from pipelines.text_layers import repair_utf8

        texts = train.map(lambda x, y: repair_utf8(x), num_parallel_calls=tf.data.AUTOTUNE)
        self.vectorizer().adapt(texts.batch(1024))

    def input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec([], tf.string)

    def preprocess(self, x):
        from pipelines.text_layers import RepairUtf8

        return self.vectorizer()(RepairUtf8(name="repair_utf8")(x))  # [B, sequence_length] int64

    def network(self, x, num_classes):
        from pipelines.text_layers import kim_cnn

        c = self.config
        return kim_cnn(x, num_classes, vocabulary_size=self.vectorizer().vocabulary_size(),
                       embedding_dim=c.embedding_dim, kernel_sizes=c.kernel_sizes,
                       filters=c.filters, embedding_dropout=c.embedding_dropout, dropout=c.dropout)

    def read_file(self, path):
        import numpy as np

        from datasets import text

        return np.asarray(text.read_text_file(path), dtype=object)
