"""Propagate benchmark (GitHub issue 5): see bench/propagate/run.py."""
