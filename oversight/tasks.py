"""Celery entry points of the oversight app (queue `oversight`): thin, take ids, safe to run twice."""

from celery import shared_task

from .services import runs_execute, runs_maintain
from .services.policies import policies_apply


@shared_task(acks_late=True)
def oversight_runs_execute_task(run_ids: list[int]) -> dict:
    return {run.pk: run.status for run in runs_execute(run_ids=run_ids)}


@shared_task
def oversight_policies_apply_task() -> dict:
    return policies_apply()


@shared_task
def oversight_runs_maintain_task() -> dict:
    return runs_maintain()
