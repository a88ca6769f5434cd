"""Pipelines and trained runs for tests in any folder of tests/."""
import cli
import pipelines
from pipelines.core.config import override


def make_pipeline(name, *settings):
    """The pipeline `name` with `key=value` settings over its defaults."""
    cls = pipelines.get(name)
    return cls(override(cls.Config(), list(settings)))


def train_bundled(name, root, settings):
    """(pipeline, finished Run with its export, root): `name` trained on its bundled data in
    `root`/run and exported to `root`/exports."""
    pipeline = make_pipeline(name, *settings)
    run = cli.train_and_export(pipeline, "bundled", run_dir=root / "run", export_dir=root / "exports", verbose=0)
    return pipeline, run, root
