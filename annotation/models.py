"""The annotation app's tables: projects and roles, problems, chains and their steps, assignments and labels.

Invariants that must hold under concurrency are constraints here; services give the friendly messages.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    RESEARCHER = "researcher", "Researcher"
    ADMIN = "admin", "Admin"


class LabelScale(models.TextChoices):
    # PRM800K's scale: -1 wrong, 0 neutral (reasonable but not helpful), +1 good.
    TERNARY = "ternary", "−1 / 0 / +1 (PRM800K)"
    BINARY = "binary", "−1 / +1"


class Segmentation(models.TextChoices):
    """How raw `text` is split into steps on import (recorded on every chain split this way)."""

    NEWLINE = "newline", "Each non-empty line is a step"
    BLANK_LINE = "blank_line", "Paragraphs separated by blank lines"
    STEP_MARKER = "step_marker", '"Step N:" markers'


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    label_scale = models.CharField(max_length=16, choices=LabelScale.choices, default=LabelScale.TERNARY)
    overlap_k = models.PositiveSmallIntegerField(default=1, help_text="Annotators per chain.")
    segmentation = models.CharField(max_length=16, choices=Segmentation.choices, default=Segmentation.NEWLINE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(overlap_k__gte=1), name="project_overlap_k_positive")]

    def __str__(self) -> str:
        return self.slug

    @property
    def ratings(self) -> tuple[int, ...]:
        return (-1, 0, 1) if self.label_scale == LabelScale.TERNARY else (-1, 1)


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_one_role_per_project")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Problem(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="problems")
    statement = models.TextField()
    # sha256 of the statement: chains of one problem share it (PRM800K has many rows per problem).
    statement_hash = models.CharField(max_length=64)
    reference_answer = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=100, blank=True, help_text="Where it came from, e.g. processbench/gsm8k.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "statement_hash"], name="problem_unique_statement_in_project")
        ]

    def __str__(self) -> str:
        return self.statement[:60]


class Chain(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="chains")
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="chains")
    source_id = models.CharField(max_length=200, help_text="The id the chain had in its source file.")
    source_model = models.CharField(max_length=200, blank=True)
    final_answer = models.TextField(blank=True)
    raw_text = models.TextField(blank=True, help_text="Unsplit text, when the chain came as text.")
    segmentation = models.CharField(max_length=16, blank=True, help_text="How raw_text was split; blank if given as steps.")
    # sha256 over problem, steps and answer: re-importing the same content is a no-op, other content an error.
    content_hash = models.CharField(max_length=64)
    step_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "source_id"], name="chain_unique_source_id")]
        indexes = [models.Index(fields=["project", "id"], name="chain_project_id_idx")]

    def __str__(self) -> str:
        return self.source_id


class Step(models.Model):
    # No index of its own: (chain, version, index) below starts with chain, and every index costs the
    # import a write per step (millions for a large file).
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="steps", db_index=False)
    # Re-segmentation makes a new version; labels point at a step row, never at text that changed.
    version = models.PositiveSmallIntegerField(default=1)
    index = models.PositiveIntegerField()
    text = models.TextField()
    char_start = models.PositiveIntegerField(null=True, blank=True)
    char_end = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "version", "index"], name="step_unique_index_in_version")
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}#{self.index}"


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


OPEN_STATUSES = (AssignmentStatus.ASSIGNED, AssignmentStatus.IN_PROGRESS)


class Assignment(models.Model):
    """One annotator's (or one imported source's) pass over one chain."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments"
    )
    # Labels that arrived with imported data: "processbench", "prm800k:<labeler id>". Exactly one of
    # annotator / external_source is set.
    external_source = models.CharField(max_length=120, blank=True)
    # Which of the project's k overlap slots this assignment holds; the unique constraint below is
    # what keeps a chain at k open-or-done assignments when annotators claim at the same moment.
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ASSIGNED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    active_seconds = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock: bumped by every write.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(annotator__isnull=False) & Q(external_source=""))
                | (Q(annotator__isnull=True) & ~Q(external_source="")),
                name="assignment_annotator_xor_external",
            ),
            models.UniqueConstraint(
                fields=["chain", "annotator"], condition=Q(annotator__isnull=False), name="assignment_once_per_annotator"
            ),
            models.UniqueConstraint(
                fields=["chain", "external_source"],
                condition=~Q(external_source=""),
                name="assignment_once_per_external_source",
            ),
            models.UniqueConstraint(
                fields=["chain", "slot"], condition=Q(slot__isnull=False), name="assignment_unique_overlap_slot"
            ),
        ]
        indexes = [models.Index(fields=["annotator", "status"], name="assignment_user_status_idx")]

    def __str__(self) -> str:
        return f"{self.chain_id} by {self.annotator_id or self.external_source}"

    @property
    def attributed_to(self) -> str:
        return self.external_source or (self.annotator.get_username() if self.annotator else "")


class FinishReason(models.TextChoices):
    SOLUTION = "solution", "Reached a correct solution"
    FOUND_ERROR = "found_error", "Found an error"
    BAD_PROBLEM = "bad_problem", "Problem is bad"
    GIVE_UP = "give_up", "Gave up"


class Annotation(models.Model):
    """The outcome of a submitted assignment."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="annotation")
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices)
    first_error_step = models.PositiveIntegerField(null=True, blank=True, help_text="0-based step index.")
    comment = models.TextField(blank=True)
    # Fields of the source row kept for a faithful re-export (PRM800K timestamp, flags, total_time...).
    source_meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(finish_reason="found_error") | Q(first_error_step__isnull=False),
                name="annotation_found_error_has_step",
            )
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.finish_reason}"


class StepLabel(models.Model):
    # Covered by the unique (assignment, step) constraint, as for Step.chain.
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="labels", db_index=False)
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="labels")
    rating = models.SmallIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    correction = models.TextField(blank=True, help_text="A better step, written by the annotator.")
    flagged = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "step"], name="steplabel_once_per_step"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=-1, rating__lte=1), name="steplabel_rating_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}/{self.step_id}: {self.rating}"


class CandidateSource(models.TextChoices):
    MODEL = "model", "Model"
    HUMAN = "human", "Human"


class Candidate(models.Model):
    """An alternative offered at one step (PRM800K phase-1 completions; later, production mode)."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="candidates", db_index=False)
    step_index = models.PositiveIntegerField(help_text="Position in the chain (prefix length).")
    position = models.PositiveSmallIntegerField(help_text="Order among the step's candidates.")
    source = models.CharField(max_length=8, choices=CandidateSource.choices, default=CandidateSource.MODEL)
    text = models.TextField()
    rating = models.SmallIntegerField(null=True, blank=True)
    flagged = models.BooleanField(null=True, blank=True)
    chosen = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "step_index", "source", "position"], name="candidate_unique_position"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=-1, rating__lte=1), name="candidate_rating_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}@{self.step_index}.{self.position}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """An import through the API: the uploaded file, its progress and its result."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    file = models.FileField(upload_to="imports/%Y/%m/")
    filename = models.CharField(max_length=255)
    format = models.CharField(max_length=16, default="auto")
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} ({self.filename}): {self.status}"
