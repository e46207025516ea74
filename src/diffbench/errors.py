"""Exceptions that carry a message for the user: what is wrong, which key or file, what to do."""

from diffbench.config import ConfigError


class DataError(RuntimeError):
    """A dataset cannot be read or is too small; names the dataset entry or file."""


class ModelError(RuntimeError):
    """A model cannot be built, loaded or used as configured; names the model entry."""


__all__ = ["ConfigError", "DataError", "ModelError"]
