"""Temporal workflows: orchestration only (deterministic, no I/O). One class per module."""
