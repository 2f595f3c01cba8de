"""HTML pages: thin; the workspace talks to the API from JavaScript."""

import markdown
import nh3
import orjson
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from .exceptions import NotFound, PermissionDenied
from .models import FinishReason, Role
from .selectors import (
    MANAGE_ROLES,
    assignment_get_for_user,
    assignment_history_for_user,
    assignment_list_for_user,
    assignment_workspace_data,
    guidelines_for_assignment,
    membership_role,
    project_get_for_user,
    project_overview_for_user,
    project_progress,
)
from .services import assignment_claim_next, can_create_projects


def render_markdown(text: str) -> str:
    """Guidelines are written by researchers but still sanitized: no scripts, no event handlers."""
    return nh3.clean(markdown.markdown(text, extensions=["fenced_code", "tables"]))


def _not_found(exc: NotFound) -> Http404:
    return Http404(exc.message)


@login_required
def home(request):
    return render(request, "annotation/home.html", {"projects": project_overview_for_user(user=request.user),
                                                    "can_create": can_create_projects(request.user)})


@login_required
def project_detail(request, slug):
    try:
        project = project_get_for_user(slug=slug, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    role = membership_role(user=request.user, project=project)
    return render(request, "annotation/project.html", {
        "project": project, "role": role, "can_manage": role in MANAGE_ROLES,
        "can_annotate": role in (Role.ANNOTATOR, Role.ADMIN),
        "progress": project_progress(project=project),
        "guidelines_html": render_markdown(project.guidelines),
        "assignments": assignment_list_for_user(user=request.user, project=project)[:50],
    })


@login_required
@require_POST
def annotate_next(request, slug):
    try:
        project = project_get_for_user(slug=slug, user=request.user)
        assignment = assignment_claim_next(project=project, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    except PermissionDenied as exc:
        if exc.field == "screening":  # below the screening pass mark: say so where the button is
            messages.error(request, exc.message)
            return redirect("project", slug=slug)
        raise Forbidden(exc.message) from exc
    if assignment is None:
        messages.info(request, "Nothing left in the queue for you in this project. Thank you!")
        return redirect("project", slug=slug)
    return redirect("assignment", pk=assignment.pk)


def _script_json(data) -> str:
    """JSON safe inside <script type="application/json">: no `</script>`, no `<!--` (as json_script does)."""
    raw = orjson.dumps(data)
    return raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026").decode()


@login_required
def assignment_workspace(request, pk):
    """The annotation workspace: a small page whose data (steps, labels, schema) comes as one JSON payload
    in the page; static/js/workspace/ renders the rows near the viewport from it."""
    try:
        assignment = assignment_get_for_user(pk=pk, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    project = assignment.chain.project
    data = assignment_workspace_data(assignment=assignment)
    data["urls"] = {
        "assignment": reverse("api-assignment", args=[assignment.pk]),
        "labels": reverse("api-assignment-labels", args=[assignment.pk]),
        # The revision in the URL: a browser's cached copy of another revision's texts is never used.
        "texts": f"{reverse('api-assignment-texts', args=[assignment.pk])}?revision={assignment.revision}",
        "submit": reverse("api-assignment-submit", args=[assignment.pk]),
        "skip": reverse("api-assignment-skip", args=[assignment.pk]),
        "reopen": reverse("api-assignment-reopen", args=[assignment.pk]),
        "next": reverse("annotate-next", args=[project.slug]),
        "history": reverse("history", args=[project.slug]),
        "project": reverse("project", args=[project.slug]),
    }
    data["finishReasons"] = [[value, label] for value, label in FinishReason.choices
                             if value in data["schema"]["finish_reasons"]]
    return render(request, "annotation/workspace.html", {
        "assignment": assignment, "project": project, "chain": assignment.chain,
        # The guidelines as they were when the chain was claimed (each assignment records the version).
        "guidelines_html": render_markdown(guidelines_for_assignment(assignment=assignment)),
        "guideline_version": assignment.guideline_version,
        "payload": mark_safe(_script_json(data)),  # noqa: S308 (escaped by _script_json for a script element)
        "extensions": settings.STEPWISE_WORKSPACE_EXTENSIONS,
    })


@login_required
def history(request, slug):
    """The annotator's own assignments in a project: open, submitted (reopenable before review), skipped."""
    try:
        project = project_get_for_user(slug=slug, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    page = Paginator(assignment_history_for_user(user=request.user, project=project), 100).get_page(
        request.GET.get("page"))
    return render(request, "annotation/history.html", {
        "project": project, "page": page, "allow_reopen": project.schema.get("allow_reopen", True)})
