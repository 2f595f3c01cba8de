"""Celery entry points of quality control: thin, take ids, safe to run twice."""

from celery import shared_task
from django.core.cache import cache

from annotation.models import Project

# quality_selectors is imported in the functions: it brings numpy, and every worker imports this module
# (Celery's task discovery) whether or not it ever computes a dashboard.

PENDING_SECONDS = 600  # one recomputation per project at a time; a lost task frees the slot after this


def _pending_key(project_id: int, resamples: int) -> str:
    return f"review:quality:pending:{project_id}:{resamples}"


@shared_task
def project_quality_refresh_task(project_id: int, resamples: int | None = None) -> bool:
    """Recompute a project's dashboard figures into the cache (nothing to do when they are current)."""
    from .quality_selectors import DEFAULT_RESAMPLES, project_quality

    resamples = DEFAULT_RESAMPLES if resamples is None else resamples
    try:
        project = Project.objects.filter(pk=project_id).first()
        if project is not None:
            project_quality(project=project, resamples=resamples)
        return project is not None
    finally:
        cache.delete(_pending_key(project_id, resamples))


def project_quality_for_page(*, project: Project, resamples: int | None = None) -> dict:
    """The figures to show now: current ones from the cache; else the last ones, marked stale, with a
    recomputation scheduled (once); computed here only the first time, when there are none at all."""
    from .quality_selectors import DEFAULT_RESAMPLES, project_quality, project_quality_latest

    resamples = DEFAULT_RESAMPLES if resamples is None else resamples
    result, fresh = project_quality_latest(project=project, resamples=resamples)
    if result is None:
        return project_quality(project=project, resamples=resamples)
    if not fresh:
        if cache.add(_pending_key(project.pk, resamples), 1, timeout=PENDING_SECONDS):
            project_quality_refresh_task.delay(project.pk, resamples)
        return {**result, "stale": True}
    return result


@shared_task
def review_queues_escalate_task() -> dict:
    """Celery beat: open the extra overlap slots of disagreeing chains in projects that escalate."""
    from .adjudication import review_queues_refresh_escalating

    return review_queues_refresh_escalating()
