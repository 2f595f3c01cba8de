"""Projects and memberships."""

from django.db import transaction
from django.utils.text import slugify

from ..exceptions import ValidationFailed
from ..models import LabelScale, Membership, Project, Role, Segmentation
from .audit import audit_record


def project_create(*, slug: str, name: str = "", guidelines: str = "", overlap_k: int = 1,
                   label_scale: str = LabelScale.TERNARY, segmentation: str = Segmentation.NEWLINE,
                   actor=None) -> Project:
    if slugify(slug) != slug or not slug:
        raise ValidationFailed(f"'{slug}' is not a valid slug: use lowercase letters, digits and hyphens.", field="slug")
    if overlap_k < 1:
        raise ValidationFailed("overlap_k must be at least 1.", field="overlap_k")
    if label_scale not in LabelScale.values:
        raise ValidationFailed(f"label_scale must be one of {', '.join(LabelScale.values)}.", field="label_scale")
    if segmentation not in Segmentation.values:
        raise ValidationFailed(f"segmentation must be one of {', '.join(Segmentation.values)}.", field="segmentation")
    with transaction.atomic():
        if Project.objects.filter(slug=slug).exists():
            raise ValidationFailed(f"A project '{slug}' already exists.", field="slug")
        project = Project.objects.create(slug=slug, name=name or slug, guidelines=guidelines, overlap_k=overlap_k,
                                         label_scale=label_scale, segmentation=segmentation)
        audit_record(action="project.created", actor=actor, project=project, obj=project,
                     detail={"overlap_k": overlap_k, "label_scale": label_scale})
        return project


def membership_set(*, project: Project, user, role: str, actor=None) -> Membership:
    """Give `user` the `role` in the project (audited with the role before and who gave it)."""
    if role not in Role.values:
        raise ValidationFailed(f"role must be one of {', '.join(Role.values)}.", field="role")
    with transaction.atomic():
        before = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
        if before != role:
            audit_record(action="membership.set", actor=actor, project=project, obj=membership,
                         detail={"user": user.get_username(), "user_id": user.pk, "role": role, "before": before})
    return membership
