"""Benchmarks (`make bench`): accuracy targets and speed, recorded in docs/BENCHMARKS.md."""
