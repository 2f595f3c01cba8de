"""Imports through the API: an ImportJob keeps the uploaded file, its progress and its result."""

import logging

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from ..formats import FileRefused, RowError
from ..models import ImportJob, ImportStatus, Project
from .imports import chains_import

log = logging.getLogger(__name__)


def import_job_create(*, project: Project, user, upload: UploadedFile, fmt: str = "auto") -> ImportJob:
    """Store the upload and run it: at once when small (the answer carries the result), else on a worker."""
    job = ImportJob.objects.create(project=project, created_by=user, file=upload, filename=upload.name[:255],
                                   format=fmt)
    if upload.size <= settings.STEPWISE_IMPORT_SYNC_MAX_BYTES:
        return import_job_run(job_id=job.pk)
    from ..tasks import import_job_run_task  # tasks import services; import here to keep that one-way

    import_job_run_task.delay_on_commit(job.pk)
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued job. Safe to run twice: only the run that moves it from queued to running imports."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(status=ImportStatus.RUNNING)
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if claimed != 1:
        return job
    try:
        with job.file.open("rb") as handle:
            data = handle.read()
        result = chains_import(project=job.project, data=data, fmt=job.format, filename=job.filename)
    except FileRefused as refused:
        _finish(job, ImportStatus.FAILED, errors=[e.as_dict() for e in refused.errors])
    except Exception:
        log.exception("import job %s failed", job_id)
        _finish(job, ImportStatus.FAILED, errors=[RowError(0, "", "the import failed unexpectedly; nothing was "
                                                              "written. The error is in the server log.").as_dict()])
    else:
        _finish(job, ImportStatus.DONE, result=result.as_dict())
    return job


def _finish(job: ImportJob, status: str, *, result: dict | None = None, errors: list | None = None) -> None:
    job.status, job.result, job.errors, job.finished_at = status, result or {}, errors or [], timezone.now()
    job.save(update_fields=["status", "result", "errors", "finished_at"])
