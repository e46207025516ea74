"""Datasets: image sources, the deterministic train/reference split, and array files."""
