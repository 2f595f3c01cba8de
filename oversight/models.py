"""The oversight app's tables: model backends, per-project policy and arms, runs of the passes and their
results, and what annotators said of them.

Every result points at a step by key (annotation's steps never change once written), and every run at
the chain revision it read, so a critique always refers to the exact text and context it judged.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Assignment, Chain, Project

MAX_TEXT = 20_000  # any model-written text stored here is cut to this many characters, saying so


class PassKind(models.TextChoices):
    SYMBOLIC = "symbolic", "Symbolic check"
    CRITIQUE = "critique", "Critique per step"
    DEBATE = "debate", "Debate about one step"


class Trigger(models.TextChoices):
    ON_IMPORT = "on_import", "On import (every new chain)"
    ON_DEMAND = "on_demand", "On demand (command line, API, the workspace)"
    ON_DISAGREEMENT = "on_disagreement", "When submitted annotators disagree"


class ModelBackend(models.Model):
    """One configured model behind an OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, llama.cpp)."""

    name = models.SlugField(max_length=64, unique=True)
    # Not a URLField: its validator refuses the bare host names of a cluster (http://vllm:8000/v1).
    base_url = models.CharField(max_length=500, help_text="Up to /v1, e.g. http://gpu-1:8000/v1.")
    model = models.CharField(max_length=200, help_text="The model id the server knows it by.")
    # The key itself never reaches the database: only the name of the variable that holds it.
    api_key_env = models.CharField(max_length=100, blank=True, help_text="Environment variable with the API key.")
    params = models.JSONField(default=dict, blank=True, help_text='Default parameters, e.g. {"temperature": 0}.')
    max_concurrency = models.PositiveSmallIntegerField(default=8)
    timeout_seconds = models.FloatField(default=120.0)
    structured_output = models.BooleanField(default=True, help_text="Send a JSON schema as response_format.")
    is_embedded = models.BooleanField(default=False, help_text="The small CPU stand-in (llama.cpp): not a judge.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(max_concurrency__gte=1, max_concurrency__lte=1024),
                                   name="backend_concurrency_1_1024"),
            models.CheckConstraint(condition=Q(timeout_seconds__gt=0, timeout_seconds__lte=3600),
                                   name="backend_timeout_bounded"),
        ]

    def __str__(self) -> str:
        return self.name


class OversightPolicy(models.Model):
    """Per project: which passes run when, on which backend, and which share of assignments sees them."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="oversight_policy")
    # {"symbolic": "on_import", "critique": "on_demand", ...}: a pass not listed does not run.
    passes = models.JSONField(default=dict, blank=True)
    backend = models.ForeignKey(ModelBackend, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Share of assignments drawn into the assisted arm (0: nobody sees assistance, 1: everybody).
    assisted_share = models.FloatField(default=1.0)
    debate_rounds = models.PositiveSmallIntegerField(default=3)
    debate_turn_chars = models.PositiveIntegerField(default=1200)
    debate_mode = models.CharField(max_length=16, default="sequential",
                                   choices=[("sequential", "Sequential"), ("simultaneous", "Simultaneous")])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(assisted_share__gte=0, assisted_share__lte=1),
                                   name="policy_assisted_share_0_1"),
            models.CheckConstraint(condition=Q(debate_rounds__gte=1, debate_rounds__lte=10), name="policy_rounds_1_10"),
            models.CheckConstraint(condition=Q(debate_turn_chars__gte=100, debate_turn_chars__lte=10_000),
                                   name="policy_turn_chars_bounded"),
        ]

    def __str__(self) -> str:
        return f"oversight policy of {self.project_id}"


class Arm(models.TextChoices):
    ASSISTED = "assisted", "Assisted"
    UNASSISTED = "unassisted", "Unassisted"


class AssignmentArm(models.Model):
    """The experiment arm of one assignment, drawn at random once and never changed."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="oversight_arm")
    arm = models.CharField(max_length=16, choices=Arm.choices)
    share = models.FloatField(help_text="The assisted share the draw used.")
    drawn_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.arm}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OversightRun(models.Model):
    """One pass over one chain revision (or one step of it, for a debate) with one backend and config.

    `cache_key` is a hash of chain, revision, pass, config and the backend's model: asking again for
    the same thing returns this run (unique), so a pass is done once and is safe to ask for twice.
    """

    MAX_ATTEMPTS = 3

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="oversight_runs")
    revision = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=PassKind.choices)
    backend = models.ForeignKey(ModelBackend, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    step_key = models.PositiveIntegerField(null=True, blank=True, help_text="The debated step (debates only).")
    config = models.JSONField(default=dict, blank=True)
    cache_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    malformed = models.PositiveIntegerField(default=0, help_text="Answers that could not be used (recorded).")
    error = models.TextField(blank=True)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Written at the claim and with every batch of results: a running run whose heartbeat stopped lost its
    # worker (runs_maintain takes it back to the queue, at most MAX_ATTEMPTS times).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["chain", "revision", "kind"], name="run_chain_revision_idx"),
                   models.Index(fields=["status"], name="run_status_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(kind="debate") | Q(step_key__isnull=False), name="run_debate_has_step"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.chain_id} r{self.revision}: {self.status}"


class Verdict(models.TextChoices):
    CORRECT = "correct", "Correct"
    INCORRECT = "incorrect", "Incorrect"
    UNSURE = "unsure", "Unsure"
    MALFORMED = "malformed", "Malformed answer"


class Critique(models.Model):
    """A model's verdict on one step of the run's revision."""

    run = models.ForeignKey(OversightRun, on_delete=models.CASCADE, related_name="critiques")
    step_key = models.PositiveIntegerField()
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    confidence = models.FloatField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    quote = models.TextField(blank=True, help_text="The span of the step the critique is about, as the model wrote it.")
    quote_verified = models.BooleanField(null=True, blank=True, help_text="The quote is found verbatim in the step.")
    raw = models.TextField(blank=True, help_text="The unusable answer, for a malformed verdict.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "step_key"], name="critique_once_per_step"),
            models.CheckConstraint(condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                                   name="critique_confidence_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.step_key}: {self.verdict}"


class SymbolicCheck(models.Model):
    """The symbolic checker's summary of one step (only steps with at least one equality are stored)."""

    run = models.ForeignKey(OversightRun, on_delete=models.CASCADE, related_name="symbolic_checks")
    step_key = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16)  # mismatch / abstain (never "correct": see oversight/symbolic)
    # [{expression, outcome, lhs, rhs, detail, rule, start, end}, ...] per equality.
    findings = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "step_key"], name="symbolic_once_per_step")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.step_key}: {self.outcome}"


class DebateSide(models.TextChoices):
    CORRECT = "correct", "Argues the step is correct"
    INCORRECT = "incorrect", "Argues the step is incorrect"


class DebateTurn(models.Model):
    run = models.ForeignKey(OversightRun, on_delete=models.CASCADE, related_name="debate_turns")
    round = models.PositiveSmallIntegerField()
    side = models.CharField(max_length=16, choices=DebateSide.choices)
    text = models.TextField(blank=True)
    # [{"text": quote, "verified": bool}]: verified means found verbatim in the problem or the chain.
    quotes = models.JSONField(default=list)
    malformed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "round", "side"], name="debate_turn_once")]

    def __str__(self) -> str:
        return f"{self.run_id} round {self.round} {self.side}"


class DebateVerdict(models.Model):
    """The judge's decision on a debate: a person (annotator, reviewer) or a model (judge_model set)."""

    run = models.ForeignKey(OversightRun, on_delete=models.CASCADE, related_name="verdicts")
    judge = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="+")
    judge_model = models.CharField(max_length=200, blank=True)
    verdict = models.CharField(max_length=16, choices=[("correct", "Correct"), ("incorrect", "Incorrect")])
    credence = models.FloatField(help_text="The judge's probability that the verdict is right, 0.5 to 1.")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "judge"], condition=Q(judge__isnull=False),
                                    name="debate_verdict_once_per_person"),
            models.CheckConstraint(condition=Q(judge__isnull=False) | ~Q(judge_model=""), name="debate_verdict_has_judge"),
            models.CheckConstraint(condition=Q(credence__gte=0.5, credence__lte=1), name="debate_credence_half_1"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.verdict} ({self.credence})"


class Usefulness(models.TextChoices):
    HELPFUL = "helpful", "Helpful"
    NITPICK = "nitpick", "Nitpick"
    WRONG = "wrong", "Wrong"


class AssistanceRating(models.Model):
    """An annotator's judgement of a critique (or a symbolic check) shown in their assignment."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="assistance_ratings")
    critique = models.ForeignKey(Critique, null=True, blank=True, on_delete=models.CASCADE, related_name="ratings")
    symbolic_check = models.ForeignKey(SymbolicCheck, null=True, blank=True, on_delete=models.CASCADE, related_name="ratings")
    rating = models.CharField(max_length=16, choices=Usefulness.choices, blank=True)
    dismissed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "critique"], condition=Q(critique__isnull=False),
                                    name="rating_once_per_critique"),
            models.UniqueConstraint(fields=["assignment", "symbolic_check"], condition=Q(symbolic_check__isnull=False),
                                    name="rating_once_per_check"),
            models.CheckConstraint(condition=Q(critique__isnull=True) ^ Q(symbolic_check__isnull=True),
                                   name="rating_one_target"),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.rating or '-'}{' dismissed' if self.dismissed else ''}"
