"""`cnn zoo`: a network's per-layer table as text and JSON, one-line errors."""
import json

from click.testing import CliRunner

import cli
from cli_errors import one_line_error


def test_zoo_network_table_as_text_and_json():
    text = CliRunner().invoke(cli.main, ["zoo", "alphago_policy"])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[0] == "alphago_policy: input (19, 19, 48)"
    assert "weights 3.88 M (3,882,793 trainable)" in text.output
    data = json.loads(CliRunner().invoke(cli.main, ["zoo", "alphago_policy", "--json"]).output)
    rows = {row["name"]: row for row in data["rows"]}
    assert rows["conv1"]["multiply_adds"] == 19 * 19 * 25 * 48 * 192
    assert rows["position_bias"]["weights"] == 361 and data["totals"]["weights"] == 3_882_793


def test_zoo_errors_are_one_line():
    assert one_line_error(["zoo", "resnet51"]) == "Error: unknown network 'resnet51'; did you mean 'resnet50'?"
    assert one_line_error(["zoo", "zzzz"]).startswith("Error: unknown network 'zzzz' (known: lecun1989,")
    assert one_line_error(["zoo", "vgg16", "--run", "runs/x"]) == "Error: give a network NAME or --run RUN, not both"
    assert one_line_error(["zoo", "--run", "/nonexistent/run"]) == \
        "Error: /nonexistent/run: not a run folder (no config.json)"


def test_zoo_lists_the_networks_it_listed_before_the_registry(monkeypatch):
    from networks import summary

    # Each row builds its network; the listing itself is what is checked here.
    monkeypatch.setattr(summary, "zoo_row", lambda name: {"name": name})
    rows = json.loads(CliRunner().invoke(cli.main, ["zoo", "--json"]).output)
    assert [row["name"] for row in rows] == ["lecun1989", "lenet5", "alexnet", "alexnet_grouped", "vgg16", "resnet50",
                                             "densenet121", "inception_v3", "alphago_policy", "resnet3d", "unet3d"]
