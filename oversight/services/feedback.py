"""What people do with assistance: the arm an assignment is drawn into, ratings of critiques and checks,
a person's verdict on a debate, and the project's oversight policy."""

import secrets

from django.db import IntegrityError, transaction

from annotation.exceptions import PermissionDenied, ValidationFailed
from annotation.models import Assignment, Project

from ..models import (
    Arm,
    AssignmentArm,
    AssistanceRating,
    Critique,
    DebateVerdict,
    ModelBackend,
    OversightPolicy,
    OversightRun,
    PassKind,
    SymbolicCheck,
    Trigger,
    Usefulness,
)
from ..outputs import verdict_out
from ..realtime import broadcast_chain_event

_random = secrets.SystemRandom()


def arm_draw(*, assignment: Assignment) -> AssignmentArm:
    """The assignment's arm: drawn once at random with the project's assisted share, then stored for good.

    A project without an oversight policy has no assistance: its assignments are unassisted (share 0).
    """
    existing = AssignmentArm.objects.filter(assignment=assignment).first()
    if existing is not None:
        return existing
    policy = OversightPolicy.objects.filter(project_id=assignment.chain.project_id).first()
    share = policy.assisted_share if policy and policy.passes else 0.0
    arm = Arm.ASSISTED if _random.random() < share else Arm.UNASSISTED
    try:
        with transaction.atomic():
            return AssignmentArm.objects.create(assignment=assignment, arm=arm, share=share)
    except IntegrityError:  # drawn at the same moment by another request: that draw stands
        return AssignmentArm.objects.get(assignment=assignment)


def assistance_rate(*, assignment: Assignment, user, critique: Critique | None = None,
                    check: SymbolicCheck | None = None, rating: str | None = None,
                    dismissed: bool | None = None) -> AssistanceRating:
    """Record the annotator's rating (helpful / nitpick / wrong, or "" to clear) and/or dismissal. Only what is sent
    changes."""
    if assignment.annotator_id != user.pk:
        raise PermissionDenied("Only the assignment's annotator rates its assistance.")
    if (critique is None) == (check is None):
        raise ValidationFailed("Rate one critique or one symbolic check.", field="target")
    target_run = (critique or check).run
    if target_run.chain_id != assignment.chain_id:
        raise ValidationFailed("That result belongs to another chain than this assignment's.", field="target")
    if rating is not None and rating not in ("", *Usefulness.values):
        raise ValidationFailed(f"rating must be one of {', '.join(Usefulness.values)} (or empty to clear); "
                               f"got {rating!r}.", field="rating")
    if rating is None and dismissed is None:
        raise ValidationFailed("Send rating, dismissed or both.", field="rating")
    fields = {}
    if rating is not None:
        fields["rating"] = rating
    if dismissed is not None:
        fields["dismissed"] = bool(dismissed)
    lookup = {"critique": critique} if critique is not None else {"symbolic_check": check}
    with transaction.atomic():
        row, created = AssistanceRating.objects.get_or_create(assignment=assignment, **lookup, defaults=fields)
        if not created:
            for name, value in fields.items():
                setattr(row, name, value)
            row.save(update_fields=[*fields, "updated_at"])
    return row


def debate_judge(*, run: OversightRun, user, verdict: str, credence: float, reason: str = "") -> DebateVerdict:
    """A person's verdict on a debate (one per person; a second call replaces theirs)."""
    if run.kind != PassKind.DEBATE:
        raise ValidationFailed("Only a debate takes a verdict.", field="run")
    if verdict not in ("correct", "incorrect"):
        raise ValidationFailed(f"verdict must be correct or incorrect; got {verdict!r}.", field="verdict")
    try:
        credence = float(credence)
    except (TypeError, ValueError):
        raise ValidationFailed(f"credence must be a number from 0.5 to 1; got {credence!r}.", field="credence") from None
    if not 0.5 <= credence <= 1:
        raise ValidationFailed(f"credence must be from 0.5 (a guess) to 1 (certain); got {credence}.", field="credence")
    if len(reason) > 5000:
        raise ValidationFailed(f"reason is {len(reason)} characters; the limit is 5,000.", field="reason")
    with transaction.atomic():
        row, _ = DebateVerdict.objects.update_or_create(run=run, judge=user, defaults={
            "verdict": verdict, "credence": credence, "reason": reason})
        payload = {"run": {"id": run.pk}, "critiques": [], "turns": [], "verdicts": [verdict_out(row)]}
        transaction.on_commit(lambda: broadcast_chain_event(run.chain_id, "results", payload))
    return row


def policy_set(*, project: Project, passes: dict | None = None, assisted_share: float | None = None,
               backend_name: str | None = None, debate_rounds: int | None = None,
               debate_turn_chars: int | None = None, debate_mode: str | None = None) -> OversightPolicy:
    """Change the project's oversight settings; what is not sent keeps its value."""
    fields: dict = {}
    if passes is not None:
        if not isinstance(passes, dict):
            raise ValidationFailed('passes must be an object like {"symbolic": "on_import", "critique": "on_demand"}.',
                                   field="passes")
        for name, trigger in passes.items():
            if name not in PassKind.values:
                raise ValidationFailed(f"Unknown pass {name!r} in passes; use {', '.join(PassKind.values)}.",
                                       field="passes")
            if trigger not in Trigger.values:
                raise ValidationFailed(f"Unknown trigger {trigger!r} for {name}; use {', '.join(Trigger.values)}.",
                                       field="passes")
        fields["passes"] = passes
    if assisted_share is not None:
        if not 0 <= float(assisted_share) <= 1:
            raise ValidationFailed(f"assisted_share must be from 0 to 1; got {assisted_share}.", field="assisted_share")
        fields["assisted_share"] = float(assisted_share)
    if backend_name is not None:
        backend = ModelBackend.objects.filter(name=backend_name).first() if backend_name else None
        if backend_name and backend is None:
            raise ValidationFailed(f"No model backend named {backend_name!r}.", field="backend")
        fields["backend"] = backend
    for name, value, low, high in (("debate_rounds", debate_rounds, 1, 10),
                                   ("debate_turn_chars", debate_turn_chars, 100, 10_000)):
        if value is not None:
            if not low <= int(value) <= high:
                raise ValidationFailed(f"{name} must be from {low} to {high}; got {value}.", field=name)
            fields[name] = int(value)
    if debate_mode is not None:
        if debate_mode not in ("sequential", "simultaneous"):
            raise ValidationFailed(f"debate_mode must be sequential or simultaneous; got {debate_mode!r}.",
                                   field="debate_mode")
        fields["debate_mode"] = debate_mode
    with transaction.atomic():
        policy, created = OversightPolicy.objects.get_or_create(project=project, defaults=fields)
        if not created and fields:
            for name, value in fields.items():
                setattr(policy, name, value)
            policy.save(update_fields=[*fields, "updated_at"])
    return policy
