"""Errors a user can cause: bad data, bad config, a missing run folder.

The CLI prints these as one line and exits non-zero; any other exception is a
bug and keeps its traceback.
"""


class LeptonError(Exception):
    """A problem with the user's input, reported without a traceback."""


class ConfigError(LeptonError):
    """An unknown key, a wrong type or an impossible value in the config."""


class DataError(LeptonError):
    """A data set that cannot be used: empty, missing, inconsistent."""


class RunFolderError(LeptonError):
    """A run folder that is missing, unfinished or lacks a stage's output."""


class TrainingError(LeptonError):
    """Training that cannot give a usable model (the loss became NaN or infinite)."""


class ModelFileError(LeptonError):
    """A model file (TFLite, SavedModel, weights) that is truncated, corrupt or of another kind."""
