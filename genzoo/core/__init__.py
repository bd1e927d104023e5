"""The core layer: types every other layer shares (data, models, metrics and the engine import it; it
imports none of them)."""

from genzoo.core.capabilities import (
    CanvasSequence,
    ExactLikelihood,
    FrameScores,
    HasLatent,
    LikelihoodBound,
    PluggableCondition,
    Reconstructs,
    has_likelihood,
)
from genzoo.core.conditions import (
    BoxSpec,
    ConditionSpec,
    FramesSpec,
    ImageSpec,
    KeypointSpec,
    LabelSpec,
    TextSpec,
    check_condition,
    default_condition,
    render_conditions,
)
from genzoo.core.errors import (
    CheckpointError,
    ConditionError,
    ConfigError,
    DataFileError,
    GenzooError,
    MetricUnavailable,
    ProtocolError,
    TrainingDiverged,
    UsageError,
)
from genzoo.core.results import MetricResult
from genzoo.core.types import Batch, DataInfo, Dataset

__all__ = [
    "Batch", "BoxSpec", "CanvasSequence", "CheckpointError", "ConditionError", "ConditionSpec", "ConfigError",
    "DataFileError", "DataInfo", "Dataset", "ExactLikelihood", "FrameScores", "FramesSpec", "GenzooError",
    "HasLatent", "ImageSpec", "KeypointSpec", "LabelSpec", "LikelihoodBound", "MetricResult", "MetricUnavailable",
    "PluggableCondition", "ProtocolError", "Reconstructs", "TextSpec", "TrainingDiverged", "UsageError",
    "check_condition", "default_condition", "has_likelihood", "render_conditions",
]
