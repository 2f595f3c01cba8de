"""Celery entry points of the annotation app: thin, take ids, safe to run twice."""

from celery import shared_task

from .services.import_jobs import import_job_run, import_jobs_maintain


@shared_task(acks_late=True)
def import_job_run_task(job_id: int) -> str:
    return import_job_run(job_id=job_id).status


@shared_task
def import_jobs_maintain_task() -> dict:
    return import_jobs_maintain()
