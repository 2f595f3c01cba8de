"""Claiming chains from the queue, autosaving labels, submitting. Every write owns its transaction."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..exceptions import Conflict, NotFound, ValidationFailed
from ..models import (
    OPEN_STATUSES,
    Annotation,
    Assignment,
    AssignmentStatus,
    Chain,
    FinishReason,
    Project,
    Role,
    Step,
    StepLabel,
)
from ..realtime import broadcast_project_event
from ..selectors import membership_role

MAX_TEXT = 20_000  # rationale / correction / comment


@dataclass(frozen=True)
class LabelInput:
    step: int  # 0-based index
    rating: int | None = None
    rationale: str = ""
    correction: str = ""
    flagged: bool | None = None


def assignment_claim_next(*, project: Project, user) -> Assignment | None:
    """The user's open assignment in `project`, else a newly claimed chain, else None (queue empty).

    Honours overlap k: a chain holds at most k annotator slots; the unique (chain, slot) constraint
    backs this when two annotators claim at the same moment.
    """
    if membership_role(user=user, project=project) not in (Role.ANNOTATOR, Role.ADMIN):
        raise NotFound("You are not an annotator of this project.")
    for _attempt in range(20):
        try:
            with transaction.atomic():
                outcome = _claim(project, user)
        except IntegrityError:
            continue  # another annotator took the same slot between our read and write: look again
        if outcome is _FULL:
            continue  # the chain we waited for filled up meanwhile; the next query no longer offers it
        if outcome is not None and outcome.created_now:
            transaction.on_commit(lambda: broadcast_project_event(project.pk, "assignment.claimed", {}))
        return outcome.assignment if outcome else None
    raise Conflict("The queue is busy; try again in a moment.")


@dataclass
class _Claimed:
    assignment: Assignment
    created_now: bool


_FULL = object()


def _claim(project: Project, user):
    mine = Assignment.objects.filter(chain__project=project, annotator=user, status__in=OPEN_STATUSES)
    current = mine.order_by("created_at").first()
    if current is not None:
        return _Claimed(current, False)
    held = (Assignment.objects.filter(chain=OuterRef("pk"), slot__isnull=False).order_by()
            .values("chain").annotate(n=Count("id")).values("n"))
    candidates = (
        Chain.objects.filter(project=project)
        .exclude(assignments__annotator=user)
        .annotate(held=Coalesce(Subquery(held, output_field=IntegerField()), Value(0)))
        .filter(held__lt=project.overlap_k)
        # Chains already started first: k passes over one chain finish sooner, and review can begin.
        .order_by("-held", "id")
    )
    # Lock one chain row: a second claimer of the same chain waits the few milliseconds until the
    # first commits, then counts the slots again (a fresh statement sees the first one's row). One
    # row per transaction, so two claimers never hold locks the other wants.
    chain = candidates.select_for_update(of=("self",)).first()
    if chain is None:
        return None
    taken = set(Assignment.objects.filter(chain=chain, slot__isnull=False).values_list("slot", flat=True))
    free = [slot for slot in range(project.overlap_k) if slot not in taken]
    if not free:
        return _FULL
    return _Claimed(Assignment.objects.create(chain=chain, annotator=user, slot=free[0]), True)


def _check_open(assignment: Assignment, version: int | None) -> None:
    if assignment.status not in OPEN_STATUSES:
        raise Conflict(f"This assignment is {assignment.get_status_display().lower()}; it can no longer be changed.")
    if version is not None and version != assignment.version:
        raise Conflict("These labels changed in another tab or window since this page loaded; reload to continue.",
                       field="version")


def _validate_labels(project: Project, steps: dict[int, Step], labels: list[LabelInput]) -> None:
    allowed = project.ratings
    seen = set()
    for i, label in enumerate(labels):
        where = f"labels[{i}]"
        if label.step not in steps:
            raise ValidationFailed(f"step {label.step} is not a step of this chain (0 to {len(steps) - 1}).",
                                   field=f"{where}.step")
        if label.step in seen:
            raise ValidationFailed(f"step {label.step} is labelled twice in one request.", field=f"{where}.step")
        seen.add(label.step)
        if label.rating is not None and label.rating not in allowed:
            raise ValidationFailed(f"rating {label.rating} is not on this project's scale ({', '.join(map(str, allowed))}).",
                                   field=f"{where}.rating")
        for name in ("rationale", "correction"):
            if len(getattr(label, name)) > MAX_TEXT:
                raise ValidationFailed(f"{name} is longer than {MAX_TEXT} characters.", field=f"{where}.{name}")


def _write_labels(assignment: Assignment, steps: dict[int, Step], labels: list[LabelInput]) -> None:
    existing = {lb.step_id: lb for lb in assignment.labels.all()}
    for label in labels:
        step = steps[label.step]
        row = existing.get(step.pk)
        values = {"rating": label.rating, "rationale": label.rationale, "correction": label.correction,
                  "flagged": label.flagged}
        if row is None:
            StepLabel.objects.create(assignment=assignment, step=step, **values)
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.save(update_fields=[*values, "updated_at"])


def _steps_of(assignment: Assignment) -> dict[int, Step]:
    return {s.index: s for s in Step.objects.filter(chain_id=assignment.chain_id, version=1)}


def _bump(assignment: Assignment, *, version: int, active_seconds: int | None, **changes) -> Assignment:
    """Conditional update on the version read: a write that lost a race changes nothing."""
    fields = {"version": F("version") + 1, **changes}
    if active_seconds is not None:
        fields["active_seconds"] = max(active_seconds, assignment.active_seconds)
    updated = Assignment.objects.filter(pk=assignment.pk, version=version).update(**fields)
    if updated != 1:
        raise Conflict("These labels changed in another tab or window since this page loaded; reload to continue.",
                       field="version")
    assignment.refresh_from_db()
    return assignment


def assignment_labels_save(*, assignment: Assignment, user, labels: list[LabelInput], version: int,
                           active_seconds: int | None = None) -> Assignment:
    """Autosave: upsert some of the assignment's step labels; returns the assignment with its new version."""
    _owned(assignment, user)
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
        _check_open(assignment, version)
        steps = _steps_of(assignment)
        _validate_labels(assignment.chain.project, steps, labels)
        _write_labels(assignment, steps, labels)
        changes = {}
        if assignment.status == AssignmentStatus.ASSIGNED:
            changes = {"status": AssignmentStatus.IN_PROGRESS, "started_at": timezone.now()}
        return _bump(assignment, version=version, active_seconds=active_seconds, **changes)


def assignment_submit(*, assignment: Assignment, user, finish_reason: str, version: int,
                      labels: list[LabelInput] | None = None, comment: str = "",
                      active_seconds: int | None = None) -> Assignment:
    """Submit the assignment's labels with a finish reason. Submitting twice is harmless (idempotent)."""
    _owned(assignment, user)
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if assignment.status == AssignmentStatus.SUBMITTED:
            return assignment  # a retried submit (double click, lost response): already done
        _check_open(assignment, version)
        if finish_reason not in FinishReason.values:
            raise ValidationFailed(f"'{finish_reason}' is not a finish reason; use one of {', '.join(FinishReason.values)}.",
                                   field="finish_reason")
        if len(comment) > MAX_TEXT:
            raise ValidationFailed(f"comment is longer than {MAX_TEXT} characters.", field="comment")
        steps = _steps_of(assignment)
        if labels:
            _validate_labels(assignment.chain.project, steps, labels)
            _write_labels(assignment, steps, labels)
        ratings = dict(assignment.labels.filter(rating__isnull=False).values_list("step__index", "rating"))
        first_error = min((i for i, r in ratings.items() if r == -1), default=None)
        if finish_reason == FinishReason.FOUND_ERROR and first_error is None:
            raise ValidationFailed("'Found an error' needs a step rated −1: rate the first wrong step −1.",
                                   field="finish_reason")
        if finish_reason == FinishReason.SOLUTION:
            unrated = [i for i in sorted(steps) if i not in ratings]
            if unrated:
                shown = ", ".join(str(i + 1) for i in unrated[:10])
                raise ValidationFailed(f"'Solution' needs every step rated; step(s) {shown} have no rating.",
                                       field="labels")
            if first_error is not None:
                raise ValidationFailed(f"Step {first_error + 1} is rated −1: choose 'Found an error', not 'Solution'.",
                                       field="finish_reason")
        Annotation.objects.create(assignment=assignment, finish_reason=finish_reason, comment=comment,
                                  first_error_step=first_error if finish_reason == FinishReason.FOUND_ERROR else None)
        assignment = _bump(assignment, version=version, active_seconds=active_seconds,
                           status=AssignmentStatus.SUBMITTED, submitted_at=timezone.now(),
                           started_at=Coalesce(F("started_at"), Value(timezone.now())))
        project_id = assignment.chain.project_id
        transaction.on_commit(lambda: broadcast_project_event(project_id, "assignment.submitted",
                                                              {"assignment": assignment.pk}))
    return assignment


def assignment_skip(*, assignment: Assignment, user) -> Assignment:
    """Give the chain back: its overlap slot is freed for another annotator; the user will not get it again."""
    _owned(assignment, user)
    with transaction.atomic():
        updated = Assignment.objects.filter(pk=assignment.pk, status__in=OPEN_STATUSES).update(
            status=AssignmentStatus.SKIPPED, slot=None, version=F("version") + 1)
        if updated != 1:
            raise Conflict("This assignment is no longer open; it cannot be skipped.")
    assignment.refresh_from_db()
    return assignment


def _owned(assignment: Assignment, user) -> None:
    if assignment.annotator_id != user.pk:
        raise NotFound("No such assignment.")

