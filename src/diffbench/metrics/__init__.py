"""Metrics as pure functions: features -> statistics -> value, returning plain dicts."""
