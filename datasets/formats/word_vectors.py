"""Pre-trained word vectors in the text format of GloVe, word2vec and fastText -> an Embedding matrix.

Format: one word a line, then its values, separated by single spaces or tabs:
`word v1 v2 ... vD`. A word2vec/fastText header line `N D` (two integers) is tolerated (its D
must then match the vectors'). Files ending in `.gz` are read through gzip. The binary word2vec
format is not read (convert it to text first).

Only what the model needs is parsed: every line's field count is checked (the dimension must be
the same throughout), but values are converted to numbers only for the words that are looked up.
When a word occurs twice, its first vector is used (word2vec files sometimes repeat words).

Bad files are reported on one line naming the file (and the line): unreadable, empty, no vectors,
a line with a different number of values, a value that is not a number, bytes that are not UTF-8.

`first_words(path, n)` gives the file's first n words (the most frequent, in the usual files),
for adding words never seen in training to the vocabulary. `embedding_matrix(path, vocabulary)` gives the rows for a vocabulary (TextVectorization's
`get_vocabulary()`): a word's own vector, else that of its lower-cased form; the padding token ''
gets zeros; words without a vector (and '[UNK]') get random vectors drawn uniformly with the
variance of the covered vectors (Kim 2014). The matrix is a NumPy array: the model holds it as
weights, so a served model never needs the file.
"""
from __future__ import annotations

import dataclasses
import gzip
import pathlib

import numpy as np

PADDING, UNKNOWN = "", "[UNK]"


@dataclasses.dataclass
class Coverage:
    """How much of a vocabulary a vector file covered."""

    file: str
    dimension: int
    file_words: int  # distinct words in the file
    vocabulary: int  # vocabulary words that could have a vector (not padding or [UNK])
    covered: int  # of those, found in the file (exactly or lower-cased)
    lowercased: int  # of the covered, found only in lower case
    added: int = 0  # of the vocabulary (and covered), words added from the file (not in training)

    @property
    def fraction(self):
        return self.covered / self.vocabulary if self.vocabulary else 0.0

    @property
    def training_fraction(self):
        """Coverage of the words that came from the training texts."""
        trained = self.vocabulary - self.added
        return (self.covered - self.added) / trained if trained else 0.0

    def as_dict(self):
        return {**dataclasses.asdict(self), "fraction": round(self.fraction, 4),
                "training_fraction": round(self.training_fraction, 4)}

    def summary(self):
        text = (f"pre-trained embeddings {self.file}: {self.dimension}-d, "
                f"{self.covered - self.added:,} of {self.vocabulary - self.added:,} training vocabulary "
                f"words covered ({self.training_fraction:.1%}; {self.lowercased:,} by their lower-case "
                f"form), {self.file_words:,} words in the file")
        if self.added:
            text += f"; {self.added:,} more of its words added to the vocabulary"
        return text


def _open(path):
    path = pathlib.Path(path)
    try:
        if path.suffix.lower() == ".gz":
            handle = gzip.open(path, "rb")
            handle.peek(1)  # a file that is not gzip fails here, not in the middle
            return handle
        return path.open("rb")
    except (OSError, EOFError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"{path}: cannot read the word vector file ({reason})") from None


def _fields(raw, path, number):
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x}); "
                         "expected word vectors in text format (word v1 v2 ...)") from None
    return line.rstrip("\r\n").rstrip(" \t").replace("\t", " ").split(" ")


def _header(fields):
    """(count, dimension) if `fields` is a word2vec header line `N D`, else None."""
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
        return int(fields[0]), int(fields[1])
    return None


def _vector(fields, path, number):
    try:
        vector = np.asarray(fields[1:], dtype=np.float32)
    except ValueError:
        bad = next(f for f in fields[1:] if not _is_number(f))
        raise ValueError(f"{path} line {number}: value '{bad[:20]}' of word '{fields[0][:40]}' "
                         "is not a number") from None
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{path} line {number}: word '{fields[0][:40]}' has a value that is not finite")
    return vector


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _entries(path):
    """(line number, fields, dimension) of each vector line of a file, its dimension checked
    against the header or the first vector line. Raises a one-line ValueError naming the file
    and line; a file without vector lines is an error once it has been read to the end."""
    dim, origin, entries = None, None, 0
    with _open(path) as handle:
        try:
            for number, raw in enumerate(handle, start=1):
                fields = _fields(raw, path, number)
                if fields == [""]:
                    continue  # blank line
                if number == 1 and _header(fields):
                    dim, origin = _check_dimension(_header(fields)[1], path, 1), "the header (line 1) says"
                    continue
                values = len(fields) - 1
                if dim is None:
                    dim, origin = _check_dimension(values, path, number), f"line {number} has"
                elif values != dim:
                    raise ValueError(f"{path} line {number}: word '{fields[0][:40]}' has {values} "
                                     f"values, {origin} {dim}: inconsistent dimension")
                entries += 1
                yield number, fields, dim
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: cannot read the word vector file ({error})") from None
    if dim is None:
        raise ValueError(f"{path}: empty word vector file (expected lines 'word v1 v2 ...')")
    if not entries:
        raise ValueError(f"{path}: no word vectors after the header line")


def _check_dimension(dim, path, number):
    if dim < 1:
        raise ValueError(f"{path} line {number}: a word without values "
                         "(expected 'word v1 v2 ...' or a word2vec header 'N D')")
    return dim


def dimension(path):
    """The vector dimension of a file, from its first vector line (cheap: reads only that far)."""
    for _, _, dim in _entries(path):
        return dim


def read(path, words=None):
    """(dimension, {word: float32 vector}, distinct words in the file).

    With `words` (a set), only the vectors of those words are converted and kept; without, all
    of them. Raises a one-line ValueError naming the file and line.
    """
    dim, vectors, seen = None, {}, set()
    for number, fields, dim in _entries(path):
        word = fields[0]
        if word in seen:
            continue
        seen.add(word)
        if words is None or word in words:
            vectors[word] = _vector(fields, path, number)
    return dim, vectors, len(seen)


def first_words(path, count):
    """The first `count` distinct words of a vector file, in file order (GloVe, word2vec and
    fastText files list the most frequent words first); the same checks as `read`."""
    words = {}
    if count > 0:
        for _, fields, _ in _entries(path):
            words.setdefault(fields[0], None)
            if len(words) >= count:
                break
    return list(words)


def embedding_matrix(path, vocabulary, seed=0, added=0):
    """(matrix [len(vocabulary), D] float32, Coverage) for a TextVectorization vocabulary."""
    vocabulary = list(vocabulary)
    wanted = set(vocabulary) | {w.lower() for w in vocabulary}
    dim, vectors, file_words = read(path, wanted)
    rows, missing, lowercased = {}, [], 0
    for i, word in enumerate(vocabulary):
        if word in (PADDING, UNKNOWN):
            continue
        if word in vectors:
            rows[i] = vectors[word]
        elif word.lower() in vectors:
            rows[i] = vectors[word.lower()]
            lowercased += 1
        else:
            missing.append(i)
    matrix = np.zeros((len(vocabulary), dim), np.float32)
    if rows:
        index = np.fromiter(rows, np.int64, len(rows))
        matrix[index] = np.stack(list(rows.values()))
        variance = float(np.mean(np.var(matrix[index], axis=0))) if len(rows) > 1 else 0.0
    else:
        variance = 0.0
    scale = np.sqrt(3.0 * variance) if variance > 0 else 0.05  # U[-a, a] has variance a²/3
    random_rows = missing + [i for i, w in enumerate(vocabulary) if w == UNKNOWN]
    if random_rows:
        generator = np.random.default_rng(seed)
        matrix[random_rows] = generator.uniform(-scale, scale, (len(random_rows), dim))
    counted = sum(1 for w in vocabulary if w not in (PADDING, UNKNOWN))
    coverage = Coverage(str(path), dim, file_words, counted, len(rows), lowercased, added)
    return matrix, coverage
