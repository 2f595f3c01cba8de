"""Imports as jobs: the uploaded file, its progress, its result; recovery of jobs whose worker died.

A running job's worker writes a heartbeat (with its progress) to the cache every few seconds, on a
thread of its own, outside the import's transaction. `import_jobs_maintain` (every 30 s on Celery
beat, and whenever a job is read through the API) puts a job whose heartbeat stopped back in the
queue (its transaction died with its connection, so nothing of it was written), at most
ImportJob.MAX_ATTEMPTS times, then ends it failed with the reason; re-queues jobs the broker never
delivered; fails jobs no worker took within STEPWISE_IMPORT_QUEUE_TIMEOUT; deletes the files of
finished jobs after STEPWISE_IMPORT_RETENTION_HOURS. So no job stays queued or running forever.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..exceptions import Conflict, ValidationFailed
from ..formats import FileRefused, RowError
from ..models import ImportJob, ImportStatus, Project
from ..realtime import broadcast_project_event
from .audit import audit_record
from .imports import chains_import, file_size

log = logging.getLogger(__name__)
REQUEUE_SECONDS = 120  # queued this long without a worker starting it: send it to the broker again


def _heartbeat_key(job_id: int) -> str:
    return f"stepwise:import-job:{job_id}"


def import_job_live(job: ImportJob) -> dict:
    """The running job's last heartbeat: {"at": epoch seconds, "phase", "done", "total"} or {}."""
    if job.status != ImportStatus.RUNNING:
        return {}
    return cache.get(_heartbeat_key(job.pk)) or {}


def import_job_create(*, project: Project, user, upload: UploadedFile, fmt: str = "auto",
                      update_labels: bool = False) -> ImportJob:
    """Store the upload and run it: at once when small (the answer carries the result), else on a worker."""
    if project.archived_at is not None:
        raise Conflict(f"Project '{project.slug}' is archived; bring it back (its settings page) to import.",
                       field="project")
    limit = settings.STEPWISE_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise ValidationFailed(f"{upload.name} is {file_size(upload.size)}; at most {file_size(limit)} per import "
                               "(STEPWISE_IMPORT_MAX_BYTES). Split the file.", field="file")
    if upload.size == 0:
        raise ValidationFailed(f"{upload.name} is empty (0 bytes); choose the file again.", field="file")
    job = ImportJob.objects.create(project=project, created_by=user, file=upload, filename=upload.name[:255],
                                   size=upload.size, format=fmt, update_labels=update_labels)
    if upload.size <= settings.STEPWISE_IMPORT_SYNC_MAX_BYTES:
        return import_job_run(job_id=job.pk)
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> bool:
    """Hand the job to the broker. When the broker is down the job stays queued and is sent again by
    import_jobs_maintain (or ends failed after the queue timeout, saying why): never a 500."""
    from ..tasks import import_job_run_task  # tasks import services; import here to keep that one-way

    ImportJob.objects.filter(pk=job_id).update(progress={"enqueued_at": time.time()})
    try:
        import_job_run_task.apply_async(args=[job_id], retry=False)
    except Exception as exc:  # kombu raises many kinds; none may undo the upload that committed
        log.warning("import job %s: broker unreachable (%s); it stays queued and is retried", job_id, exc)
        ImportJob.objects.filter(pk=job_id).update(
            progress={"enqueued_at": time.time(), "waiting": "The task queue could not be reached; the import "
                                                             "will be sent again in a minute."})
        return False
    return True


class _Heartbeat(threading.Thread):
    def __init__(self, job: ImportJob):
        super().__init__(name=f"import-job-{job.pk}-heartbeat", daemon=True)
        self.job = job
        self.state = {"phase": "starting", "done": 0, "total": job.size}
        self.finished = threading.Event()
        self.last_broadcast = 0.0

    def progress(self, phase: str, done: int, total: int) -> None:
        self.state = {"phase": phase, "done": done, "total": total}
        now = time.monotonic()
        if now - self.last_broadcast > 1:
            self.last_broadcast = now
            broadcast_project_event(self.job.project_id, "import.progress", {"job": self.job.pk, **self.state})

    def beat(self) -> None:
        try:
            cache.set(_heartbeat_key(self.job.pk), {"at": time.time(), **self.state},
                      timeout=settings.STEPWISE_IMPORT_STALE_SECONDS * 10)
        except Exception:  # a missed beat only risks a re-run, which the import survives (it is idempotent)
            log.warning("import job %s: heartbeat not written", self.job.pk, exc_info=True)

    def run(self) -> None:
        while not self.finished.wait(settings.STEPWISE_IMPORT_HEARTBEAT_SECONDS):
            self.beat()


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued job. Safe to run twice: only the run that moves it from queued to running imports."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now())
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if claimed != 1:
        return job
    heartbeat = _Heartbeat(job)
    heartbeat.beat()
    heartbeat.start()
    try:
        with job.file.open("rb") as handle:
            result = chains_import(project=job.project, data=handle, fmt=job.format, filename=job.filename,
                                   progress=heartbeat.progress, update_labels=job.update_labels, import_job_id=job.pk)
    except FileRefused as refused:
        errors = [e.as_dict() for e in refused.errors]
        if refused.more:
            errors.append({"line": 0, "field": "", "message": f"... and {refused.more} more problem(s)"})
        _finish(job, ImportStatus.FAILED, errors=errors)
    except ValidationFailed as exc:
        _finish(job, ImportStatus.FAILED, errors=[RowError(0, exc.field, exc.message).as_dict()])
    except Exception as exc:
        log.exception("import job %s failed", job_id)
        _finish(job, ImportStatus.FAILED, errors=[RowError(0, "", f"the import failed unexpectedly "
                                                                  f"({type(exc).__name__}: {str(exc)[:300]}); nothing "
                                                                  "was written. The details are in the server log."
                                                          ).as_dict()])
    else:
        _finish(job, ImportStatus.DONE, result=result.as_dict())
    finally:
        heartbeat.finished.set()
        cache.delete(_heartbeat_key(job.pk))
    return job


def _finish(job: ImportJob, status: str, *, result: dict | None = None, errors: list | None = None) -> None:
    job.status, job.result, job.errors, job.finished_at = status, result or {}, errors or [], timezone.now()
    with transaction.atomic():
        finished = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
            status=status, result=job.result, errors=job.errors, finished_at=job.finished_at)
        if finished:
            counts = {k: v for k, v in job.result.items() if isinstance(v, int)}
            audit_record(action=f"import.{status}", actor=job.created_by, project=job.project, obj=job,
                         detail={"filename": job.filename, "size": job.size, "format": job.format,
                                 "update_labels": job.update_labels, **counts, "errors": len(job.errors)})
    broadcast_project_event(job.project_id, "import.finished", {"job": job.pk, "status": status})


def import_jobs_maintain(*, job_id: int | None = None) -> dict:
    """Recover stuck jobs, re-send undelivered ones, fail the abandoned, delete old files. Safe to run anywhere,
    any number of times at once (every change is a conditional update)."""
    now = timezone.now()
    done = {"requeued": 0, "resent": 0, "failed": 0, "files_deleted": 0}
    jobs = ImportJob.objects.filter(status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING])
    if job_id is not None:
        jobs = jobs.filter(pk=job_id)
    for job in jobs.only("id", "status", "attempts", "started_at", "created_at", "progress", "project_id"):
        if job.status == ImportStatus.RUNNING:
            beat = cache.get(_heartbeat_key(job.pk)) or {}
            last = beat.get("at") or (job.started_at.timestamp() if job.started_at else 0)
            if time.time() - last < settings.STEPWISE_IMPORT_STALE_SECONDS:
                continue
            if job.attempts >= ImportJob.MAX_ATTEMPTS:
                reason = (f"the worker running this import stopped {job.attempts} times (last seen "
                          f"{int(time.time() - last)} s ago); nothing was written. The file may need more memory than "
                          "the worker has: split it, or ask an admin to check the worker's log.")
                if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, attempts=job.attempts).update(
                        status=ImportStatus.FAILED, finished_at=now, errors=[RowError(0, "", reason).as_dict()]):
                    done["failed"] += 1
                continue
            if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, attempts=job.attempts).update(
                    status=ImportStatus.QUEUED):
                log.warning("import job %s: worker stopped (no heartbeat for %.0f s); queued again", job.pk,
                            time.time() - last)
                done["requeued"] += 1
                _enqueue(job.pk)
            continue
        waited = (now - job.created_at).total_seconds()
        if waited > settings.STEPWISE_IMPORT_QUEUE_TIMEOUT:
            reason = (f"no worker started this import within {settings.STEPWISE_IMPORT_QUEUE_TIMEOUT // 60} minutes; "
                      "nothing was written. Check that a Celery worker is running (make demo starts one), then "
                      "upload the file again.")
            if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED).update(
                    status=ImportStatus.FAILED, finished_at=now, errors=[RowError(0, "", reason).as_dict()]):
                done["failed"] += 1
            continue
        sent = (job.progress or {}).get("enqueued_at") or job.created_at.timestamp()
        if time.time() - sent > REQUEUE_SECONDS:
            done["resent"] += 1
            _enqueue(job.pk)
    if job_id is None:
        done["files_deleted"] = _delete_old_files(now)
    return done


def _delete_old_files(now) -> int:
    cutoff = now - timedelta(hours=settings.STEPWISE_IMPORT_RETENTION_HOURS)
    old = ImportJob.objects.filter(Q(status=ImportStatus.DONE) | Q(status=ImportStatus.FAILED),
                                   finished_at__lt=cutoff, file_deleted_at__isnull=True).exclude(file="")
    deleted = 0
    for job in old.only("id", "file")[:1000]:
        try:
            job.file.delete(save=False)
        except OSError:
            log.warning("import job %s: could not delete %s", job.pk, job.file.name, exc_info=True)
            continue
        ImportJob.objects.filter(pk=job.pk).update(file="", file_deleted_at=now)
        deleted += 1
    return deleted
