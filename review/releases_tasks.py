"""Celery entry points of releases: thin, take ids, safe to run twice; on the `exports` queue."""

from celery import shared_task

from .releases import release_build


# Named into review.tasks.* so CELERY_TASK_ROUTES sends it to the `exports` queue.
@shared_task(name="review.tasks.release_build_task", acks_late=True)
def release_build_task(release_id: int) -> str:
    return release_build(release_id=release_id).status
