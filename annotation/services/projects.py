"""Projects, their settings, guidelines and schema, and memberships. Every write owns its transaction."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from ..exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..models import AssignmentOrder, GuidelineVersion, LabelScale, Membership, Project, Role, Segmentation
from ..schema import validate_schema
from ..selectors import MANAGE_ROLES, membership_role
from .audit import audit_record
from .queue import assignments_release

MAX_GUIDELINES = 200_000
CREATE_PERMISSION = "annotation.create_project"
CLAIM_ROLES = (Role.ANNOTATOR, Role.ADMIN)
# Settings a researcher changes on the settings page / PATCH /api/projects/<slug>/, with their checks.
SETTINGS = ("name", "overlap_k", "segmentation", "assignment_order", "claim_timeout_minutes",
            "show_reference_answer", "gold_share")


def _check_settings(values: dict) -> None:
    if "name" in values and not (isinstance(values["name"], str) and 0 < len(values["name"].strip()) <= 200):
        raise ValidationFailed("name must be 1 to 200 characters.", field="name")
    if "overlap_k" in values and not (isinstance(values["overlap_k"], int) and 1 <= values["overlap_k"] <= 50):
        raise ValidationFailed(f"overlap_k (annotators per chain) must be a whole number from 1 to 50; it is "
                               f"{values['overlap_k']!r}.", field="overlap_k")
    if "label_scale" in values and values["label_scale"] not in LabelScale.values:
        raise ValidationFailed(f"label_scale must be one of {', '.join(LabelScale.values)}.", field="label_scale")
    if "segmentation" in values and values["segmentation"] not in Segmentation.values:
        raise ValidationFailed(f"segmentation must be one of {', '.join(Segmentation.values)}; it is "
                               f"'{values['segmentation']}'.", field="segmentation")
    if "assignment_order" in values and values["assignment_order"] not in AssignmentOrder.values:
        raise ValidationFailed(f"assignment_order must be one of {', '.join(AssignmentOrder.values)}.",
                               field="assignment_order")
    minutes = values.get("claim_timeout_minutes", 0)
    if not (isinstance(minutes, int) and 0 <= minutes <= 60 * 24 * 90):
        raise ValidationFailed("claim_timeout_minutes must be from 0 (never expire) to 129,600 (90 days).",
                               field="claim_timeout_minutes")
    share = values.get("gold_share", 0.0)
    if not (isinstance(share, int | float) and 0 <= share <= 1):
        raise ValidationFailed(f"gold_share must be from 0 to 1 (a share of claims); it is {share!r}.",
                               field="gold_share")


def can_create_projects(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.is_staff or user.has_perm(CREATE_PERMISSION)))


def project_create(*, slug: str, name: str = "", guidelines: str = "", overlap_k: int = 1,
                   label_scale: str = LabelScale.TERNARY, segmentation: str = Segmentation.NEWLINE,
                   created_by=None, copy_from: Project | None = None) -> Project:
    """A new project; `created_by` becomes its admin; `copy_from` gives its settings, schema and guidelines.

    Guidelines given (or copied) are published as version 1. One transaction.
    """
    if not slug or slugify(slug) != slug or len(slug) > 64:
        raise ValidationFailed(f"'{slug}' is not a valid slug: use up to 64 lowercase letters, digits and hyphens, "
                               f"e.g. '{slugify(slug)[:64] or 'my-project'}'.", field="slug")
    values = {"name": name or slug, "overlap_k": overlap_k, "label_scale": label_scale, "segmentation": segmentation}
    _check_settings(values)
    if len(guidelines) > MAX_GUIDELINES:
        raise ValidationFailed(f"guidelines are at most {MAX_GUIDELINES:,} characters.", field="guidelines")
    fields = {**values, "guidelines": guidelines}
    if copy_from is not None:
        fields.update({name: getattr(copy_from, name) for name in (*SETTINGS, "label_scale", "label_schema")})
        fields["name"] = name or f"{copy_from.name} (copy)"
        fields["guidelines"] = guidelines or copy_from.guidelines
    with transaction.atomic():
        if Project.objects.filter(slug=slug).exists():
            raise ValidationFailed(f"A project '{slug}' already exists; choose another slug.", field="slug")
        project = Project.objects.create(slug=slug, created_by=created_by, **fields)
        if project.guidelines:
            _publish(project, project.guidelines, created_by, "first version" if copy_from is None
                     else f"copied from {copy_from.slug} v{copy_from.guideline_version}")
        audit_record(action="project.created", actor=created_by, project=project, obj=project,
                     detail={"copy_from": copy_from.slug if copy_from else None, "overlap_k": project.overlap_k})
        if created_by is not None:
            membership = Membership.objects.create(project=project, user=created_by, role=Role.ADMIN)
            audit_record(action="membership.set", actor=created_by, project=project, obj=membership,
                         detail={"user": created_by.get_username(), "user_id": created_by.pk, "role": Role.ADMIN,
                                 "before": None})
    return project


def project_create_for_user(*, user, slug: str, name: str = "", copy_from: str = "", **options) -> Project:
    """project_create by a user: needs the site permission to create projects; copying needs a role in the
    source project (researcher or admin)."""
    if not can_create_projects(user):
        raise PermissionDenied("You may not create projects: a site admin grants that (Members page of any project "
                               "they run, or `manage.py project grant-create USER`).")
    source = None
    if copy_from:
        from ..selectors import project_get_for_user

        source = project_get_for_user(slug=copy_from, user=user, roles=MANAGE_ROLES)
    return project_create(slug=slug, name=name, created_by=user, copy_from=source, **options)


def project_update(*, project: Project, **values) -> Project:
    """Change the settings given (only those: SETTINGS), nothing else."""
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ValidationFailed(f"'{unknown[0]}' is not a project setting; use {', '.join(SETTINGS)}.", field=unknown[0])
    _check_settings(values)
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(**values)
    for name, value in values.items():
        setattr(project, name, value)
    return project


def project_archive(*, project: Project, archived: bool = True) -> Project:
    """Archive (no claims, no imports; everything stays readable and exportable) or bring back."""
    project.archived_at = timezone.now() if archived else None
    Project.objects.filter(pk=project.pk).update(archived_at=project.archived_at)
    return project


def project_schema_set(*, project: Project, schema: dict) -> Project:
    """Store a label schema after validation; a bad one is refused naming the field, and changes nothing."""
    try:
        stored = validate_schema(schema, project.label_scale)
    except ValueError as exc:
        field, message = exc.args[0]
        raise ValidationFailed(f"{field} {message}.", field=field) from None
    project.label_schema = stored
    Project.objects.filter(pk=project.pk).update(label_schema=stored)
    return project


def _publish(project: Project, text: str, user, note: str) -> GuidelineVersion:
    number = project.guideline_version + 1
    version = GuidelineVersion.objects.create(project=project, number=number, text=text, note=note[:200],
                                              created_by=user if getattr(user, "is_authenticated", False) else None)
    Project.objects.filter(pk=project.pk).update(guidelines=text, guideline_version=number)
    project.guidelines, project.guideline_version = text, number
    return version


def guidelines_publish(*, project: Project, user, text: str, note: str = "") -> GuidelineVersion:
    """Publish new guidelines as the next version: new claims record it; open ones keep the version they saw."""
    if not isinstance(text, str) or len(text) > MAX_GUIDELINES:
        raise ValidationFailed(f"guidelines are at most {MAX_GUIDELINES:,} characters.", field="text")
    if "\x00" in text:
        raise ValidationFailed("the guidelines contain a NUL character (\\u0000); remove it.", field="text")
    with transaction.atomic():
        # NO KEY UPDATE on the project: two publishers take numbers one after the other; inserts that point
        # at the project (members, assignments, imports) are not blocked.
        current = Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values(
            "guidelines", "guideline_version").get()
        if current["guidelines"] == text and current["guideline_version"]:
            raise ValidationFailed(f"these are the guidelines of version {current['guideline_version']} already; "
                                   "change something first.", field="text")
        project.guideline_version = current["guideline_version"]
        return _publish(project, text, user, note)


# --- members -----------------------------------------------------------------------------------------

def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationFailed(f"role must be one of {', '.join(Role.values)}; it is '{role}'.", field="role")


def _check_can_grant(by, project: Project, role: str) -> None:
    """Researchers manage annotators, reviewers and researchers; only admins make or unmake admins."""
    if by is None:
        return  # the command line, run by whoever runs the server
    acting = membership_role(user=by, project=project)
    if acting not in MANAGE_ROLES:
        raise NotFound(f"No project '{project.slug}' that you manage.")
    if role == Role.ADMIN and acting != Role.ADMIN:
        raise PermissionDenied("Only an admin of the project adds, changes or removes admins.", field="role")


def _check_not_last_manager(project: Project, user, new_role: str | None) -> None:
    if new_role in MANAGE_ROLES:
        return
    managers = Membership.objects.filter(project=project, role__in=MANAGE_ROLES)
    if not managers.exclude(user=user).exists() and managers.filter(user=user).exists():
        raise Conflict(f"{user.get_username()} is the last researcher or admin of '{project.slug}'; add another one "
                       "first, so that someone can still manage the project.", field="user")


def membership_set(*, project: Project, user, role: str, by=None) -> Membership:
    """Give `user` the role in the project (adding them, or changing their role). A member who stops being
    an annotator has their open assignments released at once."""
    _check_role(role)
    with transaction.atomic():
        old = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        _check_can_grant(by, project, role if old != Role.ADMIN else Role.ADMIN)
        if old is not None:
            _check_not_last_manager(project, user, role)
        membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
        if old != role:
            audit_record(action="membership.set", actor=by, project=project, obj=membership,
                         detail={"user": user.get_username(), "user_id": user.pk, "role": role, "before": old})
        if old in CLAIM_ROLES and role not in CLAIM_ROLES:
            assignments_release(project=project, user=user, reason=f"released: role changed to {role}")
    return membership


def member_add(*, project: Project, by, username: str, role: str, create: bool = False, password: str = "",
               email: str = "") -> tuple[Membership, str]:
    """Add an existing user, or create the account (`create`), with `role`. Returns (membership, password):
    the password is the one generated for a new account when none was given (shown once), else ""."""
    _check_role(role)
    username = (username or "").strip()
    User = get_user_model()
    generated = ""
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise ValidationFailed(f"No user '{username}'. Tick 'create the account' to create it, or check the "
                                       "spelling.", field="username")
            if not username or len(username) > 150 or not all(c.isalnum() or c in "@.+-_" for c in username):
                raise ValidationFailed("a username is 1 to 150 letters, digits and @.+-_", field="username")
            if not password:
                password = generated = secrets.token_urlsafe(12)
            candidate = User(username=username, email=email)
            try:
                validate_password(password, candidate)
            except DjangoValidationError as exc:
                raise ValidationFailed(" ".join(exc.messages), field="password") from None
            user = User.objects.create_user(username=username, password=password, email=email)
        elif create and password:
            raise ValidationFailed(f"'{username}' already has an account; leave the password empty to add them.",
                                   field="password")
        if Membership.objects.filter(project=project, user=user).exists():
            raise ValidationFailed(f"{username} is already a member of '{project.slug}'; change their role in the "
                                   "list instead.", field="username")
        membership = membership_set(project=project, user=user, role=role, by=by)
    return membership, generated


def membership_remove(*, project: Project, user, by=None) -> int:
    """Remove the member: their access to the project ends and their open assignments are released at once
    (their chains' slots go back to the queue). Returns the number of assignments released. What they
    submitted stays."""
    with transaction.atomic():
        role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        if role is None:
            raise NotFound(f"{user.get_username()} is not a member of '{project.slug}'.")
        _check_can_grant(by, project, role)
        _check_not_last_manager(project, user, None)
        Membership.objects.filter(project=project, user=user).delete()
        audit_record(action="membership.removed", actor=by, project=project,
                     detail={"user": user.get_username(), "user_id": user.pk, "role": role})
        return assignments_release(project=project, user=user, reason="released: removed from the project")


def project_creator_set(*, user, allowed: bool, by=None) -> None:
    """Grant or take away the site permission to create projects (superusers only, or the command line)."""
    if by is not None and not by.is_superuser:
        raise PermissionDenied("Only a site superuser grants the permission to create projects.")
    permission = Permission.objects.get(codename="create_project", content_type__app_label="annotation")
    with transaction.atomic():
        if allowed:
            user.user_permissions.add(permission)
        else:
            user.user_permissions.remove(permission)
        audit_record(action="site.project_creator_set", actor=by,
                     detail={"user": user.get_username(), "user_id": user.pk, "allowed": allowed})
    # Django caches permissions on the user object.
    for cache in ("_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)
