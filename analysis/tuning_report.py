"""OUT/report.html of `cnn tune`: the search (pipeline, data, tuner, the validation score) and one
table of its trials with their settings, the best first; each score also in a `data-value`
attribute, exactly as in tuning.json (pipelines/engine/tuning.py)."""
from __future__ import annotations

import html
import json
import pathlib

from pipelines.core import files

REPORT = "report.html"
STYLE = """body { font-family: sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #eee; text-align: left; } tr.best td { font-weight: bold; }"""


def ranked(trials):
    """The trials with a score, best (highest) first, then the others in the order they started."""
    scored = sorted((row for row in trials if row["score"] is not None), key=lambda row: -row["score"])
    return scored + [row for row in trials if row["score"] is None]


def _cell(value):
    return html.escape(value if isinstance(value, str) else json.dumps(value))


def _trials_table(record):
    keys = list(record["request"]["space"])
    header = ["rank", "trial", record["objective"]["name"], "epochs", "seconds", "status", *keys]
    rows = []
    for rank, row in enumerate(ranked(record["trials"]), 1):
        score = ("" if row["score"] is None else
                 f'<span class="score" data-value="{row["score"]!r}">{row["score"]:.4f}</span>')
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.1f}"
        cells = [str(rank), _cell(row["trial"]), score, _cell(row["epochs"]), seconds, _cell(row["status"]),
                 *(_cell(row["settings"][key]) for key in keys)]
        best = ' class="best"' if row["trial"] == record["best"] else ""
        rows.append(f'<tr{best} data-trial="{html.escape(row["trial"])}">'
                    + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "<tr>" + "".join(f"<th>{html.escape(name)}</th>" for name in header) + "</tr>"
    return f"<table class=\"trials\">{head}{''.join(rows)}</table>"


def write(out_dir, record):
    """Write OUT/report.html from tuning.json's `record`; its path."""
    request = record["request"]
    title = f"{request['pipeline']}: tuning on {request['data']}"
    counts = record.get("splits", {}).get("counts", {})
    space = "".join(f"<li>{html.escape(key)}: {html.escape(text)}</li>" for key, text in request["space"].items())
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>tuner: {html.escape(request['tuner'])}; score: {html.escape(record['objective']['name'])} "
        f"(higher is better) on {counts.get('val', '?')} validation examples held out of the "
        f"{counts.get('train', '?')} training ones; the {counts.get('test', '?')} test examples were not read.</p>",
        f"<h2>Search space</h2><ul>{space}</ul>",
        f"<h2>Trials</h2><p>best settings: <a href=\"best_config.json\">best_config.json</a> "
        f"(<code>cnn train --config</code>)</p>" if record["best"] else "<h2>Trials</h2>",
        _trials_table(record),
    ]
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return files.write_text(pathlib.Path(out_dir) / REPORT, page)
