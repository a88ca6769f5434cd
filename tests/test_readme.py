"""README.md is the entry page (issue 27): short, it says the two commands and how to reach `cnn`,
warns about the generic package names, lists every command and pipeline the product has, and every
link in it leads to a file that exists. The reference is in docs/ (tests/test_docs_build.py)."""
import re
import subprocess
import sys

import click

from project import ROOT

README = (ROOT / "README.md").read_text()


def test_short_entry_page():
    assert len(README.splitlines()) <= 200
    for promise in ["make demo", "make test", "source .venv/bin/activate", ".venv/bin/cnn", "## Quickstart"]:
        assert promise in README, promise


def test_warns_that_generic_package_names_shadow_others():
    assert re.search(r"generic names.*`datasets`.*Hugging Face `datasets`.*`\.venv`", README, re.S)


def test_command_table_lists_every_command():
    import cli

    commands = cli.main.list_commands(click.Context(cli.main))
    table = re.findall(r"^\| `cnn ([\w-]+)", README, re.M)
    assert sorted(set(table)) == sorted(commands), "README's command table differs from `cnn --help`"


def test_pipelines_table_lists_every_pipeline():
    listing = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "pipelines"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0, listing.stderr
    pipelines = re.findall(r"^(\w+) {2,}\S", listing.stdout, re.M)  # one line each: name, then its summary
    table = re.findall(r"^\| `(\w+)` \|", README, re.M)
    assert pipelines and sorted(table) == sorted(pipelines)


def test_links_lead_to_files():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"
