from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Celery's autodiscovery looks for `review.tasks`; quality control's tasks live beside it.
        from . import quality_tasks  # noqa: F401
