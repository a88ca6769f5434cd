"""report.html laid out to be scanned (issue 27), on the 0.1.0 run folder of tests/fixtures: the
headline (test metrics, data, time) before everything else, only the non-default settings in
the open (unused extensions' left out), integer epoch ticks, and an export section that
`cnn export RUN` brings up to date. Pictures: the explanation's input beside its map, with a
colour bar on the map's own scale."""
import html.parser
import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from analysis import report, visualization
from pipelines.core import render
from project import ROOT

OLD_RUN = ROOT / "tests" / "fixtures" / "digits_0_1" / "run"


class _Page(html.parser.HTMLParser):
    """The order of the headline and the <h2> sections, each table's first column by id, the
    <img> attributes, and the tables inside <details>."""

    def __init__(self):
        super().__init__()
        self.order, self.tables, self.images, self.folded = [], {}, [], []
        self._heading, self._table, self._cell, self._details = False, None, None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "headline":
            self.order.append("headline")
        if tag == "h2":
            self._heading = True
            self.order.append("")
        elif tag == "details":
            self._details += 1
        elif tag == "table" and attrs.get("id"):
            self._table = self.tables.setdefault(attrs["id"], [])
            if self._details:
                self.folded.append(attrs["id"])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs)

    def handle_data(self, data):
        if self._heading:
            self.order[-1] += data
        elif self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "h2":
            self._heading = False
        elif tag == "details":
            self._details -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(self._cell.strip())
            self._cell = None
        elif tag == "table":
            self._table = None


def _parse(page):
    parsed = _Page()
    parsed.feed(page)
    return parsed


@pytest.fixture
def old_run(tmp_path):
    """A copy of the 0.1.0 run folder, its report written by today's `cnn report`."""
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN, run_dir)
    result = CliRunner().invoke(cli.main, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir


def test_an_old_run_gets_the_headline_first_and_only_its_changed_settings_in_the_open(old_run):
    page = (old_run / "report.html").read_text()
    parsed = _parse(page)
    assert parsed.order[0] == "headline" and parsed.order[1] == "Settings that differ from the defaults"
    headline = page[page.index('id="headline"'):page.index("</header>")]
    metrics = json.loads((old_run / "metrics.json").read_text())
    assert f'data-key="accuracy" data-value="{metrics["accuracy"]!r}"' in headline
    assert "train 1,347, test 450" in headline and "10: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in headline
    assert "training time not recorded" in headline and "1 epoch;" in headline and "2026-12-07 09:25:28" in headline
    # 0.1.0 ran with epochs=1, filters=4,8, dense_units=8 (tests/fixtures/digits_0_1/README.md) and
    # that version's defaults, today's but for validation_fraction (0.1 since issue 27)
    header, *rows = parsed.tables["changed-settings"]
    assert header == ["setting", "value", "default", "set by", "meaning"]
    assert [row[:3] for row in rows] == [["epochs", "1", "20"], ["validation_fraction", "0.0", "0.1"],
                                         ["filters", "4,8", "32,64,128"], ["dense_units", "8", "128"]]
    assert parsed.folded == ["all-settings"]  # every setting, folded away
    every = [row[0] for row in parsed.tables["all-settings"][1:]]
    assert "learning_rate" in every and not any(name.startswith(("adversarial", "ema")) for name in every)
    assert "Not used in this run: adversarial, ema" in page
    curves = next(image for image in parsed.images if image["alt"] == "training curves")
    assert curves["data-epoch-ticks"] == "1" and curves["data-series"] == "accuracy,loss"
    assert "no validation split" in page


def test_export_brings_the_reports_export_section_up_to_date(old_run, tmp_path):
    before = (old_run / "report.html").read_text()
    assert "Not exported yet" in before
    result = CliRunner().invoke(cli.main, ["export", str(old_run), "--export-dir", str(tmp_path / "exports")])
    assert result.exit_code == 0, result.output
    exported = tmp_path / "exports" / "digits" / "1"
    assert json.loads((old_run / "config.json").read_text())["export"] == str(exported)
    page = (old_run / "report.html").read_text()
    start, end = page.index(report.EXPORT_START), page.index(report.EXPORT_END)
    assert f"<code>{exported}</code> (model digits, version 1)" in page[start:end]
    assert "serving_default" in page[start:end] and "image_bytes" in page[start:end]
    kept = before.index(report.EXPORT_START), before.index(report.EXPORT_END) + len(report.EXPORT_END)
    assert page[:start] == before[:kept[0]] and page[end + len(report.EXPORT_END):] == before[kept[1]:]
    again = CliRunner().invoke(cli.main, ["export", str(old_run), "--export-dir", str(tmp_path / "exports")])
    assert again.exit_code == 0, again.output
    section = (old_run / "report.html").read_text()
    assert f"<code>{tmp_path / 'exports' / 'digits' / '2'}</code> (model digits, version 2)" in section
    assert str(exported) + "<" not in section


@pytest.mark.parametrize("epochs", [1, 3, 7, 30])
def test_epoch_ticks_are_whole_epochs_and_validation_is_drawn(tmp_path, epochs):
    history = {"epoch": list(range(epochs)), "loss": list(np.linspace(2, 1, epochs)),
               "val_loss": list(np.linspace(2.1, 1.2, epochs))}
    path, ticks = visualization.curves(tmp_path / "curves.png", history, "t")
    assert path.read_bytes().startswith(b"\x89PNG")
    numbers = [int(tick) for tick in ticks]  # ValueError on 1.5, 2.5 ...
    assert numbers == sorted(set(numbers)) and set(numbers) <= set(range(1, epochs + 1))
    assert numbers[0] <= 1 + epochs // 4 and numbers[-1] >= epochs - epochs // 4  # they span the run


def test_the_map_is_drawn_beside_the_input_with_a_colour_bar_on_its_own_scale():
    image = np.zeros((8, 8), np.float32)
    image[2:6, 3:5] = 255
    map_ = np.linspace(0.0, 0.004, 64, dtype=np.float32).reshape(8, 8)
    figure = render.overlay_figure(image, map_, "a digit")
    try:
        shown_input, shown_map, over = figure.axes[:3]
        np.testing.assert_array_equal(shown_input.images[0].get_array(), image.astype(np.uint8))
        np.testing.assert_array_equal(shown_map.images[0].get_array(), map_)  # raw values, not rescaled
        assert shown_map.images[0].get_clim() == pytest.approx((0.0, 0.004))
        bars = [ax for ax in figure.axes[3:] if ax.get_ylabel() == "map value"]
        assert len(bars) == 1 and bars[0].get_ylim() == pytest.approx((0.0, 0.004))
        layer = over.images[1].get_array()  # RGBA over the grey input: clear where the map is 0
        assert layer[0, 0, 3] == 0 and layer[-1, -1, 3] == pytest.approx(0.6)
        np.testing.assert_array_equal(over.images[0].get_array(), image.astype(np.uint8))
    finally:
        render.pyplot().close(figure)


def test_a_plan_shows_what_it_set_and_why(old_run):
    record = json.loads((old_run / "config.json").read_text())
    record["plan"] = {"settings": [{"key": "dropout", "value": "0.5", "reason": "few examples per class"}],
                      "overridden_by_user": ["epochs"],
                      "fingerprint": {"pipeline": "digits", "data": "bundled", "examples": 1347,
                                      "classes": {"0": 133}, "imbalance": 1.02, "statistics": {}}}
    record["config"]["dropout"] = 0.5
    (old_run / "config.json").write_text(json.dumps(record))
    assert CliRunner().invoke(cli.main, ["report", str(old_run)]).exit_code == 0
    page = (old_run / "report.html").read_text()
    parsed = _parse(page)
    assert parsed.tables["plan-settings"] == [["setting", "value", "why"], ["dropout", "0.5", "few examples per class"]]
    changed = {row[0]: row[3] for row in parsed.tables["changed-settings"][1:]}
    assert changed["dropout"] == "plan" and changed["epochs"] == "your setting"
    assert "Your own settings won over the plan for: epochs" in page
    assert re.search(r"fingerprint of bundled \(digits\): 1347 training examples", page)
    assert "classes (examples): 0=133" in page  # a fingerprint recorded before classes_counted existed


@pytest.mark.parametrize("name", ["audio", "text", "volumes", "segment"])
def test_every_pipeline_gets_the_page(name):
    """The other domains' runs (untrained, their data not at hand) get the same headline and
    sections; segment's per-voxel metrics have no confusion matrix or errors."""
    from explain_runs import UNTRAINED, untrained_run

    pipeline, run_dir, model = untrained_run(name)
    record = json.loads((run_dir / "config.json").read_text())
    metrics = {"loss": 0.5, "accuracy": 0.75, "examples": 8}
    report.write(run_dir, pipeline, model, None, metrics, record)
    page = (run_dir / "report.html").read_text()
    parsed = _parse(page)
    assert parsed.order[:2] == ["headline", "Settings that differ from the defaults"]
    changed = {row[0] for row in parsed.tables["changed-settings"][1:]}
    assert changed == {setting.split("=")[0] for setting in UNTRAINED[name][0]}  # what explain_runs sets
    assert 'data-key="accuracy" data-value="0.75"' in page and "training time not recorded" in page
    assert "First-layer filters" in page and report.EXPORT_START in page


def test_each_changed_setting_says_what_set_it(tmp_path):
    """The recipe's settings say so while they keep the recipe's value; one the user changed
    again over the recipe is the user's."""
    import types

    import keras

    from pipelines.core.config import override
    from pipelines.images.digits import DigitsConfig

    config = override(DigitsConfig(), ["image_size=28", "epochs=10", "batch_size=32", "dropout=0.5"])  # mnist: 128
    record = {"pipeline": "digits", "recipe": "mnist", "data": "mnist/", "class_names": ["0", "1"],
              "splits": {"counts": {"train": 9, "test": 3}}, "created": "2026-12-07T10:00:00"}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    report.write(tmp_path, types.SimpleNamespace(config=config), model, None, {"accuracy": 0.5}, record)
    parsed = _parse((tmp_path / "report.html").read_text())
    rows = {row[0]: row[1:4] for row in parsed.tables["changed-settings"][1:]}
    assert rows == {"epochs": ["10", "20", "recipe mnist"], "image_size": ["28", "16", "recipe mnist"],
                    "batch_size": ["32", "64", "your setting"], "dropout": ["0.5", "0.3", "your setting"]}
