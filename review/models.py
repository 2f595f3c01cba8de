"""The review app's tables. Quality control and adjudication: review/quality_models.py."""

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
