"""Benchmarks of the archive at scale: a data generator, a load generator and their reports."""
