"""Reads, scoped to the acting user. Objects outside a user's reach raise NotFound (answered 404)."""

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from . import steps as step_store
from .exceptions import NotFound, PermissionDenied
from .models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Chain,
    ChainRevision,
    Membership,
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

def assignment_get_for_user(*, pk: int, user) -> Assignment:
    """The user's own assignment with its chain, problem and project (steps: `assignment_steps`)."""
    assignment = (Assignment.objects.select_related("chain__problem", "chain__project", "annotation")
                  .filter(pk=pk, annotator=user).first())
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

def assignment_workspace_data(*, assignment: Assignment) -> dict:
    """Everything the workspace page needs, compact: the steps as two arrays (keys, texts; keys None when
    they are 0..n-1), the labels as rows of LABEL_FIELDS by index, the schema and the outcome.

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
    return {
        "assignment": {"id": assignment.pk, "status": assignment.status, "version": assignment.version,
                       "revision": assignment.revision, "activeSeconds": assignment.active_seconds,
                       "project": chain.project.slug,
                       "finishReason": annotation.finish_reason if annotation else None,
                       "comment": annotation.comment if annotation else "",
                       "submittedAt": assignment.submitted_at.isoformat() if assignment.submitted_at else None},
        "chain": {"id": chain.source_id, "pk": chain.pk, "sourceModel": chain.source_model,
                  "problem": chain.problem.statement,
                  # Only where the project says so (label_schema.show_reference_answer), as in the API.
                  "referenceAnswer": (chain.problem.reference_answer
                                      if chain.project.schema.get("show_reference_answer") else ""),
                  "stepCount": len(steps)},
        "schema": chain.project.schema,
        "labelFields": list(LABEL_FIELDS),
        "keys": None if sequential else steps.keys,
        "texts": steps.texts,
        "labels": labels,
    }


def assignment_history_for_user(*, user, project: Project) -> QuerySet[Assignment]:
    """The user's assignments in the project, newest first, with their chain and outcome (for the history)."""
    return (Assignment.objects.filter(annotator=user, chain__project=project)
            .select_related("chain", "annotation")
            .order_by(F("submitted_at").desc(nulls_first=True), "-created_at"))


def audit_events_for_user(*, user, project: Project) -> QuerySet[AuditEvent]:
    """The project's audit log, newest first: for its admins (and site staff) only."""
    project_get_for_user(slug=project.slug, user=user, roles=(Role.ADMIN,))
    return AuditEvent.objects.filter(project_id=project.pk).order_by("-at", "-id")
