"""Pydantic inputs and outputs of workflows, activities, signals and updates (one in, one out each).

Kept apart from `workflows/` and `activities/` so both import them (workflows through
`imports_passed_through`) without importing each other.
"""
