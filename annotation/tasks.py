"""Celery entry points of the annotation app: thin, take ids, safe to run twice."""

from celery import shared_task

from .services.import_jobs import import_job_run, import_jobs_maintain
from .services.queue import assignments_expire


@shared_task(acks_late=True)
def import_job_run_task(job_id: int) -> str:
    return import_job_run(job_id=job_id).status


@shared_task
def import_jobs_maintain_task() -> dict:
    return import_jobs_maintain()


@shared_task
def assignments_expire_task() -> int:
    """Expire stale claims of every project (claims also sweep their own project first)."""
    return assignments_expire()
