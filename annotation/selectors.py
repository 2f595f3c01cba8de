"""Reads, scoped to the acting user. Objects outside a user's reach raise NotFound (answered 404)."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from .exceptions import NotFound
from .models import Assignment, AssignmentStatus, Chain, Membership, Project, Role, Step, StepLabel

MANAGE_ROLES = (Role.RESEARCHER, Role.ADMIN)


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
    """The project if the user is a member (with one of `roles`, when given), else NotFound."""
    project = Project.objects.filter(slug=slug).first()
    role = membership_role(user=user, project=project) if project else None
    if project is None or role is None:
        raise NotFound(f"No project '{slug}' that you are a member of.")
    if roles is not None and role not in roles:
        raise NotFound(f"Project '{slug}' needs one of the roles {', '.join(roles)}; you are {role}.")
    return project


def assignment_get_for_user(*, pk: int, user) -> Assignment:
    """The user's own assignment with its chain, problem, steps and only the user's own labels."""
    assignment = (
        Assignment.objects.select_related("chain__problem", "chain__project", "annotation")
        .prefetch_related(
            Prefetch("chain__steps", queryset=Step.objects.filter(version=1).order_by("index")),
            Prefetch("labels", queryset=StepLabel.objects.select_related("step")),
        )
        .filter(pk=pk, annotator=user)
        .first()
    )
    if assignment is None:
        raise NotFound("No such assignment among yours.")
    return assignment


def assignment_list_for_user(*, user, project: Project) -> QuerySet[Assignment]:
    return (Assignment.objects.filter(annotator=user, chain__project=project)
            .select_related("chain").order_by("-created_at"))


def project_progress(*, project: Project) -> dict:
    """Chains in the project, and chains with k submitted annotator passes (for progress bars)."""
    done = (Assignment.objects.filter(chain=OuterRef("pk"), status=AssignmentStatus.SUBMITTED, annotator__isnull=False)
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
