"""Every write of the annotation app. Each function owns its transaction."""

from .assignments import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_skip,
    assignment_submit,
)
from .import_jobs import import_job_create, import_job_run
from .imports import ImportResult, chains_import
from .projects import membership_set, project_create

__all__ = [
    "ImportResult",
    "LabelInput",
    "assignment_claim_next",
    "assignment_labels_save",
    "assignment_skip",
    "assignment_submit",
    "chains_import",
    "import_job_create",
    "import_job_run",
    "membership_set",
    "project_create",
]
