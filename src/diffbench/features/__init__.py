"""Feature extractors for distribution metrics, selected by name from a small registry."""
