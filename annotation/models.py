"""The annotation app's tables: projects and roles, problems, chains and their steps, assignments and labels.

Invariants that must hold under concurrency are constraints here; services give the friendly messages.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

MAX_RATING = 100  # bounds any project scale; the scale itself says which values are allowed
# A month of active time on one chain: anything larger is a client bug (a timestamp sent as seconds),
# refused with a message, never stored.
MAX_ACTIVE_SECONDS = 30 * 24 * 3600


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
    SENTENCE = "sentence", "Sentences"


class AssignmentOrder(models.TextChoices):
    """Which unstarted chain a claim offers next (chains already started always come first)."""

    IN_ORDER = "in_order", "In order of import"
    RANDOM = "random", "Random"
    PRIORITY = "priority", "Highest priority first"


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    label_scale = models.CharField(max_length=16, choices=LabelScale.choices, default=LabelScale.TERNARY)
    overlap_k = models.PositiveSmallIntegerField(default=1, help_text="Annotators per chain.")
    segmentation = models.CharField(max_length=16, choices=Segmentation.choices, default=Segmentation.NEWLINE)
    # Share of claims served from gold and planted-error chains (quality control), 0 to 1.
    gold_share = models.FloatField(default=0.0)
    # Quality control (review/ sets it): the share of the screening chains' answer key a new annotator must
    # match before the queue gives real work (0: no gate, screening chains are only served first).
    screening_pass_mark = models.FloatField(default=0.0, db_default=0.0)
    # The label schema (annotation/schema.py): scale, mode, rubric, required fields. Empty means the
    # default for `label_scale` (PRM800K's −1 / 0 / +1, first-error mode).
    label_schema = models.JSONField(default=dict, blank=True)
    # The current guidelines are `guidelines`, published as GuidelineVersion number `guideline_version`
    # (0: never published). Each assignment records the version its annotator was shown.
    guideline_version = models.PositiveIntegerField(default=0)
    assignment_order = models.CharField(max_length=16, choices=AssignmentOrder.choices,
                                        default=AssignmentOrder.IN_ORDER)
    # An open assignment with no save for this long is expired and its chain slot freed (0: never).
    claim_timeout_minutes = models.PositiveIntegerField(default=24 * 60)
    show_reference_answer = models.BooleanField(default=True, help_text="Show problems' reference answers to "
                                                                        "annotators.")
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Archived: no claims, no imports.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # A site-level permission (granted in the app by a superuser): who may create projects.
        permissions = [("create_project", "Can create projects")]
        constraints = [
            models.CheckConstraint(condition=Q(overlap_k__gte=1), name="project_overlap_k_positive"),
            models.CheckConstraint(condition=Q(gold_share__gte=0, gold_share__lte=1), name="project_gold_share_0_1"),
            models.CheckConstraint(condition=Q(screening_pass_mark__gte=0, screening_pass_mark__lte=1),
                                   name="project_screening_pass_mark_0_1"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def schema(self) -> dict:
        from .schema import effective_schema  # pure module; here to keep models free of logic imports

        return effective_schema(self.label_schema, self.label_scale)

    @property
    def ratings(self) -> tuple[int, ...]:
        return tuple(level["value"] for level in self.schema["scale"])


class ScreeningStatus(models.TextChoices):
    """Where an annotator stands with the project's screening gate (`Project.screening_pass_mark`)."""

    PENDING = "", "Not scored yet"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Below the pass mark"
    WAIVED = "waived", "Let through by a researcher"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    # The screening gate: scored by the claim once the annotator has done every screening chain; a pass is
    # kept (later claims do not score again), a failure is scored again at each claim (a lowered mark or a
    # retry counts). Researchers waive it or reset it for a retry (review/adjudication.py).
    screening_status = models.CharField(max_length=8, choices=ScreeningStatus.choices, blank=True, default="",
                                        db_default="")
    screening_score = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_one_role_per_project")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class GuidelineVersion(models.Model):
    """A published text of a project's guidelines; never changed once written."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guideline_versions",
                                db_index=False)  # covered by the unique (project, number)
    number = models.PositiveIntegerField()
    text = models.TextField()
    note = models.CharField(max_length=200, blank=True, help_text="What changed, for the history.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="guideline_unique_number")]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.number}"


class Problem(models.Model):
    # No database-level foreign key: written in bulk by imports (see Chain).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="problems", db_constraint=False,
                                db_index=False)  # covered by the unique (project, statement_hash) below
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
    """One model's chain of thought for a problem. Its steps live in revisions (ChainRevision)."""

    # Chains, problems, revisions and imported label sets are written by the thousand per import, and
    # PostgreSQL checks a foreign key with one query per row (measured here: ~20 µs each, 4.8 s for
    # the 250,000 checks of a 50,000-chain import, against 4.2 s for the whole import's budget). So
    # these tables carry no database-level foreign keys; the import checks every reference with one
    # set-based query before it commits (annotation/services/imports.py), deletes cascade through the
    # ORM, and nothing else writes them in bulk.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="chains", db_constraint=False)
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="chains", db_constraint=False,
                                db_index=False)
    source_id = models.CharField(max_length=200, help_text="The id the chain had in its source file.")
    source_model = models.CharField(max_length=200, blank=True)
    final_answer = models.TextField(blank=True)
    raw_text = models.TextField(blank=True, help_text="Unsplit text, when the chain came as text.")
    segmentation = models.CharField(max_length=16, blank=True, help_text="How raw_text was split; blank if given as steps.")
    # sha256 over problem, steps and answer as imported: re-importing the same content is a no-op,
    # other content under the same id an error. Edits do not change it (it names the imported text).
    content_hash = models.CharField(max_length=64)
    # Quality control (review/): a gold chain's reference labels are its known answer; a planted chain is
    # a copy of another with one step altered on purpose ({"from_chain": id, "step_key": k, "rule": ...,
    # "original": text}); screening chains are what new annotators pass before real work. None of this
    # is ever shown to annotators.
    is_gold = models.BooleanField(default=False)
    is_screening = models.BooleanField(default=False)
    planted = models.JSONField(null=True, blank=True)
    # The current revision, by number, and its step count (kept with it by every edit).
    revision = models.PositiveIntegerField(default=1)
    step_count = models.PositiveIntegerField(default=0)
    # Step keys are a chain's own numbers: the import gives 0..n-1, every edit takes new ones from here.
    next_step_key = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    # Overlap slots held by annotator assignments (open or submitted), kept by every service that takes
    # or frees a slot, under the chain's row lock: the queue finds a chain with a free slot through the
    # index below instead of counting every chain's assignments (93-171 ms at 50,000 chains).
    # db_default: imports COPY chains without naming these columns.
    held_slots = models.PositiveSmallIntegerField(default=0, db_default=0)
    priority = models.IntegerField(default=0, db_default=0, help_text="Higher first, when the project's order is "
                                                                      "priority.")
    # Quality control (review/) escalation: a chain whose annotators disagree collects more passes than the
    # project's k, up to this many slots (null: k). Raised only under the chain's row lock (an UPDATE), never
    # lowered, so a claim's `held_slots < limit` under its lock holds.
    slot_limit = models.PositiveSmallIntegerField(null=True, blank=True)
    # When a reviewer last set final labels on the chain (review/ writes it with the decision): annotators
    # can no longer reopen their submitted passes.
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "source_id"], name="chain_unique_source_id"),
            models.CheckConstraint(condition=Q(next_step_key__gte=F("step_count")), name="chain_keys_cover_steps"),
        ]
        indexes = [
            models.Index(fields=["project", "id"], name="chain_project_id_idx"),
            # The queue: started chains first, then in order (or from a random id on).
            models.Index(fields=["project", "-held_slots", "id"], name="chain_queue_idx"),
            models.Index(fields=["project", "-priority", "-held_slots", "id"], name="chain_queue_priority_idx"),
            # Every claim first looks for a screening chain, then (with a gold share) a gold one, that the
            # annotator has not had: without these the look is a scan of the project (50-85 ms at 100,000
            # chains); with them it reads the few such chains there are.
            models.Index(fields=["project", "id"], condition=Q(is_screening=True), name="chain_screening_idx"),
            # Every claim first looks for an escalated chain with a slot still free: only those are in this
            # index (a comparison of two columns of the row), so the look reads a handful of entries however
            # many chains were escalated and filled before.
            models.Index(fields=["project", "id"], condition=Q(slot_limit__gt=F("held_slots")),
                         name="chain_escalated_free_idx"),
            models.Index(fields=["project", "id"], condition=Q(is_gold=True) | Q(planted__isnull=False),
                         name="chain_gold_idx"),
            # The chain list's "id starts with" search (LIKE 'q%' needs pattern ops under a non-C collation;
            # an ILIKE '%q%' scan took 130 ms at 100,000 chains). Ignored on SQLite.
            models.Index(fields=["project", "source_id"], opclasses=["int8_ops", "text_pattern_ops"],
                         name="chain_source_id_prefix_idx"),
            # The chain list's "problem contains" search finds problems through their trigram index (migration
            # 0008, PostgreSQL) and then their chains through this one: 1.5 ms for a word in 0.1% of 100,000
            # problems, against 62 ms for the hash join over every chain of the project without it.
            models.Index(fields=["problem"], name="chain_problem_idx"),
        ]

    def __str__(self) -> str:
        return self.source_id


class RevisionKind(models.TextChoices):
    IMPORT = "import", "Imported"
    SPLIT = "split", "Step split"
    MERGE = "merge", "Steps merged"
    REWORD = "reword", "Step reworded"
    INSERT = "insert", "Step inserted"
    DELETE = "delete", "Step deleted"
    RESEGMENT = "resegment", "Re-segmented"


class ChainRevision(models.Model):
    """An ordered list of a chain's steps, immutable once written.

    A step is named by its key (a number of the chain's own) and its text never changes: an edit
    makes a new revision whose `step_keys` reuse every unchanged key and whose `texts` hold only the
    steps it introduced (keys `first_new_key` onwards). Labels, first-error marks, candidates,
    critiques point at keys, so they always refer to the text they judged, and a one-step edit
    writes one row whatever the chain's length. The step texts of the chain are the union of its
    revisions' `texts`; `annotation/steps.py` reads and writes them.
    """

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="revisions", db_constraint=False,
                              db_index=False)  # covered by the unique (chain, number) below
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=RevisionKind.choices, default=RevisionKind.IMPORT)
    # The step order as a packed array of keys (annotation/steps.py); NULL means 0..step_count-1,
    # what every import writes (so an import stores no key list at all).
    step_keys = models.BinaryField(null=True, blank=True)
    step_count = models.PositiveIntegerField()
    # The texts this revision introduced, keys first_new_key .. first_new_key + new_count - 1,
    # packed and compressed (annotation/steps.py), and their character spans in the chain's raw text
    # when they came from splitting it.
    first_new_key = models.PositiveIntegerField(default=0)
    new_count = models.PositiveIntegerField(default=0)
    texts = models.BinaryField(null=True, blank=True)
    spans = models.TextField(blank=True, help_text="JSON [[start, end], ...] in raw_text, or empty.")
    detail = models.JSONField(default=dict, blank=True, help_text="What the edit did, for the history.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "number"], name="revision_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="revision_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id} r{self.number}"


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"
    RELEASED = "released", "Released (annotator removed)"


OPEN_STATUSES = (AssignmentStatus.ASSIGNED, AssignmentStatus.IN_PROGRESS)


class Assignment(models.Model):
    """One annotator's pass over one chain, on the revision the annotator was shown."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="assignments")
    # The chain's project, copied here so that "one open assignment per annotator and project" is a
    # constraint (below) whatever the concurrency. Set by every claim; null only on rows written before it.
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                db_index=False)  # covered by the constraint and indexes below
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    # The guideline version the annotator was shown when claiming (0: the project had none).
    guideline_version = models.PositiveIntegerField(default=0)
    # An open assignment not saved by then is expired by the queue (null: never).
    expires_at = models.DateTimeField(null=True, blank=True)
    # The revision's number when the chain was claimed: the steps (by index) the labels refer to.
    revision = models.PositiveIntegerField(default=1)
    # Which of the project's k overlap slots this assignment holds; the unique constraint below is
    # what keeps a chain at k open-or-done assignments when annotators claim at the same moment.
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ASSIGNED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    active_seconds = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock: bumped by every write.")
    # The idempotency key of the last save that was stored: a save retried after its reply was lost
    # carries the same key and is answered with success instead of a conflict.
    last_save_key = models.CharField(max_length=64, blank=True)
    skip_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "annotator"], name="assignment_once_per_annotator"),
            models.UniqueConstraint(
                fields=["chain", "slot"], condition=Q(slot__isnull=False), name="assignment_unique_overlap_slot"
            ),
            models.CheckConstraint(condition=Q(active_seconds__lte=MAX_ACTIVE_SECONDS),
                                   name="assignment_active_seconds_bounded"),
            # Ten simultaneous claims by one annotator once left two open assignments: the claim retries
            # on this constraint and returns the one that won.
            models.UniqueConstraint(fields=["project", "annotator"], condition=Q(status__in=OPEN_STATUSES),
                                    name="assignment_one_open_per_project"),
        ]
        indexes = [
            models.Index(fields=["annotator", "status"], name="assignment_user_status_idx"),
            # The expiry sweep reads only open assignments past their time.
            models.Index(fields=["project", "expires_at"], condition=Q(status__in=OPEN_STATUSES),
                         name="assignment_open_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id} by {self.annotator_id}"


class FinishReason(models.TextChoices):
    SOLUTION = "solution", "Reached a correct solution"
    FOUND_ERROR = "found_error", "Found an error"
    BAD_PROBLEM = "bad_problem", "Problem is bad"
    GIVE_UP = "give_up", "Gave up"


class Annotation(models.Model):
    """The outcome of a submitted assignment."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="annotation")
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices)
    first_error_key = models.PositiveIntegerField(null=True, blank=True, help_text="Step key of the first wrong step.")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(finish_reason="found_error") | Q(first_error_key__isnull=False),
                name="annotation_found_error_has_step",
            )
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.finish_reason}"


class StepLabel(models.Model):
    """One annotator's judgement of one step (by key: the text it judged, whatever edits came later).

    Saves are sparse: a field the client did not send keeps its value (services/assignments.py).
    """

    # Covered by the unique (assignment, step_key) constraint.
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="labels", db_index=False)
    step_key = models.PositiveIntegerField()
    rating = models.SmallIntegerField(null=True, blank=True)
    unsure = models.BooleanField(default=False)
    flagged = models.BooleanField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    correction = models.TextField(blank=True, help_text="A better step, written by the annotator.")
    error_type = models.CharField(max_length=64, blank=True, help_text="From the project's rubric.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "step_key"], name="steplabel_once_per_step"),
            # The project's scale says which values are allowed; the database bounds them.
            models.CheckConstraint(condition=Q(rating__isnull=True) | Q(rating__gte=-MAX_RATING, rating__lte=MAX_RATING),
                                   name="steplabel_rating_range"),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}/{self.step_key}: {self.rating}"


class CandidateSource(models.TextChoices):
    MODEL = "model", "Model"
    HUMAN = "human", "Human"


class Candidate(models.Model):
    """An alternative offered at one step (production mode: the prefix is the steps before `step_key`)."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="candidates", db_index=False)
    step_key = models.PositiveIntegerField(help_text="The step this is an alternative to.")
    position = models.PositiveSmallIntegerField(help_text="Order among the step's candidates.")
    source = models.CharField(max_length=8, choices=CandidateSource.choices, default=CandidateSource.MODEL)
    source_model = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    rating = models.SmallIntegerField(null=True, blank=True)
    flagged = models.BooleanField(null=True, blank=True)
    chosen = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "step_key", "source", "position"],
                                    name="candidate_unique_position"),
            models.CheckConstraint(condition=Q(rating__isnull=True) | Q(rating__gte=-MAX_RATING, rating__lte=MAX_RATING),
                                   name="candidate_rating_range"),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}@{self.step_key}.{self.position}"


class ImportedLabelSet(models.Model):
    """Labels that came with imported data (ProcessBench experts, a PRM800K labeler): reference labels.

    Never an annotator's vote: kept apart from assignments, per import and source, and read whole.
    The arrays align with the steps of revision `revision` of the chain (the imported text).
    A changed label set for the same source comes in only with --update-labels: the old one is kept
    with `replaced_at` set, the new one is current.
    """

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="imported_labels",
                              db_constraint=False)  # see Chain: written per chain by imports
    import_job = models.ForeignKey("ImportJob", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="label_sets", db_constraint=False, db_index=False)
    source = models.CharField(max_length=120, help_text='"processbench", "prm800k:<labeler id>", ...')
    revision = models.PositiveIntegerField(default=1)
    # JSON arrays, one entry per step of the revision: ratings (int or null), flags (bool or null).
    ratings = models.TextField()
    flagged = models.TextField(blank=True)
    # Steps written by the labeler (PRM800K human_completion): JSON list of indexes, or empty.
    human_steps = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices)
    first_error_index = models.PositiveIntegerField(null=True, blank=True)
    # PRM800K alternatives per step and the source row's other fields, for a faithful re-export.
    candidates = models.TextField(blank=True)
    source_meta = models.TextField(blank=True)
    labels_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "source"], condition=Q(replaced_at__isnull=True),
                                    name="imported_labels_one_current_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id} by {self.source}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """One import (API upload or command line): its file, progress, result and the reason it failed.

    A job whose worker died mid-import is noticed by its stale heartbeat and run again (its
    transaction was rolled back with the connection), at most MAX_ATTEMPTS times.
    """

    MAX_ATTEMPTS = 3

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=16, default="auto")
    update_labels = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    # {"phase": "parse", "done": bytes read, "total": file size}, written every few seconds.
    progress = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="importjob_status_idx")]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.filename}): {self.status}"


class AuditEvent(models.Model):
    """Append-only record of what changed who may see or use what: imports, submissions, adjudications,
    releases, role changes, project creation (annotation/services/audit.py writes it; review writes its
    own actions through the same service). A PostgreSQL trigger refuses UPDATE and DELETE of these rows
    (migration 0005_hardening_audit), so not even a bug in our code can rewrite history.

    Actor and project are kept as ids and names, not foreign keys: the record outlives a deleted user
    or project.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    project_id = models.BigIntegerField(null=True, blank=True)
    project_slug = models.CharField(max_length=64, blank=True)
    # "<entity>.<verb>", e.g. import.done, assignment.submitted, membership.set, release.published.
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project_id", "-at"], name="auditevent_project_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.object_type} {self.object_id}"
