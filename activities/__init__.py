"""Temporal activities: all I/O (database, platform APIs). Classes take their dependencies in __init__."""
