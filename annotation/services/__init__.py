"""Every write of the annotation app. Each function owns its transaction."""

from .assignments import (
    UNSET,
    LabelInput,
    SaveResult,
    assignment_labels_save,
    assignment_reopen,
    assignment_skip,
    assignment_submit,
)
from .audit import audit_record
from .import_jobs import import_job_create, import_job_run, import_jobs_maintain
from .import_preview import import_preview
from .imports import ImportResult, chains_import
from .projects import (
    can_create_projects,
    guidelines_publish,
    member_add,
    membership_remove,
    membership_set,
    project_archive,
    project_create,
    project_create_for_user,
    project_creator_set,
    project_schema_set,
    project_update,
)
from .queue import assignment_claim_next, assignments_expire, assignments_release
from .revisions import (
    chain_edit,
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
    "assignments_expire",
    "assignments_release",
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
    "can_create_projects",
    "chain_edit",
    "guidelines_publish",
    "import_preview",
    "member_add",
    "membership_remove",
    "membership_set",
    "project_archive",
    "project_create_for_user",
    "project_creator_set",
    "project_schema_set",
    "project_update",
    "project_create",
]
