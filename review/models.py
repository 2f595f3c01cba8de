"""The review app's tables. Releases and judge evaluations live in releases_models.py."""

from .releases_models import DatasetRelease, JudgeEvaluation, LabelSource, ReleaseFile, ReleaseStatus  # noqa: F401
