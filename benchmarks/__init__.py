"""Benchmarks: the suite (`python -m benchmarks.suite`) and the Bigler importer."""
