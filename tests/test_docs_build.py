"""The docs build with MkDocs in strict mode (as `make docs` does), in a temporary site folder: a
broken link or anchor, a missing page or a page left out of the navigation fails the build."""
import re
import shutil
import subprocess
import sys

import pytest

from project import ROOT

pytest.importorskip("mkdocs", reason="mkdocs is not installed: `make dev` installs the dev extra, which has it")


def build(config, site):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=300)


def test_docs_build_strict(tmp_path):
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "training" / "index.html").exists()


@pytest.fixture
def docs_copy(tmp_path):
    """A copy of mkdocs.yml and docs/ to break on purpose."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    return tmp_path


@pytest.mark.parametrize("breakage, named", [
    (lambda docs: (docs / "install.md").open("a").write("\n[gone](no-such-page.md)\n"), "no-such-page.md"),
    (lambda docs: (docs / "install.md").open("a").write("\n[gone](training.md#no-such-heading)\n"), "no-such-heading"),
    (lambda docs: (docs / "orphan.md").write_text("# Orphan\n"), "orphan.md"),
], ids=["missing page", "missing heading", "page not in the navigation"])
def test_a_broken_docs_tree_fails_the_build(docs_copy, breakage, named):
    breakage(docs_copy / "docs")
    result = build(docs_copy / "mkdocs.yml", docs_copy / "site")
    assert result.returncode != 0 and named in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_index_links_every_page():
    index = (ROOT / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)", index))
    pages = {path.name for path in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not link {sorted(pages - linked)}"


def test_every_project_path_named_in_the_docs_exists():
    """A file or folder of the project named in README.md or docs/ (`pipelines/core/base.py`) exists:
    moving code without its docs fails here."""
    pattern = re.compile(r"\b(?:layers|networks|pipelines|serving|datasets|analysis|bench|tests|samples)"
                         r"/[A-Za-z0-9_/.-]*[A-Za-z0-9_]")
    missing = {f"{page.relative_to(ROOT)}: {path}"
               for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
               for path in pattern.findall(page.read_text()) if not (ROOT / path).exists()}
    assert not missing, "named in the docs but absent:\n" + "\n".join(sorted(missing))
