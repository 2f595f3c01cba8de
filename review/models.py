"""The review app's tables. Quality control and adjudication: review/quality_models.py; releases and judge
evaluations: review/releases_models.py."""

from .quality_models import (  # noqa: F401 (registers the models)
    ConsensusMethod,
    Decision,
    DecisionKind,
    FinalLabel,
    ItemStatus,
    QueueRule,
    ReviewItem,
    ReviewPolicy,
)
from .releases_models import DatasetRelease, JudgeEvaluation, LabelSource, ReleaseFile, ReleaseStatus  # noqa: F401
