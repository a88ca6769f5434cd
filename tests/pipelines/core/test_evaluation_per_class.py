"""Per-class precision and recall on a case where every class's two differ, counted by hand, and
report.html's per-class table showing those numbers in the right columns.

The browser test compares the page with metrics.json, which would be wrong in the same way if
evaluation swapped the two; here the reference is counted independently of both."""
import base64
import html.parser
import re
import types
import warnings

import keras
import numpy as np
import pytest

from analysis import report
from pipelines.core import scoring
from pipelines.core.config import BaseConfig

CLASSES = ["cat", "dog", "eel"]
LABELS = [0, 0, 0, 1, 1, 2]
PREDICTED = [0, 1, 1, 1, 2, 2]
# Counted by hand from the two lists above (true positives / predicted, true positives / actual):
#   cat: 1 of 1 predicted cats is one, 1 of 3 cats found;   dog: 1 of 3, 1 of 2;   eel: 1 of 2, 1 of 1.
EXPECTED = {"cat": (1.0, 1 / 3, 3), "dog": (1 / 3, 1 / 2, 2), "eel": (1 / 2, 1.0, 1)}
CONFUSION = [[1, 2, 0], [0, 1, 1], [0, 0, 1]]  # rows: true class, columns: predicted


def _probabilities(predicted, confidence=0.8):
    """One row per example: `confidence` on the predicted class, the rest shared evenly."""
    rows = np.full((len(predicted), len(CLASSES)), (1 - confidence) / (len(CLASSES) - 1))
    rows[np.arange(len(predicted)), predicted] = confidence
    return rows


def test_precision_and_recall_are_each_their_own_ratio():
    metrics = scoring.classification_report(LABELS, _probabilities(PREDICTED), CLASSES)
    for name, (precision, recall, support) in EXPECTED.items():
        assert metrics["per_class"][name] == {"precision": pytest.approx(precision), "recall": pytest.approx(recall),
                                              "support": support}, name
    assert metrics["confusion_matrix"] == CONFUSION
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    # loss: -log P(true class): 0.8 where right (3 examples), 0.1 where wrong (3 examples)
    assert metrics["loss"] == pytest.approx(-(3 * np.log(0.8) + 3 * np.log(0.1)) / 6)
    assert metrics["class_names"] == CLASSES and metrics["examples"] == 6 and "auc" not in metrics


def test_a_class_never_predicted_has_precision_zero_not_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning printed to the user (sklearn's UndefinedMetricWarning)
        metrics = scoring.classification_report([0, 1, 1], _probabilities([0, 0, 0]), CLASSES)
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["confusion_matrix"] == [[1, 0, 0], [2, 0, 0], [0, 0, 0]]  # a row and column per class, eel too
    assert metrics["per_class"]["dog"] == {"precision": 0.0, "recall": 0.0, "support": 2}
    assert metrics["per_class"]["cat"] == {"precision": pytest.approx(1 / 3), "recall": 1.0, "support": 1}
    assert metrics["per_class"]["eel"] == {"precision": 0.0, "recall": 0.0, "support": 0}


def test_the_loss_of_float32_probabilities_is_computed_in_float64():
    """Pipelines predict float32; metrics.json's loss is the float64 mean of their logs (not a
    float32 one, off in the 7th digit), so a run and its export give the same number to 1e-12."""
    probabilities = np.float32(_probabilities(PREDICTED, confidence=0.7))
    chosen = probabilities.astype(np.float64)[np.arange(len(LABELS)), LABELS]
    expected = -np.log(chosen).mean()
    loss = scoring.classification_report(LABELS, probabilities, CLASSES)["loss"]
    assert loss == pytest.approx(expected, rel=1e-12)


def test_the_loss_is_finite_and_never_negative_at_the_ends():
    """P(true) = 0 costs -log(1e-7) (Keras's epsilon), not infinity; a P(true) rounded a little
    above 1 costs 0, not a negative amount."""
    probabilities = np.array([[0.0, 1.0], [1.0 + 1e-7, 0.0]])
    loss = scoring.classification_report([0, 0], probabilities, ["no", "yes"])["loss"]
    assert loss == pytest.approx(-np.log(1e-7) / 2, rel=1e-12)


def test_two_classes_add_the_area_under_the_curve():
    labels = [0, 0, 1, 1]
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    # P(class 1) ranks positives above negatives in 3 of the 4 (positive, negative) pairs
    assert scoring.classification_report(labels, probabilities, ["no", "yes"])["auc"] == pytest.approx(3 / 4)
    assert "auc" not in scoring.classification_report([1, 1], probabilities[2:], ["no", "yes"])


class _Tables(html.parser.HTMLParser):
    """Every table after an <h2> or <h3>, by that heading: its rows as lists of cell texts; and any
    text inside a table but outside its cells (which a browser shows above the table)."""

    def __init__(self):
        super().__init__()
        self.tables, self.stray, self._heading, self._cell = {}, "", None, None
        self._in_heading, self._table = False, None

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3"):
            self._in_heading, self._heading = True, ""
        elif tag == "table":
            self._table = self.tables.setdefault(self._heading, [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._in_heading:
            self._heading += data
        elif self._cell is not None:
            self._cell += data
        elif self._table is not None:
            self.stray += data

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self._in_heading = False
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(self._cell.strip())
            self._cell = None
        elif tag == "table":
            self._table = None


def _report_page(folder):
    """report.html of a hand-made run evaluated on LABELS / PREDICTED (batch_size changed from its default)."""
    metrics = scoring.classification_report(LABELS, _probabilities(PREDICTED), CLASSES)
    record = {"pipeline": "toy", "config": {"epochs": 1}, "recipe": None, "data": "hand-made", "test_data": None,
              "splits": {"counts": {"test": len(LABELS)}}, "class_names": CLASSES, "created": "today"}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(len(CLASSES))])  # no convolution to draw
    pipeline = types.SimpleNamespace(config=BaseConfig(batch_size=2))
    report.write(folder, pipeline, model, None, metrics, record)
    return (folder / report.REPORT).read_text()


def test_the_reports_per_class_table_shows_each_ratio_in_its_column(tmp_path):
    page = _report_page(tmp_path)
    parser = _Tables()
    parser.feed(page)
    assert parser.stray.strip() == ""
    header, *rows = parser.tables["Test metrics"]
    assert header == ["metric", "value"]
    assert {name: value for name, value in rows} == {
        "loss": f"{-(3 * np.log(0.8) + 3 * np.log(0.1)) / 6:.4f}", "accuracy": "0.5000", "examples": "6"}
    header, *rows = parser.tables["Per class"]
    assert header == ["class", "precision", "recall", "support"]
    assert {row[0]: row[1:] for row in rows} == {
        name: [f"{precision:.4f}", f"{recall:.4f}", str(support)]
        for name, (precision, recall, support) in EXPECTED.items()}
    confusion = re.search(r"<h3>([^<]*)</h3><img alt=\"([^\"]*)\" src=\"data:image/png;base64,([^\"]+)\"", page)
    assert confusion.group(1, 2) == ("Confusion matrix", "confusion matrix")
    assert base64.b64decode(confusion.group(3)).startswith(b"\x89PNG\r\n\x1a\n")  # the plot, embedded
    exact = re.search(r'data-key="dog/precision" data-value="([^"]+)"', page).group(1)
    assert float(exact) == pytest.approx(1 / 3, rel=1e-15)  # the exact value behind the 4 decimals shown


def test_only_the_settings_tables_carry_an_id(tmp_path):
    """The browser test and readers find the settings tables by id; every other table has none
    (an `id="None"` on each would repeat one id across the page)."""
    tables = re.findall(r"<table[^>]*>", _report_page(tmp_path))
    assert tables[:2] == ['<table id="changed-settings">', '<table id="all-settings">']
    assert len(tables) > 2 and set(tables[2:]) == {"<table>"}  # test metrics, per class, data, export


class _LooseText(html.parser.HTMLParser):
    """Text directly in <body>, outside every section's elements (a browser shows it as is)."""

    VOID = {"img", "meta", "br", "hr", "input", "link"}

    def __init__(self):
        super().__init__()
        self.open, self.loose = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

    def handle_data(self, data):
        if data.strip() and self.open[-1:] == ["body"]:
            self.loose.append(data.strip())


def test_the_report_has_no_text_outside_its_sections(tmp_path):
    parser = _LooseText()
    parser.feed(_report_page(tmp_path))
    assert parser.open == [] and parser.loose == []


def test_the_most_confident_errors_come_first_and_ties_keep_their_order():
    labels = [0, 1, 2, 0, 1, 2]
    probabilities = np.array([[0.9, 0.1, 0.0],   # right
                              [0.7, 0.3, 0.0],   # wrong at 0.7
                              [0.1, 0.9, 0.0],   # wrong at 0.9
                              [0.2, 0.8, 0.0],   # wrong at 0.8
                              [0.0, 0.6, 0.4],   # right
                              [0.7, 0.2, 0.1]])  # wrong at 0.7, after example 1
    assert report.most_confident_errors(labels, probabilities).tolist() == [2, 3, 1, 5]
    assert report.most_confident_errors(labels, probabilities, count=2).tolist() == [2, 3]
    assert report.most_confident_errors([0, 1], np.eye(2)).tolist() == []


def test_ties_keep_their_order_in_a_long_list_too():
    """Past 16 elements NumPy's default sort is not stable: the order must come from kind="stable"."""
    confidence = np.tile([0.7, 0.9], 20)  # 40 errors, two levels
    probabilities = np.stack([1 - confidence, confidence], axis=1)  # every example predicts class 1
    chosen = report.most_confident_errors(np.zeros(40, np.int64), probabilities, count=40).tolist()
    assert chosen == list(range(1, 40, 2)) + list(range(0, 40, 2))
