"""Tables of dataset releases and judge evaluations (imported by review/models.py).

A release is immutable once built: its files, their sha256 and the manifest never change; a new
release is a new version. Re-making it from its manifest must give the same bytes.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReleaseStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class LabelSource(models.TextChoices):
    ADJUDICATED = "adjudicated", "Adjudicated by a reviewer"
    CONSENSUS = "consensus", "Consensus of annotators"
    SINGLE = "single", "One annotator (the first to submit)"
    REFERENCE = "reference", "Reference labels that came with the data"


class DatasetRelease(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="releases")
    name = models.SlugField(max_length=100)
    version = models.CharField(max_length=32)
    description = models.TextField(blank=True)
    # label_source, min_agreement, min_label_sets, include_gold/screening/planted, test_fraction, seed,
    # neutral, formats: what the release was asked for (also in the manifest).
    filters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=ReleaseStatus.choices, default=ReleaseStatus.QUEUED)
    # {"done": chains read, "total": chains to read}; the live figure is in the cache while building.
    progress = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    # The release this one was re-made from (its manifest's selection), if any.
    remade_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="remakes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="release_unique_version"),
            models.CheckConstraint(condition=~Q(status="done") | ~Q(content_hash=""), name="release_done_has_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class ReleaseFile(models.Model):
    release = models.ForeignKey(DatasetRelease, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=200, help_text="Relative to the release's folder.")
    kind = models.CharField(max_length=32, help_text="A format name, or provenance / selection / card / manifest.")
    split = models.CharField(max_length=16, blank=True)
    rows = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "path"], name="releasefile_unique_path")]

    def __str__(self) -> str:
        return f"{self.release_id}/{self.path}"


class JudgeEvaluation(models.Model):
    """A judge's (critic, PRM, model) step judgements scored against a release's labels."""

    release = models.ForeignKey(DatasetRelease, on_delete=models.CASCADE, related_name="evaluations")
    judge = models.CharField(max_length=200, help_text="Which model, critic or PRM made the judgements.")
    split = models.CharField(max_length=16, default="test")
    predictions_sha256 = models.CharField(max_length=64)
    predictions = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.judge} on {self.release}"
