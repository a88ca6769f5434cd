"""Text sources: CSV/TSV with named columns and quoting, class folders of .txt, bad input."""

import pytest
from project import shared_data

import pipelines
from datasets.synthetic import reviews
from pipelines.core import sources
from datasets.formats import text
from pipelines.core.config import override



def text_pipeline(*assignments):
    cls = pipelines.get("text")
    return cls(override(cls.Config(), list(assignments)))


def test_tsv_is_read_without_quoting_so_bare_quotes_survive(tmp_path):
    table = tmp_path / "t.tsv"
    table.write_text('sentence\tlabel\n"the best film\t1\nit \'s "fine\t0\n')
    texts, labels = text.read_table(table, "sentence", "label")
    assert texts == ['"the best film', 'it \'s "fine'] and labels == ["1", "0"]
    # With CSV quoting the opening quote would swallow lines into one field: an error instead.
    with pytest.raises(ValueError, match=r"t\.tsv:2: .*\(try --set quoting=none\)"):
        text.read_table(table, "sentence", "label", quoting="minimal")


def test_csv_with_named_columns_through_the_pipeline(tmp_path):
    table = tmp_path / "news.csv"
    rows = ["title,body,topic"] + [f'"t{i}","words, with a comma {i}",{"sport" if i % 2 else "tech"}'
                                   for i in range(10)]
    table.write_text("\n".join(rows) + "\n")
    data = sources.load(text_pipeline("text_column=body", "label_column=topic"), str(table))
    assert data.class_names == ["sport", "tech"]
    examples = data.split("all")
    assert examples.inputs[0] == "words, with a comma 0" and examples.labels[:2].tolist() == [1, 0]


@pytest.mark.parametrize("content,message", [
    ("sentence,label\nhello,1\n", r"no column 'text' \(columns: sentence, label\)"),
    ("text,label\nhello,1\n   ,0\n", r":3: empty text in column 'text'"),
    ("text,label\nhello,1\nbye,\n", r":3: empty label"),
    ("text,label\nhello,1,extra\n", r":2: 3 fields, the header has 2"),
    ("", r"empty file"),
])
def test_table_errors_name_file_and_line(tmp_path, content, message):
    table = tmp_path / "bad.csv"
    table.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        sources.load(text_pipeline(), str(table))
    assert str(table) in str(error.value) and "\n" not in str(error.value)


def test_non_utf8_bytes_name_the_line(tmp_path):
    table = tmp_path / "latin1.csv"
    table.write_bytes("text,label\nfine,1\ncaf\u00e9 au lait,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv:3: not UTF-8 text \(byte 0xe9"):
        sources.load(text_pipeline(), str(table))


def make_imdb_like(root):
    """aclImdb's layout: train/test of neg/pos, plus unsup/ and files that are not examples."""
    for split in ("train", "test"):
        for label, words in (("neg", "awful dull"), ("pos", "great fun")):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}_{i + 1}.txt").write_text(f"{words} movie number {i}<br /><br />end")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("no label here")
    (root / "train" / "urls_pos.txt").write_text("http://example.invalid\n")
    (root / "train" / "labeledBow.feat").write_text("0 0:1\n")


def test_aclimdb_layout_with_chosen_classes(tmp_path):
    make_imdb_like(tmp_path / "aclImdb")
    data = sources.load(text_pipeline("classes=neg,pos"), str(tmp_path / "aclImdb"))
    assert data.class_names == ["neg", "pos"]
    assert len(data.split("train")) == 6 and len(data.split("test")) == 6
    assert data.split("train").inputs[3].startswith("great fun")
    (tmp_path / "aclImdb" / "test" / "pos" / "9_9.txt").write_bytes(b"\xff\xfe bad bytes")
    with pytest.raises(ValueError, match=r"9_9\.txt:1: not UTF-8"):
        sources.load(text_pipeline("classes=neg,pos"), str(tmp_path / "aclImdb"))
    (tmp_path / "aclImdb" / "test" / "pos" / "9_9.txt").write_text("  \n")
    with pytest.raises(ValueError, match=r"9_9\.txt: empty text"):
        sources.load(text_pipeline("classes=neg,pos"), str(tmp_path / "aclImdb"))
    with pytest.raises(ValueError, match="no class folder 'neutral'"):
        sources.load(text_pipeline("classes=neg,neutral"), str(tmp_path / "aclImdb"))


def test_bundled_reviews_need_word_order():
    """The labels follow negation and contrast: a bag of words cannot fit them well, which is
    what makes the corpus a test of n-gram convolutions."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    train_x, train_y = reviews.generate(3000, seed=1)
    test_x, test_y = reviews.generate(1000, seed=2)
    assert 0.45 < train_y.mean() < 0.55 and len(set(train_x)) > 2900
    accuracy = {}
    for ngrams in ((1, 1), (1, 3)):
        vectorizer = CountVectorizer(ngram_range=ngrams, token_pattern=r"[a-z']+")
        model = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train_x), train_y)
        accuracy[ngrams] = model.score(vectorizer.transform(test_x), test_y)
    assert accuracy[(1, 1)] < 0.75 and accuracy[(1, 3)] > accuracy[(1, 1)] + 0.1, accuracy


def test_sst2_folder_reads_all_three_splits():
    sst2 = shared_data("sst2", "train.tsv").parent
    data = sources.load(text_pipeline("text_column=sentence"), str(sst2))
    assert data.class_names == ["0", "1"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 60614, "val": 6735, "test": 872}
    first = (sst2 / "train.tsv").read_text().splitlines()[1].split("\t")[0]
    assert data.split("train").inputs[0] == first
