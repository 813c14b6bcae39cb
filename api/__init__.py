"""HTTP API: a thin FastAPI front that validates, authenticates and starts workflows."""
