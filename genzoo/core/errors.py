"""genzoo's error types: every failure a user can cause is one of these, with a one-line message.

The CLI prints ``str(error)`` and exits with :attr:`GenzooError.exit_code` (2: the input was wrong, nothing
was done; 1: the work failed at run time), so a user sees what to change rather than a traceback.
All derive from :class:`ValueError` so ``except ValueError`` keeps working for API users.
"""

from __future__ import annotations

import os
from pathlib import Path


class GenzooError(ValueError):
    """Base of genzoo's errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(GenzooError):
    """The user asked for something invalid (a value, a name, a shape); nothing was changed."""

    exit_code = 2


class ConfigError(UsageError):
    """A config that names an unknown field, has a bad value, or cannot be found."""


class ConditionError(UsageError):
    """A condition (label, text, box, image, frames) that is missing, unexpected or malformed."""


class DataFileError(GenzooError):
    """A data file that is missing, truncated, corrupt or fails its checksum. Names the file."""

    exit_code = 2

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(GenzooError):
    """A checkpoint that is missing, corrupt, non-finite, or belongs to another model."""


class MetricUnavailable(GenzooError):
    """A metric that is not defined for this model or input (e.g. the NLL of a GAN)."""


class TrainingDiverged(GenzooError, RuntimeError):
    """A loss became NaN/inf or exploded; the last good checkpoint is kept."""
