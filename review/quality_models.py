"""Quality control and adjudication tables: the review policy of a project, the disagreement queue,
reviewers' decisions (an append-only audit log) and the final labels they set.

Never changes what annotators submitted: final labels live beside the annotators' StepLabels, by step
key, so they always name the text they judged.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from annotation.models import MAX_RATING, Chain, Project

MAX_NOTE = 4_000  # a decision's note, a step's reason


class QueueRule(models.TextChoices):
    ANY_STEP = "any_step", "Any step disagrees"
    FIRST_ERROR = "first_error", "The first-error index disagrees"
    ALPHA_BELOW = "alpha_below", "The chain's α is below a threshold"


class ConsensusMethod(models.TextChoices):
    MAJORITY = "majority", "Majority vote (a tie goes to the lower rating)"
    DAWID_SKENE = "dawid_skene", "Dawid–Skene (annotators weighted by estimated competence)"


class Unresolved(models.TextChoices):
    REVIEW = "review", "Send it to reviewers"
    DROP = "drop", "Drop it (left out of exports)"


class ReviewPolicy(models.Model):
    """How a project's chains reach reviewers and how unadjudicated steps get their final label."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="review_policy")
    queue_rule = models.CharField(max_length=16, choices=QueueRule.choices, default=QueueRule.ANY_STEP)
    alpha_threshold = models.FloatField(default=0.67, help_text="For the alpha_below rule: Krippendorff's α (ordinal).")
    min_annotators = models.PositiveSmallIntegerField(default=2, help_text="Submitted passes before a chain is judged.")
    consensus = models.CharField(max_length=16, choices=ConsensusMethod.choices, default=ConsensusMethod.MAJORITY)
    show_annotator_names = models.BooleanField(default=False, help_text="Reviewers see usernames, not A, B, C.")
    # An annotation faster than this per step is flagged to reviewers (reading a step takes longer).
    fast_seconds_per_step = models.FloatField(default=2.0)
    # Escalation (ProcessBench: 3 experts, then up to 5): a chain the rule sends to review first collects
    # more passes, one at a time, up to `max_annotators` (0: off); past `min_annotators` it agrees when a
    # majority of at least `min_annotators` passes agree (triage.py). Still no agreement at the maximum:
    # `when_unresolved` says whether reviewers get it or it is dropped.
    max_annotators = models.PositiveSmallIntegerField(default=0, db_default=0)
    when_unresolved = models.CharField(max_length=8, choices=Unresolved.choices, default=Unresolved.REVIEW,
                                       db_default=Unresolved.REVIEW)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(min_annotators__gte=2), name="review_policy_min_annotators_2"),
            models.CheckConstraint(condition=Q(alpha_threshold__gte=-1, alpha_threshold__lte=1),
                                   name="review_policy_alpha_threshold_range"),
            models.CheckConstraint(condition=Q(max_annotators=0) | Q(max_annotators__gt=F("min_annotators")),
                                   name="review_policy_max_above_min"),
        ]

    def __str__(self) -> str:
        return f"review policy of {self.project_id}"


class ItemStatus(models.TextChoices):
    OPEN = "open", "Waiting for a reviewer"
    RESOLVED = "resolved", "Adjudicated"
    REWORK = "rework", "Sent back for rework"
    CLEAR = "clear", "Judged: no reviewer needed"
    ESCALATED = "escalated", "Collecting more annotators"
    DROPPED = "dropped", "Dropped: no agreement at the most annotators"


# the tabs of the queue page
QUEUE_STATUSES = (ItemStatus.OPEN, ItemStatus.RESOLVED, ItemStatus.REWORK, ItemStatus.ESCALATED, ItemStatus.DROPPED)
# judged again whenever the chain's passes change (the others were settled by a reviewer)
UNSETTLED_STATUSES = (ItemStatus.OPEN, ItemStatus.CLEAR, ItemStatus.ESCALATED, ItemStatus.DROPPED)


class ReviewItem(models.Model):
    """A chain's standing in the disagreement queue: why it is there (rule and flags), whether it was settled,
    or that it was judged and needs nobody (`clear`). One row per judged chain, so a refresh judges only
    the chains whose submissions changed since (`judged_submissions`, `judged_last`)."""

    chain = models.OneToOneField(Chain, on_delete=models.CASCADE, related_name="review_item")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_items")
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    # ["step_disagreement", "first_error_disagreement", "low_alpha", "outcome_process_mismatch",
    #  "fast_annotation", "far_from_consensus"]: see review/quality_services.py
    reasons = models.JSONField(default=list)
    # contested step indexes, the chain's α, who was fast or far, as computed when the item was refreshed
    detail = models.JSONField(default=dict, blank=True)
    n_annotators = models.PositiveSmallIntegerField(default=0)
    # The chain's submitted passes when it was last judged: their count and the latest submission time.
    judged_submissions = models.PositiveIntegerField(default=0)
    judged_last = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        indexes = [models.Index(fields=["project", "status", "id"], name="reviewitem_project_status_idx")]

    def __str__(self) -> str:
        return f"review of {self.chain_id}: {self.status}"


class DecisionKind(models.TextChoices):
    ADJUDICATE = "adjudicate", "Final labels set"
    REWORK = "rework", "Sent back for rework"
    DEBATE = "debate", "Debate requested on a step"


class Decision(models.Model):
    """One reviewer action on a chain, as it happened: append-only, never edited (the audit log)."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="review_decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    note = models.TextField(blank=True)
    # [{"step": index, "key": step key, "old": rating or null, "new": rating, "reason": text}]
    changes = models.JSONField(default=list, blank=True)
    revision = models.PositiveIntegerField(help_text="The chain revision the reviewer saw.")
    # A retried request (lost reply, double click) carries the same key and gets the stored decision.
    request_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "request_key"], condition=~Q(request_key=""),
                                    name="decision_unique_request_key"),
        ]
        indexes = [models.Index(fields=["chain", "id"], name="decision_chain_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.chain_id} by {self.reviewer_id}"


class FinalLabel(models.Model):
    """A reviewer's final rating of one step (by key); read by exports before any consensus rule."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="final_labels", db_index=False)
    step_key = models.PositiveIntegerField()
    rating = models.SmallIntegerField()
    reason = models.TextField(blank=True)
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Also the index that reads a chain's final labels.
            models.UniqueConstraint(fields=["chain", "step_key"], name="finallabel_once_per_step"),
            models.CheckConstraint(condition=Q(rating__gte=-MAX_RATING, rating__lte=MAX_RATING),
                                   name="finallabel_rating_range"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.step_key}: {self.rating}"
