"""The assignment queue: claiming the next chain, expiring stale claims, releasing a removed member's work.

Invariants and what keeps them under concurrency:
- at most k annotator slots per chain (or `Chain.slot_limit`, when quality control escalated the chain to
  more annotators): the unique (chain, slot) constraint with slot numbers below the limit, the limit read
  under the chain's row lock and never lowered; `Chain.held_slots` counts them and is changed only under
  the chain's row lock (a claim's `FOR UPDATE`, or the `UPDATE` itself);
- one open assignment per annotator and project: the partial unique (project, annotator) constraint;
  a claim that loses that race retries and returns the assignment that won;
- a claim never waits for another claimer: `FOR UPDATE SKIP LOCKED` on one chain row, found through
  the (project, -held_slots, id) index, so 50 annotators claiming at once take 50 different chains.
"""

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..exceptions import Conflict, NotFound, PermissionDenied
from ..models import (
    OPEN_STATUSES,
    Assignment,
    AssignmentOrder,
    AssignmentStatus,
    Chain,
    Membership,
    Project,
    Role,
    ScreeningStatus,
)
from ..realtime import broadcast_project_event
from ..selectors import membership_role, screening_score

CLAIM_ROLES = (Role.ANNOTATOR, Role.ADMIN)
EXPIRE_BATCH = 1000


class _Busy(Exception):
    """Chains with free slots exist but other claimers hold them all right now; claim again shortly."""


class _Recount(Exception):
    """The chain's slot count was corrected; claim again."""


@dataclass
class _Claimed:
    assignment: Assignment
    created_now: bool


def assignment_claim_next(*, project: Project, user) -> Assignment | None:
    """The user's open assignment in `project`, else a newly claimed chain, else None (queue empty).

    Stale claims of the project are expired first, so an abandoned chain comes back to the queue.
    A share `project.gold_share` of new claims is served from gold and planted-error chains (each
    annotator sees each at most once; they hold no overlap slot), when any is left for the user.
    """
    role = membership_role(user=user, project=project)
    if role is None:
        raise NotFound("You are not a member of this project.")
    if role not in CLAIM_ROLES:
        raise PermissionDenied("Only the project's annotators (and admins) take chains from its queue; "
                               "ask a project admin for the annotator role.")
    if project.archived_at is not None:
        raise Conflict(f"Project '{project.slug}' is archived: it gives out no more chains.", field="project")
    if role == Role.ANNOTATOR and project.screening_pass_mark > 0:
        _screening_gate(project, user)
    now = timezone.now()
    # One indexed look (the partial index on open assignments' expiry) before paying for a sweep.
    if Assignment.objects.filter(project=project, status__in=OPEN_STATUSES, expires_at__lt=now).exists():
        assignments_expire(project=project, now=now)
    for attempt in range(30):
        try:
            with transaction.atomic():
                outcome = _claim(project, user)
        except _Busy:
            time.sleep(0.002 * (attempt + 1))  # they commit within milliseconds
            continue
        except _Recount:
            with transaction.atomic():  # keep the correction: it was rolled back with the failed claim
                _recount_chains(project)
            continue
        except IntegrityError:
            # Another claim of this user won (one open assignment per project), or an overlap slot was
            # taken between our read and write: look again; the next pass finds what won.
            continue
        if outcome is not None and outcome.created_now:
            transaction.on_commit(lambda: broadcast_project_event(project.pk, "assignment.claimed", {}))
        return outcome.assignment if outcome else None
    raise Conflict("The queue is busy; try again in a moment.")


def screening_refusal(score, pass_mark: float) -> str:
    return (f"Your screening score is {score.accuracy:.0%} ({score.correct} of {score.steps} answer-key steps rated as "
            f"the key says, over {score.submitted} screening chain(s)); this project asks for at least "
            f"{pass_mark:.0%} before real work. Ask a researcher of the project to let you retry the screening "
            "set or to let you through.")


def _screening_gate(project: Project, user) -> None:
    """Refuse real work to an annotator below the project's screening pass mark once every screening chain is done.

    Scored here, at the claim after the last screening chain (nothing else runs at that moment), and kept on
    the membership: a pass (or a researcher's waiver) is not scored again; a failure is scored at each claim,
    so a lowered pass mark or a retry counts. Written outside the claim's transaction: the refusal keeps it.
    """
    status = Membership.objects.filter(user=user, project=project).values_list("screening_status", flat=True).first()
    if status in (ScreeningStatus.PASSED, ScreeningStatus.WAIVED):
        return
    score = screening_score(project=project, user=user)
    if not score.finished:
        return  # screening chains left to do: the claim serves them first (or none exists: no gate)
    passed = score.accuracy >= project.screening_pass_mark
    Membership.objects.filter(user=user, project=project).exclude(screening_status=ScreeningStatus.WAIVED).update(
        screening_status=ScreeningStatus.PASSED if passed else ScreeningStatus.FAILED, screening_score=score.accuracy)
    if passed or _open_of(project, user).exists():
        return  # a chain claimed before the gate was set is finished as it is
    raise PermissionDenied(screening_refusal(score, project.screening_pass_mark), field="screening")


def _open_of(project: Project, user):
    return Assignment.objects.filter(project=project, annotator=user, status__in=OPEN_STATUSES)


def _gold_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}is_gold": True}) | Q(**{f"{prefix}planted__isnull": False})


def _claim(project: Project, user) -> _Claimed | None:
    current = _open_of(project, user).order_by("created_at").first()
    if current is not None:
        return _Claimed(current, False)
    not_mine = ~Exists(Assignment.objects.filter(chain=OuterRef("pk"), annotator=user))
    # Quality control (review/): every annotator passes the screening chains before real work. They hold
    # no overlap slot: each annotator gets each of them, however many did before.
    screening = (Chain.objects.filter(not_mine, project=project, is_screening=True).order_by("id")
                 .only("id", "revision").first())
    if screening is not None:
        return _Claimed(_create(project, user, screening, slot=None), True)
    gold = None
    if project.gold_share > 0:
        # Gold and planted-error chains come at the project's share of each annotator's claims, spread
        # through the queue (the first claim, then whenever the share fell below it), looking like any
        # other chain; each annotator sees each at most once and they hold no overlap slot.
        gold = (Chain.objects.filter(_gold_q(), not_mine, project=project, is_screening=False).order_by("id")
                .only("id", "revision").first())
        if gold is not None:
            counts = Assignment.objects.filter(project=project, annotator=user).aggregate(
                total=Count("id"), gold=Count("id", filter=_gold_q("chain__")))
            if counts["gold"] < project.gold_share * (counts["total"] + 1):
                return _Claimed(_create(project, user, gold, slot=None), True)
    chain = _next_chain(project, user, not_mine)
    if chain is None:
        # The regular queue is done: what gold is left still measures this annotator.
        return _Claimed(_create(project, user, gold, slot=None), True) if gold is not None else None
    # The chain row is locked: held_slots and the slots taken are what they are until we commit.
    taken = set(Assignment.objects.filter(chain=chain, slot__isnull=False).values_list("slot", flat=True))
    limit = max(project.overlap_k, chain.slot_limit or 0)
    slot = next((s for s in range(limit) if s not in taken), None)
    if slot is None:
        # held_slots said a slot was free but none is (a row written around the services): correct the
        # count under our lock and look again.
        Chain.objects.filter(pk=chain.pk).update(held_slots=len(taken))
        raise _Recount
    Chain.objects.filter(pk=chain.pk).update(held_slots=F("held_slots") + 1)
    return _Claimed(_create(project, user, chain, slot=slot), True)


def _next_chain(project: Project, user, not_mine) -> Chain | None:
    """Lock and return the next chain with a free slot that the user has not had, per the project's order.

    Chains already started come first (k passes over a chain finish sooner, and review can begin).
    SKIP LOCKED: a chain another claimer holds is passed over, never waited for.
    """
    free = Chain.objects.filter(not_mine, project=project, held_slots__lt=project.overlap_k, is_screening=False)
    # Chains quality control escalated (the annotators disagreed: more passes wanted) with a slot free past k.
    escalated = Chain.objects.filter(not_mine, project=project, slot_limit__gt=F("held_slots"), is_screening=False)
    if project.gold_share > 0:
        free = free.exclude(_gold_q())  # served by the gold draw only
        escalated = escalated.exclude(_gold_q())

    def first(qs, *order, wait_busy=True):
        ordered = qs.order_by(*order).only("id", "revision", "slot_limit")
        found = ordered.select_for_update(skip_locked=True, of=("self",)).first()
        if found is None and wait_busy and ordered.exists():
            # Every chain left is locked by another claimer at this moment (the end of the queue): not
            # "empty". Waiting for the lock here could deadlock (a waiter keeps the lock of a row that no
            # longer qualifies while it moves on to the next), so leave the transaction and look again.
            raise _Busy
        return found

    # Escalated chains come first in every order: their review waits for exactly these passes. The partial
    # index chain_escalated_free_idx holds only chains with such a free slot, so this look is a few entries.
    # One locked by another claimer is being filled by it: go on to the regular queue, never wait for it.
    wanted = first(escalated, "id", wait_busy=False)
    if wanted is not None:
        return wanted
    if project.assignment_order == AssignmentOrder.PRIORITY:
        return first(free, "-priority", "-held_slots", "id")
    if project.assignment_order == AssignmentOrder.IN_ORDER:
        return first(free, "-held_slots", "id")
    started = first(free.filter(held_slots__gt=0), "-held_slots", "id")
    if started is not None:
        return started
    # Random: from a random id on (then wrapping around), through the index; uniform enough for spreading
    # annotators over a project without a full sort of its chains.
    bounds = Chain.objects.filter(project=project).aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return None
    pivot = bounds["low"] + secrets.randbelow(bounds["high"] - bounds["low"] + 1)
    fresh = free.filter(held_slots=0)
    return first(fresh.filter(id__gte=pivot), "id") or first(fresh.filter(id__lt=pivot), "id")


def _create(project: Project, user, chain: Chain, *, slot: int | None) -> Assignment:
    timeout = project.claim_timeout_minutes
    return Assignment.objects.create(
        chain=chain, project=project, annotator=user, slot=slot, revision=chain.revision,
        guideline_version=project.guideline_version,
        expires_at=timezone.now() + timedelta(minutes=timeout) if timeout else None)


def _recount_chains(project: Project) -> None:
    held = (Assignment.objects.filter(chain=OuterRef("pk"), slot__isnull=False).order_by().values("chain")
            .annotate(n=Count("id")).values("n"))
    Chain.objects.filter(project=project).update(held_slots=Coalesce(Subquery(held), 0))


def free_slots(chain_ids: list[int]) -> None:
    """Give back one held slot per id (ids may repeat). In id order, so two callers never deadlock."""
    for chain_id, count in sorted(Counter(chain_ids).items()):
        Chain.objects.filter(pk=chain_id).update(held_slots=F("held_slots") - count)


def _close(rows: list[tuple[int, int, int | None]], status: str, reason: str) -> int:
    """Close locked open assignments (id, chain_id, slot) with `status`, freeing their slots."""
    if not rows:
        return 0
    closed = Assignment.objects.filter(pk__in=[r[0] for r in rows], status__in=OPEN_STATUSES).update(
        status=status, slot=None, version=F("version") + 1, skip_reason=reason)
    free_slots([chain_id for _, chain_id, slot in rows if slot is not None])
    return closed


def assignments_expire(*, project: Project | None = None, now=None) -> int:
    """Expire open assignments past their `expires_at` (no save for the project's claim timeout).

    Run before every claim of the project and on Celery beat. A save that lands first extends the
    time, and this update's condition then no longer holds: either the save or the expiry wins, never
    both. SKIP LOCKED: an assignment being saved right now is not stale.
    """
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        stale = Assignment.objects.filter(status__in=OPEN_STATUSES, expires_at__lt=now)
        if project is not None:
            stale = stale.filter(project=project)
        rows = list(stale.select_for_update(skip_locked=True, of=("self",))
                    .values_list("id", "chain_id", "slot")[:EXPIRE_BATCH])
        expired = _close(rows, AssignmentStatus.EXPIRED, "expired: no save within the project's claim timeout")
    if expired and project is not None:
        transaction.on_commit(lambda: broadcast_project_event(project.pk, "assignment.expired", {"count": expired}))
    return expired


def assignments_release(*, project: Project, user, reason: str) -> int:
    """Release the user's open assignments in the project at once (removed, or no longer an annotator).

    Call inside the caller's transaction (the membership change): both commit or neither.
    """
    rows = list(Assignment.objects.filter(Q(project=project) | Q(project__isnull=True, chain__project=project),
                                          annotator=user, status__in=OPEN_STATUSES)
                .select_for_update(of=("self",)).values_list("id", "chain_id", "slot"))
    return _close(rows, AssignmentStatus.RELEASED, reason)
