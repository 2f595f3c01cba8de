"""HTML pages: thin; the workspace talks to the API from JavaScript."""

import markdown
import nh3
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .exceptions import NotFound
from .models import FinishReason, Role
from .selectors import (
    MANAGE_ROLES,
    assignment_get_for_user,
    assignment_labels,
    assignment_list_for_user,
    assignment_steps,
    membership_role,
    project_get_for_user,
    project_overview_for_user,
    project_progress,
)
from .services import assignment_claim_next


def render_markdown(text: str) -> str:
    """Guidelines are written by researchers but still sanitized: no scripts, no event handlers."""
    return nh3.clean(markdown.markdown(text, extensions=["fenced_code", "tables"]))


def _not_found(exc: NotFound) -> Http404:
    return Http404(exc.message)


@login_required
def home(request):
    return render(request, "annotation/home.html", {"projects": project_overview_for_user(user=request.user)})


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
    if assignment is None:
        messages.info(request, "Nothing left in the queue for you in this project. Thank you!")
        return redirect("project", slug=slug)
    return redirect("assignment", pk=assignment.pk)


@login_required
def assignment_workspace(request, pk):
    try:
        assignment = assignment_get_for_user(pk=pk, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    project = assignment.chain.project
    steps = assignment_steps(assignment=assignment)
    labels = assignment_labels(assignment=assignment, steps=steps)
    return render(request, "annotation/workspace.html", {
        "assignment": assignment, "project": project, "chain": assignment.chain,
        "steps": [{"index": i, "key": key, "text": text} for i, (key, text) in enumerate(zip(steps.keys, steps.texts,
                                                                                            strict=True))],
        "finish_reasons": FinishReason.choices,
        "ratings": project.ratings,
        "guidelines_html": render_markdown(project.guidelines),
        "initial": {
            "version": assignment.version,
            "status": assignment.status,
            "activeSeconds": assignment.active_seconds,
            "labels": labels,
        },
    })
