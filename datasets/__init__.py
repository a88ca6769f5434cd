"""Data sources for the pipelines: each returns `datasets.examples.SourceData` (see pipelines/core/sources.py)."""
