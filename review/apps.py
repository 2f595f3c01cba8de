from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import releases_tasks  # noqa: F401  (registers the tasks; Celery discovers only tasks.py)
