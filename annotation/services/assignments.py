"""Claiming chains from the queue, autosaving labels, submitting. Every write owns its transaction."""

from dataclasses import dataclass, fields
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .. import steps as step_store
from ..exceptions import Conflict, NotFound, ValidationFailed
from ..models import (
    MAX_ACTIVE_SECONDS,
    OPEN_STATUSES,
    Annotation,
    Assignment,
    AssignmentStatus,
    Chain,
    ChainRevision,
    FinishReason,
    Project,
    StepLabel,
)
from ..realtime import broadcast_project_event
from ..schema import missing_required
from ..selectors import LABEL_FIELDS, assignment_steps, assignments_of_member
from .audit import audit_record
from .queue import free_slots

MAX_TEXT = 20_000  # rationale / correction / comment
MAX_LABELS_PER_SAVE = 20_000
STALE_TAB = ("These labels were changed in another tab or window since this page loaded. Reload the page to see "
             "them; what you typed here is kept and offered again.")


class _Unset:
    """A label field the client did not send: it keeps its stored value."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = _Unset()


@dataclass(frozen=True)
class LabelInput:
    """The fields of one step's label that a save changes; the others keep their values."""

    step: int  # 0-based index in the assignment's revision
    rating: int | None | _Unset = UNSET
    unsure: bool | _Unset = UNSET
    flagged: bool | None | _Unset = UNSET
    rationale: str | _Unset = UNSET
    correction: str | _Unset = UNSET
    error_type: str | _Unset = UNSET

    def sent(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "step" and getattr(self, f.name) is not UNSET}


@dataclass(frozen=True)
class SaveResult:
    id: int
    status: str
    version: int
    active_seconds: int
    saved: int
    replayed: bool = False  # a retry of a save already stored: nothing written again

    @property
    def pk(self) -> int:
        return self.id


def _check_active_seconds(active_seconds: int | None) -> None:
    if active_seconds is not None and not 0 <= active_seconds <= MAX_ACTIVE_SECONDS:
        raise ValidationFailed(f"active_seconds must be between 0 and {MAX_ACTIVE_SECONDS:,} (30 days); it is "
                               f"{active_seconds:,}.", field="active_seconds")


def _validate_labels(schema: dict, step_count: int, labels: list[LabelInput]) -> None:
    allowed = [level["value"] for level in schema["scale"]]
    error_types = schema.get("error_types", [])
    if len(labels) > MAX_LABELS_PER_SAVE:
        raise ValidationFailed(f"at most {MAX_LABELS_PER_SAVE:,} labels per save; send them in parts.", field="labels")
    seen = set()
    for i, label in enumerate(labels):
        where = f"labels[{i}]"
        if not 0 <= label.step < step_count:
            raise ValidationFailed(f"step {label.step} is not a step of this chain (0 to {step_count - 1}).",
                                   field=f"{where}.step")
        if label.step in seen:
            raise ValidationFailed(f"step {label.step} is labelled twice in one request.", field=f"{where}.step")
        seen.add(label.step)
        if label.rating not in (UNSET, None) and label.rating not in allowed:
            raise ValidationFailed(f"rating {label.rating} is not on this project's scale "
                                   f"({', '.join(map(str, allowed))}).", field=f"{where}.rating")
        for name in ("rationale", "correction"):
            value = getattr(label, name)
            if value is not UNSET and len(value) > MAX_TEXT:
                raise ValidationFailed(f"{name} is longer than {MAX_TEXT:,} characters.", field=f"{where}.{name}")
            if value is not UNSET and "\x00" in value:
                raise ValidationFailed(f"{name} contains a NUL character (\\u0000); remove it.", field=f"{where}.{name}")
        if label.error_type not in (UNSET, "") and label.error_type not in error_types:
            raise ValidationFailed(f"error type '{label.error_type}' is not in this project's rubric "
                                   f"({', '.join(error_types) or 'empty'}).", field=f"{where}.error_type")


def _upsert(assignment_id: int, keys: list[int], labels: list[LabelInput]) -> int:
    """Write what each label sent, nothing else: one INSERT ... ON CONFLICT per set of sent fields."""
    groups: dict[tuple[str, ...], list[StepLabel]] = {}
    now = timezone.now()
    for label in labels:
        sent = label.sent()
        if not sent:
            continue
        groups.setdefault(tuple(sorted(sent)), []).append(
            StepLabel(assignment_id=assignment_id, step_key=keys[label.step], updated_at=now, **sent))
    written = 0
    for names, rows in groups.items():
        StepLabel.objects.bulk_create(rows, update_conflicts=True, unique_fields=["assignment", "step_key"],
                                      update_fields=[*names, "updated_at"])
        written += len(rows)
    return written


def _read_for_save(pk: int, user) -> dict:
    """The assignment's state for a save, its project's schema and its revision's shape: one query."""
    revision = ChainRevision.objects.filter(chain=OuterRef("chain"), number=OuterRef("revision"))
    row = (assignments_of_member(user=user).filter(pk=pk)
           .annotate(step_count=Subquery(revision.values("step_count")[:1]),
                     step_keys=Subquery(revision.values("step_keys")[:1]))
           .values("id", "status", "version", "last_save_key", "active_seconds", "chain_id", "step_count",
                   "step_keys", "chain__project__label_scale", "chain__project__label_schema",
                   "chain__project__claim_timeout_minutes").first())
    if row is None:
        raise NotFound("No such assignment among yours.")
    project = Project(label_scale=row["chain__project__label_scale"], label_schema=row["chain__project__label_schema"])
    row["schema"] = project.schema
    return row


def _closed(status: str) -> Conflict:
    label = AssignmentStatus(status).label.lower()
    return Conflict(f"This assignment is {label}; it can no longer be changed.", field="status")


def assignment_labels_save(*, assignment: Assignment | int, user, labels: list[LabelInput], version: int,
                           active_seconds: int | None = None, save_key: str = "") -> SaveResult:
    """Autosave: change the fields sent for some steps; returns the assignment's new version.

    Costs three queries whatever the chain's length (read, conditional update, upsert). A save
    retried with the `save_key` of the last stored save (its reply was lost) is answered as stored.
    """
    pk = assignment if isinstance(assignment, int) else assignment.pk
    _check_active_seconds(active_seconds)
    if len(save_key) > 64:
        raise ValidationFailed("save_key is at most 64 characters.", field="save_key")
    with transaction.atomic():
        row = _read_for_save(pk, user)
        if save_key and row["last_save_key"] == save_key:
            return SaveResult(row["id"], row["status"], row["version"], row["active_seconds"], 0, replayed=True)
        if row["status"] not in OPEN_STATUSES:
            raise _closed(row["status"])
        _validate_labels(row["schema"], row["step_count"] or 0, labels)
        changes = {"version": F("version") + 1, "last_save_key": save_key}
        if active_seconds is not None:
            changes["active_seconds"] = Greatest(F("active_seconds"), Value(active_seconds))
        if row["status"] == AssignmentStatus.ASSIGNED:
            changes.update(status=AssignmentStatus.IN_PROGRESS, started_at=timezone.now())
        if row["chain__project__claim_timeout_minutes"]:
            # A save keeps the claim alive: the expiry sweep's condition (expires_at < now) fails after it.
            changes["expires_at"] = timezone.now() + timedelta(minutes=row["chain__project__claim_timeout_minutes"])
        updated = Assignment.objects.filter(pk=pk, version=version, status__in=OPEN_STATUSES).update(**changes)
        if updated != 1:
            # Lost a race, or the page is stale, or it is a retry of a save that was still running.
            fresh = Assignment.objects.filter(pk=pk).values("status", "version", "last_save_key", "active_seconds").get()
            if save_key and fresh["last_save_key"] == save_key:
                return SaveResult(pk, fresh["status"], fresh["version"], fresh["active_seconds"], 0, replayed=True)
            if fresh["status"] not in OPEN_STATUSES:
                raise _closed(fresh["status"])
            raise Conflict(STALE_TAB, field="version")
        keys = step_store.unpack_keys(row["step_keys"], row["step_count"] or 0)
        saved = _upsert(pk, keys, labels)
    status = AssignmentStatus.IN_PROGRESS if row["status"] == AssignmentStatus.ASSIGNED else row["status"]
    seconds = max(row["active_seconds"], active_seconds or 0)
    return SaveResult(pk, status, version + 1, seconds, saved)


def assignment_submit(*, assignment: Assignment | SaveResult | int, user, finish_reason: str, version: int,
                      labels: list[LabelInput] | None = None, comment: str = "",
                      active_seconds: int | None = None, save_key: str = "") -> Assignment:
    """Submit the assignment's labels with a finish reason. Submitting twice is harmless (idempotent)."""
    pk = assignment if isinstance(assignment, int) else assignment.pk
    _check_active_seconds(active_seconds)
    with transaction.atomic():
        # NO KEY UPDATE: serializes submits and saves of this assignment, blocks no insert that points at it.
        assignment = (assignments_of_member(user=user).select_for_update(no_key=True, of=("self",))
                      .select_related("chain__project").filter(pk=pk).first())
        if assignment is None:
            raise NotFound("No such assignment among yours.")
        project = assignment.chain.project
        schema = project.schema
        if assignment.status == AssignmentStatus.SUBMITTED:
            return assignment  # a retried submit (double click, lost response): already done
        if assignment.status not in OPEN_STATUSES:
            raise _closed(assignment.status)
        if version != assignment.version and not (save_key and save_key == assignment.last_save_key):
            raise Conflict(STALE_TAB, field="version")
        if finish_reason not in schema["finish_reasons"]:
            raise ValidationFailed(f"'{finish_reason}' is not a finish reason of this project; use one of "
                                   f"{', '.join(schema['finish_reasons'])}.", field="finish_reason")
        if len(comment) > MAX_TEXT:
            raise ValidationFailed(f"comment is longer than {MAX_TEXT:,} characters.", field="comment")
        steps = assignment_steps(assignment=assignment)
        if labels:
            _validate_labels(schema, len(steps), labels)
            _upsert(assignment.pk, steps.keys, labels)
        position = steps.index_of()
        stored = {position[row["step_key"]]: row for row in
                  StepLabel.objects.filter(assignment=assignment).values("step_key", *LABEL_FIELDS)
                  if row["step_key"] in position}
        ratings = {i: row["rating"] for i, row in stored.items() if row["rating"] is not None}
        lowest = schema["scale"][0]["value"]
        first_error = min((i for i, r in ratings.items() if r == lowest), default=None)
        _check_finish(schema, finish_reason, first_error, ratings, len(steps))
        _check_required(schema, stored, first_error)
        Annotation.objects.create(
            assignment=assignment, finish_reason=finish_reason, comment=comment,
            first_error_key=steps.keys[first_error] if finish_reason == FinishReason.FOUND_ERROR else None)
        now = timezone.now()
        Assignment.objects.filter(pk=assignment.pk).update(
            version=F("version") + 1, status=AssignmentStatus.SUBMITTED, submitted_at=now,
            started_at=Coalesce(F("started_at"), Value(now)),
            active_seconds=Greatest(F("active_seconds"), Value(active_seconds or 0)))
        assignment.refresh_from_db()
        audit_record(action="assignment.submitted", actor=user, project=project, obj=assignment,
                     detail={"chain": assignment.chain_id, "revision": assignment.revision,
                             "finish_reason": finish_reason, "labels": len(stored), "version": assignment.version})
        project_id = project.pk
        transaction.on_commit(lambda: broadcast_project_event(project_id, "assignment.submitted",
                                                              {"assignment": assignment.pk}))
    return assignment


def rating_shown(value: int) -> str:
    """A rating as the page shows it: −1, 0, +1 (a real minus sign)."""
    return f"{value:+d}".replace("-", "−") if value else "0"


def _check_finish(schema: dict, finish_reason: str, first_error: int | None, ratings: dict, step_count: int) -> None:
    lowest = schema["scale"][0]
    if finish_reason == FinishReason.FOUND_ERROR and first_error is None:
        raise ValidationFailed(f"'Found an error' needs a step rated {rating_shown(lowest['value'])} ({lowest['name']}): "
                               "rate the first wrong step.", field="finish_reason")
    if finish_reason == FinishReason.SOLUTION:
        if first_error is not None:
            raise ValidationFailed(f"Step {first_error + 1} is rated {rating_shown(lowest['value'])}: choose 'Found an "
                                   "error', not 'Solution'.", field="finish_reason")
        unrated = [i for i in range(step_count) if i not in ratings]
        if unrated:
            shown = ", ".join(str(i + 1) for i in unrated[:10]) + (" …" if len(unrated) > 10 else "")
            raise ValidationFailed(f"'Solution' needs every step rated; {len(unrated)} step(s) have no rating: {shown}.",
                                   field="labels")
    if finish_reason == FinishReason.FOUND_ERROR and schema["mode"] == "full":
        unrated = [i for i in range(step_count) if i not in ratings]
        if unrated:
            shown = ", ".join(str(i + 1) for i in unrated[:10]) + (" …" if len(unrated) > 10 else "")
            raise ValidationFailed(f"This project rates every step (full mode); {len(unrated)} step(s) have no rating: "
                                   f"{shown}.", field="labels")


def _check_required(schema: dict, stored: dict[int, dict], first_error: int | None) -> None:
    problems = []
    for index in sorted(stored):
        if schema["mode"] == "first_error" and first_error is not None and index > first_error:
            continue  # past the first error nothing is labelled in first-error mode
        row = stored[index]
        missing = missing_required(schema, rating=row["rating"], rationale=row["rationale"],
                                   correction=row["correction"], error_type=row["error_type"])
        if missing:
            problems.append(f"step {index + 1} needs {' and '.join(m.replace('_', ' ') for m in missing)}")
    if problems:
        raise ValidationFailed("; ".join(problems[:10]) + (" …" if len(problems) > 10 else "") + ".", field="labels")


def assignment_skip(*, assignment: Assignment | SaveResult, user, reason: str = "") -> Assignment:
    """Give the chain back: its overlap slot is freed for another annotator; the user will not get it again.
    Skipping twice is harmless (idempotent), as submitting is."""
    if len(reason) > 2000:
        raise ValidationFailed("the reason is at most 2,000 characters.", field="reason")
    with transaction.atomic():
        # NO KEY UPDATE on the assignment: its slot is read and freed by this transaction alone.
        held = (assignments_of_member(user=user).filter(pk=assignment.pk, status__in=OPEN_STATUSES)
                .select_for_update(no_key=True, of=("self",)).values("chain_id", "slot").first())
        updated = 0
        if held is not None:
            updated = Assignment.objects.filter(pk=assignment.pk, status__in=OPEN_STATUSES).update(
                status=AssignmentStatus.SKIPPED, slot=None, version=F("version") + 1, skip_reason=reason)
        if updated == 1 and held["slot"] is not None:
            free_slots([held["chain_id"]])
        if updated != 1:
            now = assignments_of_member(user=user).filter(pk=assignment.pk).values("status").first()
            if now is None:
                raise NotFound("No such assignment among yours.")
            if now["status"] != AssignmentStatus.SKIPPED:
                raise Conflict("This assignment is no longer open; it cannot be skipped.")
            # else a retried skip (its reply was lost in a crash): already done, answered as done
    return Assignment.objects.get(pk=assignment.pk)


REOPEN_REFUSED = ("This chain can no longer be reopened: only a chain you submitted can be, and only until it is "
                  "reviewed.")
REOPEN_HELD = ("You have assignment {held} open in this project, and only one chain can be open at a time: "
               "submit or skip it, then reopen this one.")


REOPEN_ADJUDICATED = ("A reviewer has already set final labels on this chain, so your submitted pass can no longer be "
                      "reopened: it is part of the record the reviewer decided on. Tell a reviewer of the project "
                      "what you would change.")


def _chain_adjudicated_at(chain_id: int):
    """The chain's adjudicated_at, read under FOR SHARE (the ORM has no FOR SHARE; SQLite has no row locks)."""
    if connection.vendor != "postgresql":
        return Chain.objects.filter(pk=chain_id).values_list("adjudicated_at", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT adjudicated_at FROM {Chain._meta.db_table} WHERE id = %s FOR SHARE",  # noqa: S608
                       [chain_id])
        found = cursor.fetchone()
    return found[0] if found else None


def assignment_reopen(*, assignment: Assignment | int, user) -> Assignment:
    """Give a submitted chain back to its annotator to change it: status in progress again, its outcome
    (finish reason, first error, comment) removed until the next submit. Its labels stay as they are.

    Only the annotator, only while the assignment is submitted and no reviewer has set final labels on the
    chain (`Chain.adjudicated_at`, written by review/ with the decision), and only if the project's schema
    allows it (`allow_reopen`, default true). Returns the assignment; its former outcome is on
    `assignment.reopened_from` ({finish_reason, comment}) so the page can offer the comment again.
    """
    pk = assignment if isinstance(assignment, int) else assignment.pk
    with transaction.atomic():
        # NO KEY UPDATE, as in submit: serializes with a submit or save of this assignment.
        row = (assignments_of_member(user=user).select_for_update(no_key=True, of=("self",))
               .select_related("chain__project").filter(pk=pk).first())
        if row is None:
            raise NotFound("No such assignment among yours.")
        project = row.chain.project
        if not project.schema.get("allow_reopen", True):
            raise Conflict("This project does not let annotators reopen submitted chains; ask its admin.",
                           field="status")
        if row.status != AssignmentStatus.SUBMITTED:
            raise Conflict(REOPEN_REFUSED, field="status")
        # FOR SHARE on the chain: conflicts with the NO KEY UPDATE lock a reviewer's decision holds on it
        # (review/adjudication.py), so a reopen and an adjudication of the chain serialize: this one either
        # sees the final labels' time and refuses, or commits first.
        if _chain_adjudicated_at(row.chain_id) is not None:
            raise Conflict(REOPEN_ADJUDICATED, field="status")
        # One open assignment per annotator and project (a constraint): reopening while another chain is
        # open would break it, so say which one to finish first.
        held = (Assignment.objects.filter(project_id=project.pk, annotator=user, status__in=OPEN_STATUSES)
                .exclude(pk=pk).values_list("pk", flat=True).first())
        if held is not None:
            raise Conflict(REOPEN_HELD.format(held=held), field="status")
        outcome = Annotation.objects.filter(assignment=row).values("finish_reason", "comment").first() or {}
        Annotation.objects.filter(assignment=row).delete()
        try:
            with transaction.atomic():  # a chain claimed meanwhile in another tab: the constraint decides
                Assignment.objects.filter(pk=pk, status=AssignmentStatus.SUBMITTED).update(
                    status=AssignmentStatus.IN_PROGRESS, submitted_at=None, version=F("version") + 1)
        except IntegrityError:
            raise Conflict(REOPEN_HELD.format(held="another"), field="status") from None
        row.refresh_from_db()
        project_id = project.pk
        transaction.on_commit(lambda: broadcast_project_event(project_id, "assignment.reopened", {"assignment": pk}))
    row.reopened_from = outcome
    return row
