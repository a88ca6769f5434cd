"""Data sources for the pipelines: each returns `datasets.examples.SourceData` (see sources.py)."""
