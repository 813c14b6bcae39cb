"""Propagation logic shared by the API (validation) and the activities (writes). Pure functions."""
