from rest_framework import serializers

from ..chain_filters import chain_filters
from ..formats.parse import FORMATS
from ..models import MAX_ACTIVE_SECONDS, MAX_RATING, Assignment, FinishReason, ImportJob, Project, Role
from ..selectors import CHAIN_FLAGS
from ..services import LabelInput


class ProjectOutput(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["slug", "name", "guidelines", "label_scale", "overlap_k", "segmentation", "created_at"]


class ProjectCreateInput(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, default="")
    guidelines = serializers.CharField(required=False, default="", allow_blank=True)
    overlap_k = serializers.IntegerField(min_value=1, max_value=50, default=1)
    label_scale = serializers.CharField(required=False, default="ternary")
    segmentation = serializers.CharField(required=False, default="newline")


class ImportCreateInput(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=("auto", *FORMATS), default="auto")
    update_labels = serializers.BooleanField(default=False, help_text="Add changed labels of known chains as new "
                                                                      "label sets instead of refusing the file.")


class ImportJobOutput(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    live = serializers.SerializerMethodField(help_text="The running job's last heartbeat: phase, bytes done, total.")

    class Meta:
        model = ImportJob
        fields = ["id", "project", "filename", "size", "format", "update_labels", "status", "attempts", "progress",
                  "live", "result", "errors", "created_at", "started_at", "finished_at"]

    def get_live(self, job) -> dict:
        return self.context.get("live", {})


class LabelInputSerializer(serializers.Serializer):
    """One step's label; every field but `step` is optional and a field not sent keeps its value."""

    step = serializers.IntegerField(min_value=0, help_text="0-based index of the step in the assignment's revision.")
    rating = serializers.IntegerField(min_value=-MAX_RATING, max_value=MAX_RATING, allow_null=True, required=False)
    unsure = serializers.BooleanField(required=False)
    flagged = serializers.BooleanField(required=False, allow_null=True)
    rationale = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=20000)
    correction = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=20000)
    error_type = serializers.CharField(required=False, allow_blank=True, max_length=64)


class LabelsSaveInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    labels = LabelInputSerializer(many=True, max_length=20000)
    active_seconds = serializers.IntegerField(min_value=0, max_value=MAX_ACTIVE_SECONDS, required=False,
                                              allow_null=True, default=None)
    save_key = serializers.CharField(required=False, default="", allow_blank=True, max_length=64,
                                     help_text="Idempotency key: a retry of a save that was stored is answered "
                                               "as stored, not as a conflict.")


class SaveOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    active_seconds = serializers.IntegerField()
    saved = serializers.IntegerField()
    replayed = serializers.BooleanField()


class SubmitInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    finish_reason = serializers.ChoiceField(choices=FinishReason.choices)
    labels = LabelInputSerializer(many=True, required=False, default=list, max_length=20000)
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=20000)
    active_seconds = serializers.IntegerField(min_value=0, max_value=MAX_ACTIVE_SECONDS, required=False,
                                              allow_null=True, default=None)
    save_key = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)


class SkipInput(serializers.Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


def to_labels(items: list[dict]) -> list[LabelInput]:
    return [LabelInput(**item) for item in items]


class StepOutput(serializers.Serializer):
    index = serializers.IntegerField()
    key = serializers.IntegerField(help_text="The step's key: stable across edits of the chain.")
    text = serializers.CharField()


class StepLabelOutput(serializers.Serializer):
    step = serializers.IntegerField()
    key = serializers.IntegerField()
    rating = serializers.IntegerField(allow_null=True)
    unsure = serializers.BooleanField()
    flagged = serializers.BooleanField(allow_null=True)
    rationale = serializers.CharField()
    correction = serializers.CharField()
    error_type = serializers.CharField()


class AssignmentOutput(serializers.ModelSerializer):
    """An assignment with the steps its annotator was shown and every field of its labels.

    Build with context {"steps": Steps, "labels": [...]} (selectors.assignment_steps / assignment_labels).
    """

    project = serializers.CharField(source="chain.project.slug")
    chain = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    finish_reason = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "project", "status", "version", "revision", "active_seconds", "created_at", "submitted_at",
                  "chain", "labels", "finish_reason"]

    def get_chain(self, assignment) -> dict:
        chain = assignment.chain
        steps = self.context["steps"]
        return {"id": chain.source_id, "problem": chain.problem.statement, "source_model": chain.source_model,
                "revision": steps.revision, "step_count": len(steps),
                "steps": [{"index": i, "key": key, "text": text}
                          for i, (key, text) in enumerate(zip(steps.keys, steps.texts, strict=True))]}

    def get_labels(self, assignment) -> list[dict]:
        return self.context["labels"]

    def get_finish_reason(self, assignment) -> str | None:
        annotation = getattr(assignment, "annotation", None)
        return annotation.finish_reason if annotation else None


class AssignmentSummaryOutput(serializers.ModelSerializer):
    chain = serializers.CharField(source="chain.source_id")

    class Meta:
        model = Assignment
        fields = ["id", "chain", "status", "version", "revision", "created_at", "submitted_at"]


class ChainEditInput(serializers.Serializer):
    OPS = ("split", "merge", "reword", "insert", "delete", "resegment")
    op = serializers.ChoiceField(choices=OPS)
    revision = serializers.IntegerField(min_value=1, help_text="The revision you edited (optimistic lock).")
    index = serializers.IntegerField(min_value=0, required=False, default=0)
    at = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None,
                                  help_text="split: the character of the step to split at.")
    texts = serializers.ListField(child=serializers.CharField(trim_whitespace=False), required=False,
                                  allow_null=True, default=None, max_length=1000, help_text="split: the new steps.")
    text = serializers.CharField(required=False, default="", trim_whitespace=False, allow_blank=True)
    count = serializers.IntegerField(min_value=2, max_value=1000, required=False, default=2)
    separator = serializers.CharField(required=False, default=" ", trim_whitespace=False, allow_blank=True,
                                      max_length=10)
    mode = serializers.CharField(required=False, default="")


# --- authoring ---------------------------------------------------------------------------------------

class ProjectDetailOutput(serializers.ModelSerializer):
    label_schema = serializers.JSONField(source="schema", help_text="The effective schema (defaults filled in).")

    class Meta:
        model = Project
        fields = ["slug", "name", "guidelines", "guideline_version", "label_scale", "label_schema", "overlap_k",
                  "segmentation", "assignment_order", "claim_timeout_minutes", "show_reference_answer",
                  "gold_share", "archived_at", "created_at"]


class ProjectCreateForUserInput(ProjectCreateInput):
    copy_from = serializers.SlugField(required=False, default="", allow_blank=True,
                                      help_text="Copy settings, schema and guidelines of this project of yours.")


class ProjectUpdateInput(serializers.Serializer):
    """Only the settings sent change."""

    name = serializers.CharField(max_length=200, required=False)
    overlap_k = serializers.IntegerField(min_value=1, max_value=50, required=False)
    segmentation = serializers.CharField(required=False)
    assignment_order = serializers.CharField(required=False)
    claim_timeout_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 90, required=False,
                                                     help_text="0: claims never expire.")
    show_reference_answer = serializers.BooleanField(required=False)
    gold_share = serializers.FloatField(min_value=0, max_value=1, required=False)


class ArchiveInput(serializers.Serializer):
    archived = serializers.BooleanField(default=True)


class SchemaInput(serializers.Serializer):
    label_schema = serializers.JSONField(help_text="scale, mode, error_types, require, finish_reasons, allow_reopen; "
                                                   "a key left out keeps its default.")


class GuidelinesInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=200_000)
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class GuidelinesPreviewInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=200_000)


class SegmentationPreviewInput(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, max_length=100_000)
    mode = serializers.ChoiceField(choices=("", "newline", "blank_line", "step_marker", "sentence"), required=False,
                                   default="", help_text="One strategy, or empty for all of them.")


class MemberAddInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=[r.value for r in Role])
    create = serializers.BooleanField(default=False, help_text="Create the account if it does not exist.")
    password = serializers.CharField(required=False, default="", allow_blank=True, max_length=128,
                                     help_text="For a new account; empty: one is generated and answered once.")
    email = serializers.EmailField(required=False, default="", allow_blank=True)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=[r.value for r in Role])


class MemberOutput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    open = serializers.IntegerField()
    submitted = serializers.IntegerField()
    submitted_last_24h = serializers.IntegerField(help_text="Their pace: passes submitted in the last 24 hours.")
    dropped = serializers.IntegerField(help_text="Skipped, expired or released.")
    seconds_per_chain = serializers.IntegerField(allow_null=True)
    last_submitted_at = serializers.DateTimeField(allow_null=True)


class ImportPreviewInput(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=("auto", *FORMATS), default="auto")


# Named in SPECTACULAR_SETTINGS' ENUM_NAME_OVERRIDES (the blank choice is not part of the enum's name).
QUEUE_STATUS_NAMES = ("unstarted", "open", "full")
CHAIN_QUEUE_STATUSES = ("", *QUEUE_STATUS_NAMES)
CHAIN_FLAG_CHOICES = ("", *CHAIN_FLAGS)


MIN_SEARCH = 3  # a trigram index finds text of 3 characters or more; shorter would read every problem


def _choice_error(what: str, choices) -> dict:
    values = ", ".join(str(c) for c in choices if c != "")
    return {"invalid_choice": f'"{{input}}" is not {what}; use one of {values} (or leave it out for any).'}


class ChainListInput(serializers.Serializer):
    """The chain list's filters: its own, then those other apps registered (annotation/chain_filters.py).

    A parameter the list does not know is refused (a misspelt filter would otherwise list every chain as
    if it matched)."""

    source_model = serializers.CharField(required=False, default="", allow_blank=True, max_length=200,
                                         help_text="The model that wrote the chain, exactly.")
    status = serializers.ChoiceField(choices=CHAIN_QUEUE_STATUSES, required=False, default="",
                                     help_text="unstarted: no slot held; open: started, slots free; full: all k held.",
                                     error_messages=_choice_error("a queue status", CHAIN_QUEUE_STATUSES))
    flag = serializers.ChoiceField(choices=CHAIN_FLAG_CHOICES, required=False, default="",
                                   help_text="The chain's own marks: gold, planted error, screening, steps edited.",
                                   error_messages=_choice_error("a chain flag", CHAIN_FLAG_CHOICES))
    q = serializers.CharField(required=False, default="", allow_blank=True, max_length=200,
                              help_text="The start of the chain's id (case-sensitive).")
    text = serializers.CharField(required=False, default="", allow_blank=True, max_length=200, trim_whitespace=True,
                                 help_text=f"Text the problem statement contains, case-insensitive; at least "
                                           f"{MIN_SEARCH} characters.")
    after = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0,
                                     help_text="The last id of the previous page.")

    def get_fields(self):
        fields = super().get_fields()
        for spec in chain_filters():
            if spec.is_number:
                fields[spec.name] = serializers.FloatField(
                    required=False, allow_null=True, default=None, min_value=spec.minimum, max_value=spec.maximum,
                    help_text=spec.help)
            else:
                values = ("", *(value for value, _meaning in spec.choices))
                meanings = "; ".join(f"{value}: {meaning}" for value, meaning in spec.choices)
                fields[spec.name] = serializers.ChoiceField(
                    choices=values, required=False, default="", help_text=f"{spec.help} ({meanings})",
                    error_messages=_choice_error(f"a value of {spec.name}", values))
        return fields

    def validate_text(self, value: str) -> str:
        if value and len(value) < MIN_SEARCH:
            raise serializers.ValidationError(
                f"Search for at least {MIN_SEARCH} characters (got {value!r}): shorter text matches nearly every "
                "problem and cannot use the search index.")
        return value

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: [f"The chain list has no filter '{name}'; the filters are {', '.join(self.fields)}."]
                 for name in unknown})
        return attrs

    def selector_arguments(self) -> dict:
        """The validated filters as `chain_list_for_project`'s arguments (contributed ones under `contributed`)."""
        data = dict(self.validated_data)
        data["contributed"] = {spec.name: data.pop(spec.name) for spec in chain_filters() if spec.name in data}
        return data


class ChainRowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    source_id = serializers.CharField()
    source_model = serializers.CharField()
    step_count = serializers.IntegerField()
    revision = serializers.IntegerField()
    held_slots = serializers.IntegerField()
    is_gold = serializers.BooleanField()
    is_screening = serializers.BooleanField()
    priority = serializers.IntegerField()


class AuditEventOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name")
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    detail = serializers.JSONField()
