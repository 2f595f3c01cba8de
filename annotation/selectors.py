"""Reads, scoped to the acting user. Objects outside a user's reach raise NotFound (answered 404)."""

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from . import steps as step_store
from .chain_filters import chain_filters
from .exceptions import NotFound, PermissionDenied
from .models import (
    OPEN_STATUSES,
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Chain,
    ChainRevision,
    GuidelineVersion,
    ImportedLabelSet,
    Membership,
    Problem,
    Project,
    Role,
    StepLabel,
)

MANAGE_ROLES = (Role.RESEARCHER, Role.ADMIN)
LABEL_FIELDS = ("rating", "unsure", "flagged", "rationale", "correction", "error_type")


def membership_role(*, user, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()


def project_list_for_user(*, user) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.order_by("slug")
    return Project.objects.filter(memberships__user=user).order_by("slug").distinct()


def project_list_managed(*, user) -> QuerySet[Project]:
    """Projects the user runs (researcher or admin): the sources they may copy from."""
    if user.is_superuser:
        return Project.objects.order_by("slug")
    return Project.objects.filter(memberships__user=user, memberships__role__in=MANAGE_ROLES).order_by("slug")


def project_get_for_user(*, slug: str, user, roles: tuple[str, ...] | None = None) -> Project:
    """The project if the user is a member, else NotFound (404: outside their reach); a member without one
    of `roles` (when given) gets PermissionDenied (403: they see the project, not this action)."""
    project = Project.objects.filter(slug=slug).first()
    role = membership_role(user=user, project=project) if project else None
    if project is None or role is None:
        raise NotFound(f"No project '{slug}' that you are a member of.")
    if roles is not None and role not in roles:
        raise PermissionDenied(f"This needs one of the roles {', '.join(roles)} in project '{slug}'; you are "
                               f"{role}. Ask a project admin.")
    return project


# --- steps -------------------------------------------------------------------------------------------

def stored_revisions(*, chain_id: int, upto: int | None = None) -> list[step_store.StoredRevision]:
    """The revision rows of a chain a reader needs (up to revision `upto`), texts still packed."""
    rows = ChainRevision.objects.filter(chain_id=chain_id)
    if upto is not None:
        rows = rows.filter(number__lte=upto)
    return [step_store.StoredRevision(*row) for row in rows.order_by("number").values_list(
        "number", "step_keys", "step_count", "first_new_key", "new_count", "texts")]


def chain_steps(*, chain: Chain, revision: int | None = None) -> step_store.Steps:
    """The steps of `revision` of the chain (default: its current one), in order. One query."""
    number = chain.revision if revision is None else revision
    return step_store.assemble(stored_revisions(chain_id=chain.pk, upto=number), number)


def chain_revision_list(*, chain: Chain) -> list[dict]:
    """The chain's revisions, newest first, without their texts (for the history)."""
    return list(ChainRevision.objects.filter(chain=chain).order_by("-number").values(
        "number", "kind", "step_count", "new_count", "detail", "created_by__username", "created_at"))


# --- assignments -------------------------------------------------------------------------------------

def assignments_of_member(*, user) -> QuerySet[Assignment]:
    """The user's own assignments in projects they are still a member of: a removed member's access ends."""
    mine = Assignment.objects.filter(annotator=user)
    if user.is_superuser:
        return mine
    return mine.filter(Exists(Membership.objects.filter(user=user, project=OuterRef("chain__project"))))


def assignment_get_for_user(*, pk: int, user) -> Assignment:
    """The user's own assignment with its chain, problem and project (steps: `assignment_steps`)."""
    assignment = (assignments_of_member(user=user).select_related("chain__problem", "chain__project", "annotation")
                  .filter(pk=pk).first())
    if assignment is None:
        raise NotFound("No such assignment among yours.")
    return assignment


def assignment_steps(*, assignment: Assignment) -> step_store.Steps:
    """The steps the annotator was shown: the revision recorded on the assignment."""
    return chain_steps(chain=assignment.chain, revision=assignment.revision)


def assignment_labels(*, assignment: Assignment, steps: step_store.Steps) -> list[dict]:
    """The assignment's labels on the steps of its revision, by 0-based index, every field."""
    position = steps.index_of()
    labels = []
    for row in StepLabel.objects.filter(assignment=assignment).values("step_key", *LABEL_FIELDS):
        index = position.get(row["step_key"])
        if index is not None:
            labels.append({"step": index, "key": row.pop("step_key"), **row})
    labels.sort(key=lambda label: label["step"])
    return labels


def assignment_list_for_user(*, user, project: Project) -> QuerySet[Assignment]:
    return (Assignment.objects.filter(annotator=user, chain__project=project)
            .select_related("chain").order_by("-created_at"))


def project_progress(*, project: Project) -> dict:
    """Chains in the project, and chains with k submitted annotator passes (for progress bars)."""
    done = (Assignment.objects.filter(chain=OuterRef("pk"), status=AssignmentStatus.SUBMITTED)
            .order_by().values("chain").annotate(n=Count("id")).values("n"))
    chains = Chain.objects.filter(project=project).annotate(
        done=Coalesce(Subquery(done, output_field=IntegerField()), Value(0)))
    counts = chains.aggregate(total=Count("id"), complete=Count("id", filter=Q(done__gte=project.overlap_k)))
    counts["percent"] = round(100 * counts["complete"] / counts["total"]) if counts["total"] else 0
    return counts


def project_overview_for_user(*, user) -> list[dict]:
    """The user's projects with their role and progress, for the home page (roles in one query)."""
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    return [{"project": project, "role": Role.ADMIN if user.is_superuser else roles.get(project.pk),
             "progress": project_progress(project=project)} for project in project_list_for_user(user=user)]


# --- the workspace page ------------------------------------------------------------------------------

# Steps whose text comes in the workspace page itself, around the step the page opens on; the page asks
# the steps API for the rest after its first frame (assignment_texts), so that at 20,000 steps the
# first step does not wait for 3.9 MB of HTML to arrive and be parsed.
WORKSPACE_PAGE_TEXTS = 200


def _opening_step(labels: list[list], n: int, schema: dict) -> int:
    """The step the workspace opens on, as static/js/workspace/main.js chooses it: the first unrated step
    (in first-error mode, up to the first error), else the first error, else step 0."""
    lowest = schema["scale"][0]["value"]
    rated = {row[0] for row in labels if row[1] is not None}
    first_error = min((row[0] for row in labels if row[1] == lowest), default=None)
    limit = first_error + 1 if first_error is not None and schema.get("mode") == "first_error" else n
    for i in range(limit):
        if i not in rated:
            return i
    return first_error or 0


def assignment_workspace_data(*, assignment: Assignment, page_texts: int = WORKSPACE_PAGE_TEXTS) -> dict:
    """Everything the workspace page needs, compact: the step keys (None when they are 0..n-1), the texts
    of `page_texts` steps around the step the page opens on (`texts` from index `textsFrom`; all of them
    on shorter chains), the labels as rows of LABEL_FIELDS by index, the schema and the outcome.

    Two queries after the assignment (revisions, labels), whatever the chain's length. The assignment
    comes from `assignment_get_for_user` (chain, problem, project and annotation already joined).
    """
    steps = assignment_steps(assignment=assignment)
    chain = assignment.chain
    position = steps.index_of()
    labels = []
    for row in StepLabel.objects.filter(assignment=assignment).values_list("step_key", *LABEL_FIELDS):
        index = position.get(row[0])
        if index is not None:  # a label on a step of another revision is not shown here
            labels.append([index, *row[1:]])
    labels.sort()
    annotation = getattr(assignment, "annotation", None)
    sequential = steps.keys == list(range(len(steps.keys)))
    n = len(steps)
    start = _opening_step(labels, n, chain.project.schema)
    first = max(0, min(start - page_texts // 4, n - page_texts))
    return {
        "assignment": {"id": assignment.pk, "status": assignment.status, "version": assignment.version,
                       "revision": assignment.revision, "activeSeconds": assignment.active_seconds,
                       "project": chain.project.slug,
                       "finishReason": annotation.finish_reason if annotation else None,
                       "comment": annotation.comment if annotation else "",
                       "submittedAt": assignment.submitted_at.isoformat() if assignment.submitted_at else None},
        "chain": {"id": chain.source_id, "pk": chain.pk, "sourceModel": chain.source_model,
                  "problem": chain.problem.statement,
                  # Hidden from annotators when the project says so (it is then not in the page at all).
                  "referenceAnswer": chain.problem.reference_answer if chain.project.show_reference_answer else "",
                  "stepCount": n},
        "schema": chain.project.schema,
        "labelFields": list(LABEL_FIELDS),
        "keys": None if sequential else steps.keys,
        "textsFrom": first,
        "texts": steps.texts[first:first + page_texts],
        "labels": labels,
    }


def assignment_texts(*, assignment: Assignment) -> dict:
    """Every step's text of the revision the annotator was shown, in order (the workspace's second
    request). One query after the assignment."""
    steps = assignment_steps(assignment=assignment)
    return {"revision": steps.revision, "texts": steps.texts}


def guidelines_for_assignment(*, assignment: Assignment) -> str:
    """The guidelines text of the version the annotator was shown (the current text if it has none)."""
    project = assignment.chain.project
    if assignment.guideline_version and assignment.guideline_version != project.guideline_version:
        text = (GuidelineVersion.objects.filter(project=project, number=assignment.guideline_version)
                .values_list("text", flat=True).first())
        if text is not None:
            return text
    return project.guidelines


def assignment_history_for_user(*, user, project: Project) -> QuerySet[Assignment]:
    """The user's assignments in the project, newest first, with their chain and outcome (for the history)."""
    return (Assignment.objects.filter(annotator=user, chain__project=project)
            .select_related("chain", "annotation")
            .order_by(F("submitted_at").desc(nulls_first=True), "-created_at"))


# --- authoring ---------------------------------------------------------------------------------------

CHAIN_STATUSES = ("unstarted", "open", "full")
CHAIN_FLAGS = ("gold", "planted", "screening", "edited")
CHAIN_PAGE = 50


def chain_list_for_project(*, project: Project, source_model: str = "", status: str = "", flag: str = "",
                           q: str = "", text: str = "", after: int | None = None, limit: int = CHAIN_PAGE,
                           contributed: dict | None = None) -> list[dict]:
    """A page of the project's chains (id order, after id `after`) with the filters given; one query (two
    with `text` on PostgreSQL: the probe of matching problems first).

    The chain's own filters are conditions on its row (held_slots counts slots, `revision` > 1 means
    edited), read through the (project, id) index; `text` is a contains-search of the problem statement
    (a trigram index on PostgreSQL, migration 0008); `contributed` holds the values of filters other apps
    registered (annotation/chain_filters.py: review's agreement, queue status and flags), each applied as
    its own condition. Figures at 100,000 chains: docs/benchmarks.md (bench/chain_list.py).
    """
    chains = Chain.objects.filter(project=project)
    if source_model:
        chains = chains.filter(source_model=source_model)
    if status == "unstarted":
        chains = chains.filter(held_slots=0)
    elif status == "open":
        chains = chains.filter(held_slots__gt=0, held_slots__lt=project.overlap_k)
    elif status == "full":
        chains = chains.filter(held_slots__gte=project.overlap_k)
    if flag == "gold":
        chains = chains.filter(is_gold=True)
    elif flag == "planted":
        chains = chains.filter(planted__isnull=False)
    elif flag == "screening":
        chains = chains.filter(is_screening=True)
    elif flag == "edited":
        chains = chains.filter(revision__gt=1)
    if q:
        chains = chains.filter(source_id__startswith=q)
    common_text = False
    if text and connection.vendor == "postgresql":
        # UPPER(statement) LIKE UPPER('%text%'): the expression the trigram index of migration 0008 is built on.
        # PostgreSQL cannot estimate how many problems a contains-search matches (it guessed 32 of 100,000
        # for a word in every one), so which plan it picked came down to its statistics: one walked every
        # chain for a rare word combined with other filters (241 ms), another read all 100,000 problems for
        # a common word (330 ms). So ask first, at most TEXT_PROBE + 1 problem ids through the trigram index:
        # a text with fewer matches filters the chains by those ids (one array parameter, the chain_problem
        # index); a common one is found walking the chains in id order, where its matches come early.
        matching = list(Problem.objects.filter(project=project, statement__icontains=text).order_by()
                        .values_list("id", flat=True)[:TEXT_PROBE + 1])
        if len(matching) <= TEXT_PROBE:
            chains = chains.filter(problem_id__in=RawSQL("SELECT unnest(%s::bigint[])", (matching,)))
        else:
            chains = chains.filter(problem__statement__icontains=text)
            common_text = True
    elif text:
        chains = chains.filter(problem__statement__icontains=text)  # SQLite reads every row either way
    for spec in chain_filters():
        value = (contributed or {}).get(spec.name)
        if value is not None and value != "":
            chains = spec.apply(chains, project, value)
    if after is not None:
        chains = chains.filter(id__gt=after)
    page = chains.order_by("id").values("id", "source_id", "source_model", "step_count", "revision",
                                        "held_slots", "is_gold", "is_screening", "priority")[:limit]
    if common_text and connection.vendor == "postgresql":
        return _walk_in_id_order(page)
    return list(page)


# On PostgreSQL a contains-search matching more problems than this is "common": its chains are found walking
# the project in id order. Fewer: they are read through the ids the trigram index gives (at most this many).
TEXT_PROBE = 5_000


def _walk_in_id_order(page: QuerySet) -> list[dict]:
    """The page read along a chain index in id order, each chain's problem looked up by its key: the plan for
    a text that many problems contain, where the first `limit` matches come early (about 20 ms at 100,000
    chains). PostgreSQL has no hints and underestimates the matches, so the alternatives are ruled out for
    this one statement: bitmap and sequential scans, the sort (what makes the id-order walk the only plan),
    parallel workers (their start costs more than the walk). Slow only when the other filters exclude nearly
    every chain the text matches (docs/benchmarks.md, chain list)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for setting, value in _WALK_SETTINGS:
            cursor.execute(f"SET LOCAL {setting} = {value}")  # noqa: S608 (fixed names and values)
        try:
            return list(page)
        finally:  # within a caller's transaction SET LOCAL would outlive this block: put them back
            for setting, _value in _WALK_SETTINGS:
                cursor.execute(f"SET LOCAL {setting} = DEFAULT")


_WALK_SETTINGS = (("enable_bitmapscan", "off"), ("enable_seqscan", "off"), ("enable_sort", "off"),
                  ("max_parallel_workers_per_gather", "0"))


def chain_source_models(*, project: Project, limit: int = 100) -> list[str]:
    return list(Chain.objects.filter(project=project).exclude(source_model="").order_by("source_model")
                .values_list("source_model", flat=True).distinct()[:limit])


def project_members(*, project: Project) -> list[dict]:
    """Members with their role and work in the project (open, submitted, submitted in the last 24 hours,
    skipped/expired, active time, last submit): two queries whatever the number of assignments' rows."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(hours=24)
    work = {row["annotator_id"]: row for row in
            Assignment.objects.filter(project=project).order_by().values("annotator_id").annotate(
                recent=Count("id", filter=Q(status=AssignmentStatus.SUBMITTED, submitted_at__gte=since)),
                open=Count("id", filter=Q(status__in=(AssignmentStatus.ASSIGNED, AssignmentStatus.IN_PROGRESS))),
                submitted=Count("id", filter=Q(status=AssignmentStatus.SUBMITTED)),
                dropped=Count("id", filter=Q(status__in=(AssignmentStatus.SKIPPED, AssignmentStatus.EXPIRED,
                                                         AssignmentStatus.RELEASED))),
                seconds=Sum("active_seconds", filter=Q(status=AssignmentStatus.SUBMITTED)),
                last=Max("submitted_at"))}
    members = []
    for m in (Membership.objects.filter(project=project).select_related("user")
              .order_by("role", "user__username")):
        row = work.get(m.user_id, {})
        submitted = row.get("submitted", 0)
        members.append({"username": m.user.get_username(), "role": m.role, "open": row.get("open", 0),
                        "submitted": submitted, "submitted_last_24h": row.get("recent", 0),
                        "dropped": row.get("dropped", 0),
                        "seconds_per_chain": round((row.get("seconds") or 0) / submitted) if submitted else None,
                        "last_submitted_at": row.get("last")})
    return members


def project_eta(*, project: Project, progress: dict) -> dict:
    """Remaining annotator passes and a rough finish estimate from the last 24 hours' pace."""
    from datetime import timedelta

    from django.utils import timezone

    passes_needed = progress["total"] * project.overlap_k
    done = Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED, slot__isnull=False).count()
    recent = Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED,
                                       submitted_at__gte=timezone.now() - timedelta(hours=24)).count()
    remaining = max(passes_needed - done, 0)
    return {"passes_needed": passes_needed, "passes_done": done, "remaining": remaining,
            "per_day": recent, "days_left": round(remaining / recent, 1) if recent else None}


def guideline_versions(*, project: Project) -> list[dict]:
    return list(GuidelineVersion.objects.filter(project=project).order_by("-number").values(
        "number", "note", "created_by__username", "created_at"))


def audit_events_for_user(*, user, project: Project) -> QuerySet[AuditEvent]:
    """The project's audit log, newest first: for its admins (and site staff) only."""
    project_get_for_user(slug=project.slug, user=user, roles=(Role.ADMIN,))
    return AuditEvent.objects.filter(project_id=project.pk).order_by("-at", "-id")


# --- answer keys (quality control's gold and screening chains) --------------------------------------

def reference_keys(*, chain_ids: list[int]) -> dict[int, dict[int, int]]:
    """Per chain: its answer key, {step key: rating}, from its first current reference label set (the labels
    imported with it) of revision 1, whose indexes are the imported step keys 0..n-1. One query."""
    import orjson

    out: dict[int, dict[int, int]] = {}
    for chain_id, ratings_json, revision in ImportedLabelSet.objects.filter(
            chain_id__in=chain_ids, replaced_at__isnull=True).order_by("chain_id", "id").values_list(
            "chain_id", "ratings", "revision"):
        if chain_id in out or revision != 1:
            continue
        out[chain_id] = {i: r for i, r in enumerate(orjson.loads(ratings_json)) if r is not None}
    return out


def key_match(key: dict[int, int], ratings: dict[int, int]) -> tuple[int, int]:
    """(steps of the key the annotator rated, how many of those equal the key): gold and screening scores."""
    compared = [k for k in key if k in ratings]
    return len(compared), sum(1 for k in compared if ratings[k] == key[k])


@dataclass(frozen=True)
class ScreeningScore:
    chains: int  # screening chains of the project
    done: int  # of them, those the annotator has had (submitted, skipped or expired): none is served again
    open: bool  # the annotator holds one open right now
    submitted: int
    steps: int  # answer-key steps the annotator rated
    correct: int

    @property
    def finished(self) -> bool:
        return self.chains > 0 and self.done >= self.chains and not self.open

    @property
    def accuracy(self) -> float:
        return self.correct / self.steps if self.steps else 0.0


def screening_score(*, project: Project, user) -> ScreeningScore:
    """How the user did on the project's screening chains: answer-key steps rated as the key says. Four queries."""
    chain_ids = list(Chain.objects.filter(project=project, is_screening=True).values_list("id", flat=True))
    mine = list(Assignment.objects.filter(chain_id__in=chain_ids, annotator=user).values_list("id", "chain_id", "status"))
    submitted = {aid: chain_id for aid, chain_id, status in mine if status == AssignmentStatus.SUBMITTED}
    keys = reference_keys(chain_ids=list(set(submitted.values()))) if submitted else {}
    ratings: dict[int, dict[int, int]] = {aid: {} for aid in submitted}
    for aid, key, rating in StepLabel.objects.filter(assignment_id__in=list(submitted), rating__isnull=False
                                                     ).values_list("assignment_id", "step_key", "rating"):
        ratings[aid][key] = rating
    steps = correct = 0
    for aid, chain_id in submitted.items():
        n, right = key_match(keys.get(chain_id, {}), ratings[aid])
        steps, correct = steps + n, correct + right
    return ScreeningScore(chains=len(chain_ids), done=len(mine), open=any(s in OPEN_STATUSES for _a, _c, s in mine),
                          submitted=len(submitted), steps=steps, correct=correct)
