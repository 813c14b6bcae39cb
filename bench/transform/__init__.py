"""Benchmarks of the translation layer."""
