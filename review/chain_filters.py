"""What review knows about a chain, as filters of annotation's chain list (annotation/chain_filters.py).

Registered from ReviewConfig.ready. Each reads the chain's ReviewItem (one per judged chain): its queue
status, the reasons that routed it (flags) and the agreement the queue measured when it last judged it
(`detail`: the contested steps and Krippendorff's α). A chain with fewer submitted passes than the
review policy's minimum has no item yet, or a `clear` one left with `judged_submissions = 0` after a
pass was reopened: both are "unjudged".

Each filter is one `EXISTS` on the item by chain (its unique index), so the list stays one query.
"""

from django.db import connection
from django.db.models import Exists, FloatField, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from annotation.chain_filters import ChainFilter, chain_filter_register

from .quality_models import ItemStatus, ReviewItem
from .reasons import REASON_TEXT

UNJUDGED = "unjudged"
REVIEW_CHOICES = (
    (ItemStatus.OPEN.value, "waiting for a reviewer"),
    (ItemStatus.RESOLVED.value, "adjudicated"),
    (ItemStatus.REWORK.value, "sent back for rework"),
    (ItemStatus.CLEAR.value, "judged: no reviewer needed"),
    (UNJUDGED, "not judged yet"),  # fewer submitted passes than the review policy's minimum
)
AGREEMENT_CHOICES = (
    ("agreed", "judged, and every step got one rating from every annotator"),
    ("split", "judged, and at least one step was rated differently"),
)
# Judged: the queue looked at this chain's passes (a `clear` item of a chain that fell below the minimum
# keeps its old detail but is waiting again).
JUDGED = Q(judged_submissions__gt=0) | ~Q(status=ItemStatus.CLEAR)


def _with_item(chains, condition: Q):
    return chains.filter(Exists(ReviewItem.objects.filter(condition, chain_id=OuterRef("pk"))))


def _review(chains, project, value: str):
    if value == UNJUDGED:
        return chains.filter(~Exists(ReviewItem.objects.filter(JUDGED, chain_id=OuterRef("pk"))))
    if value == ItemStatus.CLEAR:
        return _with_item(chains, Q(status=value, judged_submissions__gt=0))
    return _with_item(chains, Q(status=value))


def _review_flag(chains, project, value: str):
    if connection.vendor == "postgresql":
        return _with_item(chains, Q(reasons__contains=[value]))  # jsonb @>
    # SQLite has no JSON containment: the reasons are fixed identifiers, so their quoted form in the
    # stored JSON text is an exact match.
    return _with_item(chains, Q(reasons__icontains=f'"{value}"'))


def _agreement(chains, project, value: str):
    agreed = Q(detail__contested=[])
    return _with_item(chains, JUDGED & (agreed if value == "agreed" else ~agreed & Q(detail__has_key="contested")))


def _alpha_below(chains, project, value: float):
    # α is undefined (JSON null) when every label is the same value: perfect agreement, so never "below".
    # Compared as a number, not as JSON (jsonb orders null below every number), and null left out first
    # (SQLite reads a JSON null as the text 'null', which casts to 0).
    alpha = Cast(KeyTextTransform("alpha", "detail"), FloatField())
    items = ReviewItem.objects.alias(alpha=alpha).filter(JUDGED, ~Q(detail__alpha=None), alpha__lt=value,
                                                         chain_id=OuterRef("pk"))
    return chains.filter(Exists(items))


def register() -> None:
    chain_filter_register(ChainFilter(
        name="review", label="Review",
        help="The chain's place in the review queue (unjudged: fewer submitted passes than the review policy's "
             "minimum)", apply=_review,
        choices=REVIEW_CHOICES))
    chain_filter_register(ChainFilter(
        name="review_flag", label="Review flag", help="Why the queue routed the chain to reviewers",
        apply=_review_flag, choices=tuple(REASON_TEXT.items())))
    chain_filter_register(ChainFilter(
        name="agreement", label="Agreement", help="Whether the annotators' ratings of the chain agree",
        apply=_agreement, choices=AGREEMENT_CHOICES))
    chain_filter_register(ChainFilter(
        name="alpha_below", label="α below",
        help="Chains whose Krippendorff α (ordinal, over their submitted passes) is below this number, -1 to 1",
        apply=_alpha_below, minimum=-1.0, maximum=1.0))
