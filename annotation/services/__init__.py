"""Every write of the annotation app. Each function owns its transaction."""

from .assignments import (
    UNSET,
    LabelInput,
    SaveResult,
    assignment_claim_next,
    assignment_labels_save,
    assignment_reopen,
    assignment_skip,
    assignment_submit,
)
from .audit import audit_record
from .import_jobs import import_job_create, import_job_run, import_jobs_maintain
from .imports import ImportResult, chains_import
from .projects import membership_set, project_create
from .revisions import (
    chain_resegment,
    chain_step_delete,
    chain_step_insert,
    chain_step_reword,
    chain_step_split,
    chain_steps_merge,
)

__all__ = [
    "UNSET",
    "ImportResult",
    "LabelInput",
    "SaveResult",
    "assignment_claim_next",
    "assignment_labels_save",
    "assignment_reopen",
    "assignment_skip",
    "assignment_submit",
    "audit_record",
    "chain_resegment",
    "chain_step_delete",
    "chain_step_insert",
    "chain_step_reword",
    "chain_step_split",
    "chain_steps_merge",
    "chains_import",
    "import_job_create",
    "import_job_run",
    "import_jobs_maintain",
    "membership_set",
    "project_create",
]
