"""Agreement and label quality of step ratings. Pure: no Django; numpy only.

`StepLabels` (labels.py) is the one input: flat arrays, one row per (chain, step, annotator) rating.
Measures (agreement.py) return `Estimate`s: point value, chain-bootstrap interval (bootstrap.py) and
the number of labels and units used. Per-annotator and per-position breakdowns are in breakdown.py;
aggregation of labels into one per step (majority, Dawid–Skene) is in `review.aggregation`.
"""

from .agreement import (
    AgreementReport,
    PairAgreement,
    agreement_report,
    cohen_kappa_table,
    first_error_agreement,
    first_errors,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    percent_agreement,
)
from .bootstrap import Estimate
from .breakdown import AnnotatorAgreement, PositionAgreement, annotator_agreement, position_agreement
from .labels import RATINGS, LabelsError, StepLabels

__all__ = [
    "RATINGS",
    "AgreementReport",
    "AnnotatorAgreement",
    "Estimate",
    "LabelsError",
    "PairAgreement",
    "PositionAgreement",
    "StepLabels",
    "agreement_report",
    "annotator_agreement",
    "cohen_kappa_table",
    "first_error_agreement",
    "first_errors",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "percent_agreement",
    "position_agreement",
]
