"""Set-up pages for researchers: new project, settings, guidelines, label schema, members, import with
preview, chain browser, step editor. Thin: parse the form (with the API's input serializers, one source
of the rules), call one service, show its message; a refusal re-shows the form with what to fix.
"""

import re
import secrets
from pathlib import Path

import orjson
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from .api.serializers import ChainEditInput, ChainListInput, ProjectUpdateInput
from .chain_filters import chain_filters
from .exceptions import NotFound, StepwiseError
from .formats.parse import FORMATS
from .models import AssignmentOrder, Chain, ImportJob, Role, Segmentation
from .schema import FINISH_REASONS, MODES, REQUIRABLE, REQUIRE_WHEN
from .segmentation import MODES as SEGMENTATIONS
from .selectors import (
    CHAIN_PAGE,
    MANAGE_ROLES,
    chain_list_for_project,
    chain_revision_list,
    chain_source_models,
    chain_steps,
    guideline_versions,
    project_eta,
    project_get_for_user,
    project_list_managed,
    project_members,
    project_progress,
)
from .services import (
    can_create_projects,
    chain_edit,
    guidelines_publish,
    import_job_create,
    import_preview,
    member_add,
    membership_remove,
    membership_set,
    project_archive,
    project_create_for_user,
    project_creator_set,
    project_schema_set,
    project_update,
)

PREVIEW_DIR = "imports/previews"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_LEVELS = 9


def _managed(request, slug):
    try:
        return project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _refused(request, exc: StepwiseError) -> None:
    where = f" (field: {exc.field})" if exc.field else ""
    messages.error(request, f"{exc.message}{where}")


def _drf_errors(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in errors.items())


def _page(request, template, project, tab, **context):
    return render(request, f"annotation/setup/{template}", {"project": project, "tab": tab, **context})


@login_required
def project_new(request):
    if not can_create_projects(request.user):
        messages.error(request, "You may not create projects yet: a site admin grants that "
                                "(`manage.py project grant-create USERNAME`, or the Members page).")
        return redirect("home")
    sources = project_list_managed(user=request.user)
    values = {"slug": "", "name": "", "copy_from": ""}
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        try:
            project = project_create_for_user(user=request.user, **values)
        except StepwiseError as exc:
            _refused(request, exc)
        else:
            messages.success(request, f"Project '{project.slug}' created; you are its admin. Next: guidelines, "
                                      "the label schema, then import chains.")
            return redirect("setup", slug=project.slug)
    return render(request, "annotation/setup/new.html", {"values": values, "sources": sources})


@login_required
def setup(request, slug):
    """Settings: overlap k, order, claim timeout, reference answers, gold share, segmentation; archive."""
    project = _managed(request, slug)
    if request.method == "POST":
        if "archive" in request.POST:
            archived = request.POST["archive"] == "1"
            project_archive(project=project, archived=archived)
            messages.success(request, "Project archived: no claims, no imports." if archived else "Project back in use.")
            return redirect("setup", slug=slug)
        data = {key: request.POST[key] for key in ("name", "overlap_k", "segmentation", "assignment_order",
                                                   "claim_timeout_minutes", "gold_share") if key in request.POST}
        data["show_reference_answer"] = request.POST.get("show_reference_answer") == "on"
        form = ProjectUpdateInput(data=data, partial=True)
        if not form.is_valid():
            messages.error(request, _drf_errors(form.errors))
        else:
            try:
                project_update(project=project, **form.validated_data)
            except StepwiseError as exc:
                _refused(request, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("setup", slug=slug)
    progress = project_progress(project=project)
    return _page(request, "settings.html", project, "settings", progress=progress,
                 eta=project_eta(project=project, progress=progress), orders=AssignmentOrder.choices,
                 segmentations=Segmentation.choices)


@login_required
def progress(request, slug):
    """Progress of the project (chains complete, passes, pace, ETA) and of each member, kept live by the
    page's websocket (each submission, claim, expiry or import makes it re-read `GET …/progress/`)."""
    project = _managed(request, slug)
    counts = project_progress(project=project)
    return _page(request, "progress.html", project, "progress", progress=counts,
                 eta=project_eta(project=project, progress=counts), members=project_members(project=project))


@login_required
def guidelines(request, slug):
    project = _managed(request, slug)
    text = project.guidelines
    if request.method == "POST":
        text = request.POST.get("text", "")
        try:
            version = guidelines_publish(project=project, user=request.user, text=text,
                                         note=request.POST.get("note", "")[:200])
        except StepwiseError as exc:
            _refused(request, exc)
        else:
            messages.success(request, f"Guidelines version {version.number} published: annotators who claim from "
                                      "now on see it; open chains keep the version they were claimed with.")
            return redirect("setup-guidelines", slug=slug)
    from .views import render_markdown

    return _page(request, "guidelines.html", project, "guidelines", text=text,
                 preview_html=render_markdown(text), versions=guideline_versions(project=project),
                 preview_url=reverse("api-guidelines-preview", args=[slug]))


def _schema_from_form(post) -> dict:
    """The label schema the editor's form describes (validated by the service, not here)."""
    scale = []
    for i in range(MAX_LEVELS + 1):
        level = {name: post.get(f"level-{i}-{name}", "").strip() for name in ("value", "name", "key", "color",
                                                                              "meaning")}
        if not any(level[name] for name in ("value", "name", "key")):
            continue  # an empty row of the editor
        if re.fullmatch(r"-?\d{1,3}", level["value"]):
            level["value"] = int(level["value"])  # anything else is refused by validation, naming the field
        scale.append(level)
    error_types = [line.strip() for line in post.get("error_types", "").splitlines() if line.strip()]
    return {
        "scale": scale,
        "mode": post.get("mode", ""),
        "error_types": error_types,
        "require": {field: post.get(f"require-{field}", "never") for field in REQUIRABLE},
        "finish_reasons": [reason for reason in FINISH_REASONS if post.get(f"finish-{reason}") == "on"],
        "allow_reopen": post.get("allow_reopen") == "on",
    }


@login_required
def schema(request, slug):
    project = _managed(request, slug)
    current = project.schema
    if request.method == "POST":
        wanted = _schema_from_form(request.POST)
        try:
            project_schema_set(project=project, schema=wanted)
        except StepwiseError as exc:
            _refused(request, exc)
            current = {**current, **wanted}  # show what was typed, with the message
        else:
            messages.success(request, "Label schema saved. Annotators see it on their next page load.")
            return redirect("setup-schema", slug=slug)
    levels = list(current["scale"]) + [{}] * max(0, min(MAX_LEVELS, len(current["scale"]) + 1) - len(current["scale"]))
    return _page(request, "schema.html", project, "schema", schema=current, levels=levels,
                 modes=MODES, requirable=REQUIRABLE, require_when=REQUIRE_WHEN, finish_reasons=FINISH_REASONS)


@login_required
def members(request, slug):
    project = _managed(request, slug)
    if request.method == "POST":
        action = request.POST.get("action")
        username = request.POST.get("username", "").strip()
        try:
            if action == "add":
                membership, password = member_add(
                    project=project, by=request.user, username=username, role=request.POST.get("role", ""),
                    create=request.POST.get("create") == "on", password=request.POST.get("password", ""),
                    email=request.POST.get("email", ""))
                note = f" Their password (shown once): {password}" if password else ""
                messages.success(request, f"{username} added as {membership.role}.{note}")
            elif action in ("role", "remove"):
                user = get_user_model().objects.filter(username=username).first()
                if user is None:
                    raise NotFound(f"No user '{username}'.")
                if action == "role":
                    membership_set(project=project, user=user, role=request.POST.get("role", ""), by=request.user)
                    messages.success(request, f"{username} is now {request.POST.get('role')}.")
                else:
                    released = membership_remove(project=project, user=user, by=request.user)
                    messages.success(request, f"{username} removed; their access ended and {released} open "
                                              f"assignment{'s' if released != 1 else ''} went back to the queue.")
            elif action == "grant-create":
                user = get_user_model().objects.filter(username=username).first()
                if user is None:
                    raise NotFound(f"No user '{username}'.")
                project_creator_set(user=user, allowed=request.POST.get("allowed") == "1", by=request.user)
                messages.success(request, f"{username}: permission to create projects updated.")
        except StepwiseError as exc:
            _refused(request, exc)
        return redirect("setup-members", slug=slug)
    return _page(request, "members.html", project, "members", members=project_members(project=project),
                 roles=Role.choices, can_grant=request.user.is_superuser)


# --- import with preview --------------------------------------------------------------------------------

def _preview_path(token: str, name: str) -> str:
    suffix = "".join(c for c in Path(name).suffix.lower() if c.isalnum() or c == ".")[:10]
    return f"{PREVIEW_DIR}/{token}{suffix}"


def _typed_chain(post) -> ContentFile:
    """A chain added by hand, as the one-line stepwise file the import reads (so it gets the same preview,
    checks and split as any file; the project's segmentation splits the pasted text)."""
    row = {"id": post.get("id", "").strip(), "problem": post.get("problem", ""),
           "text": post.get("text", ""), "reference_answer": post.get("reference_answer", ""),
           "model": post.get("model", "").strip()}
    row = {key: value for key, value in row.items() if value or key in ("id", "problem", "text")}
    return ContentFile(orjson.dumps(row) + b"\n", name=f"by-hand-{row['id'] or 'chain'}.jsonl"[:120])


@login_required
def import_page(request, slug):
    """Upload, see the preview (first rows as they will be split, counts, every bad line), then import."""
    project = _managed(request, slug)
    preview = None
    token = ""
    previews = request.session.get("import_previews", {})
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("preview", "by-hand"):
        upload = request.FILES.get("file") if action == "preview" else _typed_chain(request.POST)
        fmt = request.POST.get("format", "auto") if action == "preview" else "stepwise"
        if upload is None:
            messages.error(request, "Choose a file to preview.")
        elif upload.size > settings.STEPWISE_IMPORT_MAX_BYTES:
            messages.error(request, f"{upload.name} is too large for one import; split the file.")
        else:
            token = secrets.token_urlsafe(24)
            path = default_storage.save(_preview_path(token, upload.name), upload)
            try:
                with default_storage.open(path, "rb") as handle:
                    preview = import_preview(project=project, data=handle, filename=upload.name, fmt=fmt)
            except StepwiseError as exc:
                default_storage.delete(path)
                _refused(request, exc)
                token = ""
            else:
                if preview["ok"]:
                    previews[token] = {"path": path, "project": project.pk, "filename": upload.name, "format": fmt}
                    request.session["import_previews"] = previews
                else:
                    default_storage.delete(path)  # refused: nothing to import later
                    token = ""
    elif action == "import":
        token = request.POST.get("token", "")
        held = previews.pop(token, None) if _TOKEN.match(token) else None
        request.session["import_previews"] = previews
        if held is None or held["project"] != project.pk:
            messages.error(request, "That preview is no longer available (already imported, or from another "
                                    "session); upload the file again.")
            return redirect("setup-import", slug=slug)
        try:
            with default_storage.open(held["path"], "rb") as handle:
                job = import_job_create(project=project, user=request.user,
                                        upload=File(handle, name=held["filename"]), fmt=held["format"])
        except StepwiseError as exc:
            _refused(request, exc)
            return redirect("setup-import", slug=slug)
        finally:
            default_storage.delete(held["path"])
        return redirect(f"{reverse('setup-import', args=[slug])}?job={job.pk}")
    jobs = ImportJob.objects.filter(project=project).order_by("-created_at")[:10]
    return _page(request, "import.html", project, "import", preview=preview, token=token, formats=FORMATS,
                 jobs=jobs, highlight=request.GET.get("job", ""))


# --- chains -----------------------------------------------------------------------------------------------

@login_required
def chains(request, slug):
    """The chain browser: the API's filters as a form; a bad filter value is named and lists nothing."""
    project = _managed(request, slug)
    form = ChainListInput(data=request.GET)
    valid = form.is_valid()
    filters = form.validated_data if valid else {key: request.GET.get(key, "") for key in form.fields}
    rows = chain_list_for_project(project=project, **form.selector_arguments()) if valid else []
    if not valid:
        messages.error(request, _drf_errors(form.errors) + " Nothing is listed until the filter is fixed.")
    contributed = [{"spec": spec, "value": filters.get(spec.name)} for spec in chain_filters()]
    return _page(request, "chains.html", project, "chains", rows=rows, filters=filters, valid=valid,
                 contributed=contributed, filtered=any(value not in (None, "") for key, value in filters.items()
                                                       if key != "after"),
                 source_models=chain_source_models(project=project),
                 next_after=rows[-1]["id"] if len(rows) == CHAIN_PAGE else None,
                 query=request.GET.copy())


@login_required
def chain_steps_page(request, pk):
    chain = Chain.objects.select_related("project", "problem").filter(pk=pk).first()
    if chain is None:
        raise Http404("No such chain.")
    project = _managed(request, chain.project.slug)
    if request.method == "POST":
        data = {key: request.POST[key] for key in ("op", "revision", "index", "text", "mode", "count")
                if key in request.POST}
        if data.get("op") == "split":
            # The editor sends the step's text (as edited) and the cursor: the two parts are the new steps.
            text = request.POST.get("text", "")
            try:
                at = int(request.POST.get("at", ""))
            except ValueError:
                at = -1
            if not 0 < at < len(text):
                messages.error(request, "Put the cursor where the step should be split (not at its start or end), "
                                        "then press Split at cursor.")
                return redirect("chain-steps", pk=pk)
            data["texts"] = [text[:at].strip(), text[at:].strip()]
            data.pop("text")
        form = ChainEditInput(data=data)
        if not form.is_valid():
            messages.error(request, _drf_errors(form.errors))
        else:
            try:
                revision = chain_edit(chain=chain, user=request.user, **form.validated_data)
            except StepwiseError as exc:
                _refused(request, exc)
            else:
                messages.success(request, f"Revision {revision.number}: {revision.get_kind_display().lower()}. "
                                          "Labels made on earlier revisions keep pointing at the text they judged.")
        return redirect("chain-steps", pk=pk)
    steps = chain_steps(chain=chain)
    return _page(request, "chain_steps.html", project, "chains", chain=chain,
                 steps=list(enumerate(zip(steps.keys, steps.texts, strict=True))),
                 revisions=chain_revision_list(chain=chain), segmentations=SEGMENTATIONS)
