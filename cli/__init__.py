"""The `structural` command line."""
