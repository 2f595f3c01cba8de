"""Projects and memberships."""

from django.db import transaction
from django.utils.text import slugify

from ..exceptions import ValidationFailed
from ..models import LabelScale, Membership, Project, Role, Segmentation


def project_create(*, slug: str, name: str = "", guidelines: str = "", overlap_k: int = 1,
                   label_scale: str = LabelScale.TERNARY, segmentation: str = Segmentation.NEWLINE) -> Project:
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
        return Project.objects.create(slug=slug, name=name or slug, guidelines=guidelines, overlap_k=overlap_k,
                                      label_scale=label_scale, segmentation=segmentation)


def membership_set(*, project: Project, user, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationFailed(f"role must be one of {', '.join(Role.values)}.", field="role")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership
