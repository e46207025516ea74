"""Exceptions that carry a message for the user: what is wrong, which key or file, what to do.

Every error a user can cause or fix is one of these; the CLI prints it as one `error: ...` line
and rule logs end with it (diffbench.jobs). Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Base of the errors whose message is for the user."""


class ConfigError(UserError, ValueError):
    """A config value is wrong; the message names the key and what to do."""


class DataError(UserError, RuntimeError):
    """A dataset cannot be read or is too small; names the dataset entry or file."""


class ModelError(UserError, RuntimeError):
    """A model cannot be built, loaded or used as configured; names the model entry."""


class MissingWeights(UserError, FileNotFoundError):
    """Weights are not on disk; the message names the file, the config key and how to fetch them."""


class NonFiniteLoss(UserError, FloatingPointError):
    """Training diverged; names the step and the checkpoint kept."""


class ResultError(UserError, RuntimeError):
    """A result file is missing, inconsistent or lacks a key; names the file and what to rerun."""


class AnswerFileError(UserError, ValueError):
    """A rater's answer file cannot be counted; names the file and why. The file is left out and
    the other answers are scored (the message goes to the log and the report)."""
