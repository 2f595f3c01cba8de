from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the tasks: Celery's autodiscovery looks only for `review.tasks`.
        from . import quality_tasks, releases_tasks  # noqa: F401

        # What review knows about a chain becomes filters of annotation's chain list.
        from .chain_filters import register

        register()
