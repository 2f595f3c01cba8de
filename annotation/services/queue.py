"""The assignment queue: claiming the next chain, expiring stale claims, releasing a removed member's work.

Invariants and what keeps them under concurrency:
- at most k annotator slots per chain (or `Chain.slot_limit`, when quality control escalated the chain to
  more annotators): the unique (chain, slot) constraint with slot numbers below the limit, the limit read
  under the chain's row lock and never lowered; `Chain.held_slots` counts them and is changed only under
  the chain's row lock (a claim's `FOR UPDATE`, or the `UPDATE` itself);
- one open assignment per annotator and project: the partial unique (project, annotator) constraint;
  a claim that loses that race retries and returns the assignment that won;
- a claim never waits for another claimer: `FOR NO KEY UPDATE SKIP LOCKED` on one chain row, found through
  the (project, -held_slots, id) index, so 50 annotators claiming at once take 50 different chains.
"""

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
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
from ..selectors import screening_score

CLAIM_ROLES = (Role.ANNOTATOR, Role.ADMIN)
EXPIRE_BATCH = 1000


class _Busy(Exception):
    """Chains with free slots exist but other claimers hold them all right now; claim again shortly."""


class _Recount(Exception):
    """A chain's slot count disagrees with its slots; correct the counts and claim again."""


class _LookAgain(Exception):
    """What the look saw changed before the claim used it (the open assignment was closed, the chain deleted)."""


@dataclass
class _Claimed:
    assignment: Assignment
    created_now: bool


def assignment_claim_next(*, project: Project, user) -> Assignment | None:
    """The user's open assignment in `project`, else a newly claimed chain, else None (queue empty).

    Stale claims of the project are expired first, so an abandoned chain comes back to the queue.
    A share `project.gold_share` of new claims is served from gold and planted-error chains (each
    annotator sees each at most once; they hold no overlap slot), when any is left for the user.

    Two statements in the common case (11 queries before; docs/benchmarks.md, bench/claims.py --serial): one
    look at what the user and the project hold (`_look`), then on PostgreSQL one statement that locks the next
    chain, takes its slot and writes the assignment (`_take_next`); the rarer cases (an open assignment, a
    screening chain, stale claims, the gold share, the screening gate) cost queries only when they apply.
    """
    if not user.is_authenticated:
        raise NotFound("You are not a member of this project.")
    look = _look(project, user)
    role = Role.ADMIN if user.is_superuser else look.role
    if role is None:
        raise NotFound("You are not a member of this project.")
    if role not in CLAIM_ROLES:
        raise PermissionDenied("Only the project's annotators (and admins) take chains from its queue; "
                               "ask a project admin for the annotator role.")
    if project.archived_at is not None:
        raise Conflict(f"Project '{project.slug}' is archived: it gives out no more chains.", field="project")
    if (role == Role.ANNOTATOR and project.screening_pass_mark > 0
            and look.screening_status not in (ScreeningStatus.PASSED, ScreeningStatus.WAIVED)):
        _screening_gate(project, user)
    if look.stale:
        assignments_expire(project=project, now=look.now)
        look = None
    for attempt in range(30):
        look = look or _look(project, user)
        try:
            outcome = _claim(project, user, look)
        except _Busy:
            time.sleep(0.002 * (attempt + 1))  # they commit within milliseconds
            look = None
            continue
        except _Recount:
            with transaction.atomic():
                _recount_chains(project)
            look = None
            continue
        except (IntegrityError, _LookAgain):
            # Another claim of this user won (one open assignment per project), or an overlap slot was
            # taken between our read and write: look again; the next pass finds what won.
            look = None
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


@dataclass
class _Look:
    now: datetime
    role: str | None
    screening_status: str | None
    open_id: int | None  # the user's open assignment in the project
    stale: bool  # an open assignment of the project is past its expiry time
    screening_id: int | None  # the first screening chain the user has not had


# Raw SQL on the claim's path: with the ORM a claim cost 19 ms of Python CPU (cProfile, 200 claims at 100,000
# chains; most of it building and compiling its 11 querysets) for 0.4 ms of PostgreSQL execution; with these
# statements, 3.3 ms. Table and column names are the models' (annotation/models.py); values are always
# parameters, the f-strings only join these fixed fragments (so S608 is off for this file). The statements run
# on SQLite as they are, except the one-statement claim and the lock clause (PostgreSQL only).
_NOT_MINE = "NOT EXISTS (SELECT 1 FROM annotation_assignment m WHERE m.chain_id = c.id AND m.annotator_id = %s)"
_OPEN = "status IN (%s, %s)"

_LOOK_SQL = f"""
SELECT ms.role, ms.screening_status,
  (SELECT a.id FROM annotation_assignment a
    WHERE a.project_id = %s AND a.annotator_id = %s AND a.{_OPEN} ORDER BY a.created_at LIMIT 1),
  EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.project_id = %s AND a.{_OPEN} AND a.expires_at < %s),
  (SELECT c.id FROM annotation_chain c WHERE c.project_id = %s AND c.is_screening AND {_NOT_MINE} ORDER BY c.id LIMIT 1)
FROM (SELECT 1 AS one) one LEFT JOIN annotation_membership ms ON ms.project_id = %s AND ms.user_id = %s
"""


def _look(project: Project, user) -> _Look:
    """One round trip for what every claim must know first: the user's role (and screening standing), their
    open assignment, whether any claim of the project went stale, and a screening chain left for them
    (the partial indexes on open expiry and on screening chains make the last two a few index entries)."""
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_LOOK_SQL, [project.pk, user.pk, *OPEN_STATUSES, project.pk, *OPEN_STATUSES, at, project.pk,
                                   user.pk, project.pk, user.pk])
        role, screening_status, open_id, stale, screening_id = cursor.fetchone()
    return _Look(now, role, screening_status, open_id, bool(stale), screening_id)


def _claim(project: Project, user, look: _Look) -> _Claimed | None:
    if look.open_id is not None:
        current = Assignment.objects.filter(pk=look.open_id, status__in=OPEN_STATUSES).first()
        if current is None:
            raise _LookAgain
        return _Claimed(current, False)
    # Quality control (review/): every annotator passes the screening chains before real work. They hold
    # no overlap slot: each annotator gets each of them, however many did before.
    if look.screening_id is not None:
        return _Claimed(_insert(project, user, look.screening_id, slot=None, now=look.now), True)
    gold = None
    if project.gold_share > 0:
        # Gold and planted-error chains come at the project's share of each annotator's claims, spread
        # through the queue (the first claim, then whenever the share fell below it), looking like any
        # other chain; each annotator sees each at most once and they hold no overlap slot.
        not_mine = ~Exists(Assignment.objects.filter(chain=OuterRef("pk"), annotator=user))
        gold = (Chain.objects.filter(_gold_q(), not_mine, project=project, is_screening=False).order_by("id")
                .values_list("id", flat=True).first())
        if gold is not None:
            counts = Assignment.objects.filter(project=project, annotator=user).aggregate(
                total=Count("id"), gold=Count("id", filter=_gold_q("chain__")))
            if counts["gold"] < project.gold_share * (counts["total"] + 1):
                return _Claimed(_insert(project, user, gold, slot=None, now=look.now), True)
    assignment = _take_next(project, user, look.now)
    if assignment is None:
        # The regular queue is done: what gold is left still measures this annotator.
        return _Claimed(_insert(project, user, gold, slot=None, now=look.now), True) if gold is not None else None
    return _Claimed(assignment, True)


def _candidates(project: Project, user, *, lock: bool) -> tuple[str, list]:
    """The CTEs `q0`, `q1`, ... and `pick` (the next chain for the user: id, revision, slot_limit), per the
    project's order. Chains already started come first (k passes over a chain finish sooner, and review can
    begin). With `lock`, each part takes the row `FOR NO KEY UPDATE SKIP LOCKED`: a chain another claimer
    holds is passed over, never waited for. NO KEY: claimers exclude each other (and the services that change
    held_slots, an UPDATE), while inserts that merely point at the chain (a screening or gold assignment's
    foreign key) are not blocked."""
    mine = [user.pk]
    base = f"c.project_id = %s AND NOT c.is_screening AND {_NOT_MINE}"
    if project.gold_share > 0:
        base += " AND NOT c.is_gold AND c.planted IS NULL"  # served by the gold draw only
    free = f"{base} AND c.held_slots < %s"
    k = project.overlap_k
    # Escalated chains come first in every order: their review waits for exactly these passes. The partial
    # index chain_escalated_free_idx holds only chains with such a free slot, so this look is a few entries.
    parts: list[tuple[str, str, list]] = [(f"{base} AND c.slot_limit > c.held_slots", "c.id", [project.pk, *mine])]
    ctes = ""
    if project.assignment_order == AssignmentOrder.PRIORITY:
        parts.append((free, "c.priority DESC, c.held_slots DESC, c.id", [project.pk, *mine, k]))
    elif project.assignment_order == AssignmentOrder.IN_ORDER:
        parts.append((free, "c.held_slots DESC, c.id", [project.pk, *mine, k]))
    else:
        # Random: started chains first, then from a random id on (then wrapping around), through the index;
        # uniform enough for spreading annotators over a project without a full sort of its chains.
        parts.append((f"{free} AND c.held_slots > 0", "c.held_slots DESC, c.id", [project.pk, *mine, k]))
        fresh = f"{free} AND c.held_slots = 0 AND c.id"
        parts.append((f"{fresh} >= (SELECT pivot FROM bounds)", "c.id", [project.pk, *mine, k]))
        parts.append((f"{fresh} < (SELECT pivot FROM bounds)", "c.id", [project.pk, *mine, k]))
        draw = ("floor(random() * (hi - lo + 1))::bigint" if connection.vendor == "postgresql"
                else "abs(random()) %% (hi - lo + 1)")  # %% : a literal % beside parameters
        ctes = (f"bounds AS MATERIALIZED (SELECT lo + {draw} AS pivot FROM (SELECT min(id) AS lo, max(id) AS hi "
                "FROM annotation_chain WHERE project_id = %s) b), ")
    params = [project.pk] if ctes else []
    clause = " FOR NO KEY UPDATE OF c SKIP LOCKED" if lock else ""
    for n, (where, order, values) in enumerate(parts):
        ctes += (f"q{n} AS (SELECT c.id, c.revision, c.slot_limit FROM annotation_chain c WHERE {where} "
                 f"ORDER BY {order} LIMIT 1{clause}), ")
        params += values
    # In order of the parts; the LIMIT stops at the first that yields a row, so later parts never run (nor lock).
    ctes += "pick AS (" + " UNION ALL ".join(f"SELECT * FROM q{n}" for n in range(len(parts))) + " LIMIT 1)"
    return ctes, params


_COLUMNS = [f for f in Assignment._meta.concrete_fields if not f.primary_key]
_FROM_SQL = {"chain_id", "revision", "slot"}  # filled in by the statement; every other column from the model


def _row(project: Project, user, now) -> tuple[Assignment, list[str], list]:
    """A new assignment as the model builds it (defaults, expiry, guideline version): the instance, its
    columns, and the values of those not taken from the chain in SQL."""
    timeout = project.claim_timeout_minutes
    assignment = Assignment(project=project, annotator=user, guideline_version=project.guideline_version,
                            expires_at=now + timedelta(minutes=timeout) if timeout else None, created_at=now)
    names = [f.column for f in _COLUMNS]
    values = [f.get_db_prep_save(getattr(assignment, f.attname), connection) for f in _COLUMNS
              if f.attname not in _FROM_SQL]
    return assignment, names, values


def _select_list(names: list[str], chain: str, slot: str) -> str:
    sources = {"chain_id": f"{chain}.id", "revision": f"{chain}.revision", "slot": slot}
    return ", ".join(sources.get(name, "%s") for name in names)


def _made(assignment: Assignment, pk: int, chain_id: int, revision: int, slot: int | None) -> Assignment:
    assignment.pk, assignment.chain_id, assignment.revision, assignment.slot = pk, chain_id, revision, slot
    assignment._state.adding, assignment._state.db = False, connection.alias
    return assignment


def _insert(project: Project, user, chain_id: int, *, slot: int | None, now) -> Assignment:
    """Write the user's assignment on `chain_id` (its current revision) holding `slot` (None: no overlap slot)."""
    assignment, names, values = _row(project, user, now)
    sql = (f"INSERT INTO annotation_assignment ({', '.join(names)}) SELECT {_select_list(names, 'c', '%s')} "
           "FROM annotation_chain c WHERE c.id = %s RETURNING id, chain_id, revision, slot")
    ordered = iter(values)
    params = [slot if name == "slot" else next(ordered) for name in names if name not in ("chain_id", "revision")]
    with _statement() as cursor:
        cursor.execute(sql, [*params, chain_id])
        row = cursor.fetchone()
    if row is None:
        raise _LookAgain  # the chain was deleted since the look
    return _made(assignment, *row)


@contextmanager
def _statement():
    """A cursor for one writing statement: inside the caller's transaction, under a savepoint (a claim that loses
    a race must not break the caller's transaction); outside any, in autocommit, where the statement is its own
    transaction (no BEGIN and COMMIT round trips)."""
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            yield cursor
    else:
        with connection.cursor() as cursor:
            yield cursor


def _take_next(project: Project, user, now) -> Assignment | None:
    """Lock the next chain with a free slot that the user has not had, take its first free slot and write the
    assignment; None when no chain is left for the user."""
    ctes, params = _candidates(project, user, lock=connection.vendor == "postgresql")
    if connection.vendor != "postgresql":
        return _take_next_in_steps(project, user, now, ctes, params)
    assignment, names, values = _row(project, user, now)
    # One statement, its own transaction in autocommit: the lock (q*), the first slot of the chain not held
    # (below max(k, slot_limit), read under that lock), the counter and the row. Its snapshot is taken before
    # the lock, so a slot that another claim of this chain took in between is not seen: the unique
    # (chain, slot) constraint refuses the row, and the caller looks again.
    sql = (f"WITH {ctes}, "
           "slot AS (SELECT pick.id, pick.revision, (SELECT min(s) FROM generate_series(0, "
           "GREATEST(%s, COALESCE(pick.slot_limit, 0)) - 1) AS s WHERE NOT EXISTS (SELECT 1 FROM "
           "annotation_assignment t WHERE t.chain_id = pick.id AND t.slot = s)) AS slot FROM pick), "
           "held AS (UPDATE annotation_chain c SET held_slots = c.held_slots + 1 FROM slot "
           "WHERE c.id = slot.id AND slot.slot IS NOT NULL), "
           f"made AS (INSERT INTO annotation_assignment ({', '.join(names)}) "
           f"SELECT {_select_list(names, 'slot', 'slot.slot')} FROM slot WHERE slot.slot IS NOT NULL "
           "RETURNING id, chain_id, revision, slot) "
           "SELECT slot.id, made.id, made.chain_id, made.revision, made.slot FROM slot LEFT JOIN made ON true")
    with _statement() as cursor:
        cursor.execute(sql, [*params, project.overlap_k, *values])
        row = cursor.fetchone()
    if row is None:
        _raise_if_busy(project, user)
        return None
    if row[1] is None:
        # held_slots said a slot was free but none is (a row written around the services): correct the
        # counts and look again.
        raise _Recount
    return _made(assignment, *row[1:])


def _raise_if_busy(project: Project, user) -> None:
    """Every chain left is locked by another claimer at this moment (the end of the queue): not "empty".
    Waiting for the lock could deadlock (a waiter keeps the lock of a row that no longer qualifies while it
    moves on to the next), so the caller leaves and looks again."""
    ctes, params = _candidates(project, user, lock=False)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT 1 FROM pick", params)
        if cursor.fetchone() is not None:
            raise _Busy


def _take_next_in_steps(project: Project, user, now, ctes: str, params: list) -> Assignment | None:
    """_take_next where one statement cannot lock, update and insert (SQLite: its writers take the database
    lock in turn, so the steps in one transaction see no other claimer)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {ctes} SELECT id, revision, slot_limit FROM pick", params)
            picked = cursor.fetchone()
        if picked is None:
            return None
        chain_id, _revision, slot_limit = picked
        taken = set(Assignment.objects.filter(chain_id=chain_id, slot__isnull=False).values_list("slot", flat=True))
        slot = next((s for s in range(max(project.overlap_k, slot_limit or 0)) if s not in taken), None)
        if slot is None:
            raise _Recount
        Chain.objects.filter(pk=chain_id).update(held_slots=F("held_slots") + 1)
        return _insert(project, user, chain_id, slot=slot, now=now)


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
