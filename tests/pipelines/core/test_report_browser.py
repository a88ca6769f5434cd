"""report.html in a real headless browser (Chromium) at 1280x800: the page renders offline,
every image loads, the headline (test metrics, data, time) is above the fold, the settings table
lists only the settings the run changed, the curves' epoch ticks are whole epochs with a
validation curve, and the numbers shown are those of metrics.json."""
import html.parser
import json
import shutil
import subprocess

import pytest

from explain_runs import trained_digits

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Appended to a copy of the page: after load, record how many images decoded (naturalWidth > 0).
# Also where the headline box is, the viewport's height, the changed settings' names (the first
# cell of each row of that table) and the curves' epoch tick labels and series.
PROBE = """<script>window.addEventListener("load", () => {
  const images = [...document.images];
  const probe = document.createElement("div");
  probe.id = "probe";
  probe.dataset.total = images.length;
  probe.dataset.loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const box = document.getElementById("headline").getBoundingClientRect();
  probe.dataset.headlineTop = box.top;
  probe.dataset.headlineBottom = box.bottom;
  probe.dataset.viewport = window.innerHeight;
  probe.dataset.changed = [...document.querySelectorAll("#changed-settings tr")].slice(1)
    .map(row => row.cells[0].textContent).join(" ");
  const curves = document.querySelector('img[alt="training curves"]');
  probe.dataset.ticks = curves.dataset.epochTicks;
  probe.dataset.series = curves.dataset.series;
  document.body.appendChild(probe);
});</script>"""
# What tests/explain_runs.py's digits run sets over the defaults (DIGITS there), in the page's order
CHANGED = ["epochs", "filters", "dense_units"]


def _browser():
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


class _Dom(html.parser.HTMLParser):
    """The probe's attributes, and every metric span's key, exact value and shown text."""

    def __init__(self):
        super().__init__()
        self.probe, self.metrics, self._open = {}, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "probe":
            self.probe = attrs
        if attrs.get("class") == "metric":
            self._open = [attrs["data-key"], attrs["data-value"], ""]
            self.metrics.append(self._open)

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        self._open = None


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (make test installs Debian's "
                                               "`chromium` where it can: apt-get install -y chromium)")
def test_report_renders_with_every_image_and_the_metrics(tmp_path):
    _, run = trained_digits()
    page = tmp_path / "report.html"
    page.write_text((run.run_dir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--window-size=1280,800", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = _Dom()
    dom.feed(result.stdout)
    assert dom.probe, result.stderr[-2000:]
    assert int(dom.probe["data-total"]) >= 5  # curves, confusion matrix, errors, filters
    assert dom.probe["data-loaded"] == dom.probe["data-total"]
    viewport = float(dom.probe["data-viewport"])
    assert 0 < viewport <= 800
    assert 0 <= float(dom.probe["data-headline-top"]) < float(dom.probe["data-headline-bottom"]) <= viewport
    assert dom.probe["data-changed"].split() == CHANGED
    ticks = [int(tick) for tick in dom.probe["data-ticks"].split(",")]  # ValueError on 1.5
    assert ticks == list(range(1, 5))  # 4 epochs
    # digits validate by default: the validation curves are drawn beside the training ones
    assert dom.probe["data-series"].split(",") == ["accuracy", "loss", "val_accuracy", "val_loss"]
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    shown = {key: (float(value), text) for key, value, text in dom.metrics}
    for key in ("loss", "accuracy"):
        assert shown[key][0] == metrics[key] and shown[key][1] == f"{metrics[key]:.4f}"
    for name, values in metrics["per_class"].items():
        for measure in ("precision", "recall"):
            assert shown[f"{name}/{measure}"][0] == values[measure]
            assert shown[f"{name}/{measure}"][1] == f"{values[measure]:.4f}"
